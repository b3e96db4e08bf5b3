"""django-q2 entry points for review campaigns (thin: ids in, one service call). Schedules are
declared by the lead's deploy-time command: send_review_reminders (daily), escalate_reviews (hourly),
close_due_campaigns (every few minutes), confirm_campaign_removals (every few minutes, no argument),
launch_recurring_reviews (hourly, on the long cluster)."""

from __future__ import annotations

from reviews.campaigns import recurring
from reviews.campaigns import services as campaigns


def confirm_campaign_removals(campaign_id: int | None = None) -> int:
    return campaigns.confirm_removals(campaign_id=campaign_id)


def send_review_reminders() -> int:
    return campaigns.send_reminders()


def escalate_reviews() -> int:
    return campaigns.escalate_overdue()


def close_due_campaigns() -> int:
    return campaigns.close_due_campaigns()


def launch_recurring_reviews() -> int:
    return recurring.launch_due_templates()


def sync_jira_tickets() -> int:
    """Copy the keys of Jira issues created for review removals and reclaim cases; resolve confirmed ones."""
    from reviews.campaigns.tickets import sync_removal_tickets
    from reviews.reclaim.tickets import sync_case_tickets

    return sync_removal_tickets() + sync_case_tickets()
