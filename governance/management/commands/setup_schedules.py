"""manage.py setup_schedules — declares every periodic task; idempotent, run on every deploy."""

from __future__ import annotations

from django.core.management.base import BaseCommand
from django_q.models import Schedule

#: name -> (task, minutes between runs)
SCHEDULES: dict[str, tuple[str, int]] = {
    "recover membership changes": ("provisioning.tasks.recover_membership_changes", 1),
    "expire due grants": ("governance.tasks.run_expiry_timer", 1),
    "warn before expiry": ("governance.tasks.send_expiry_warnings", 1),
    "follow up approvals": ("governance.tasks.follow_up_approvals", 15),
    "send due Jira updates": ("governance.tasks.sweep_jira_updates", 1),
    "send due messages": ("governance.tasks.sweep_messages", 1),
    "sync directories and detect drift": ("governance.tasks.sync_directories_and_detect_drift", 60),
    "lifecycle: joiners, movers, leavers": ("governance.tasks.run_lifecycle", 5),
    "remind reviewers": ("reviews.campaigns.tasks.send_review_reminders", 60 * 24),
    "escalate overdue reviews": ("reviews.campaigns.tasks.escalate_reviews", 60),
    "close due review campaigns": ("reviews.campaigns.tasks.close_due_campaigns", 15),
    "confirm review removals": ("reviews.campaigns.tasks.confirm_campaign_removals", 5),
    "sync review and reclaim Jira tickets": ("reviews.campaigns.tasks.sync_jira_tickets", 1),
    "reclaim inactive access": ("reviews.reclaim.tasks.run_reclaim_sweep", 60 * 24),
    "verify the audit chain": ("governance.tasks.verify_audit_chain", 60),
    "publish the catalog to Jira": ("governance.tasks.publish_jira_catalog", 60),
}


class Command(BaseCommand):
    help = "Create or update the periodic task schedules (safe to run repeatedly)."

    def handle(self, *args, **options) -> None:
        for name, (func, minutes) in SCHEDULES.items():
            _, created = Schedule.objects.update_or_create(
                name=name,
                defaults={"func": func, "schedule_type": Schedule.MINUTES, "minutes": minutes, "repeats": -1},
            )
            self.stdout.write(f"{'created' if created else 'updated'}: {name} (every {minutes} min)")
