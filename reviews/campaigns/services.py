"""Review campaigns, the public services: launch, decide, submit (executes revokes), follow-through,
removal confirmation. Each is one business action in one transaction with its audit event; the
code lives in the topic modules imported here."""

from reviews.campaigns.decisions import bulk_decide, decide_item, reviewer_items, submit_review
from reviews.campaigns.execution import confirm_manual_removal, confirm_removals, execute_revoke
from reviews.campaigns.followthrough import (
    close_campaign,
    close_due_campaigns,
    escalate_overdue,
    move_to_reviewer,
    send_reminders,
)
from reviews.campaigns.launch import launch_campaign, link_max_age_days, read_review_link, review_link, tell_reviewer

__all__ = [
    "bulk_decide",
    "close_campaign",
    "close_due_campaigns",
    "confirm_manual_removal",
    "confirm_removals",
    "decide_item",
    "escalate_overdue",
    "execute_revoke",
    "launch_campaign",
    "link_max_age_days",
    "move_to_reviewer",
    "read_review_link",
    "review_link",
    "reviewer_items",
    "send_reminders",
    "submit_review",
    "tell_reviewer",
]
