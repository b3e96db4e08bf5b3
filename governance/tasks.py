"""django-q2 entry points for governance (thin: ids in, one service call)."""

from __future__ import annotations

from catalog.models import Person
from governance import services
from governance.jira import services as jira
from governance.models import ApprovalStep
from governance.notifications import services as notifications


def expire_grant(grant_id: int) -> str:
    grant = services.expire_grant(grant_id)
    return "expired" if grant else "not due"


def send_messages(message_ids: list[int]) -> int:
    return notifications.send_messages(message_ids)


def sweep_messages() -> dict[str, int]:
    return notifications.sweep_messages()


def send_approval_email(step_id: int, person_id: int, reason: str) -> None:
    """A task queued by an earlier version: becomes an outbox message."""
    step = ApprovalStep.objects.get(pk=step_id)
    notifications.approvers_asked(step, reason=reason, people=[Person.objects.get(pk=person_id)])


def follow_up_approvals() -> dict[str, int]:
    from governance.requests.followup import follow_up_approvals as follow_up

    return follow_up()


def send_email(address: str, subject: str, body: str) -> None:
    """A task queued by an earlier version: becomes an outbox message."""
    notifications.notify_person(Person(email=address), subject=subject, body=body)


def expire_due_grants() -> int:
    """The minute sweep under the expiry timer process: ends every grant already due, then returns."""
    return services.expire_due_grants()


def send_expiry_warnings() -> int:
    from governance.grants.expiry import send_expiry_warnings as send

    return send()


def send_jira_update(update_id: int) -> str:
    update = jira.send_update(update_id)
    return "not due or already taken" if update is None else update.status


def send_jira_updates(update_ids: list[int]) -> int:
    return len(jira.jira_outbox.deliver(update_ids))


def sweep_jira_updates() -> dict[str, int]:
    return jira.sweep_updates()


def sync_directories_and_detect_drift() -> dict:
    """The scheduled directory sync, then drift detection for each connector that synced cleanly.

    Lives in governance because drift needs grants; provisioning's sync never imports governance.
    """
    from governance.drift.services import detect_drift
    from governance.lifecycle.services import run_lifecycle as lifecycle
    from provisioning.sync.services import sync_all_directories

    result = {}
    failed = []
    for run in sync_all_directories():
        if run.status == run.Status.SUCCEEDED:
            result[run.connector] = vars(detect_drift(connector=run.connector))
        else:
            failed.append(run.connector)
            result[run.connector] = {"sync": run.status, "error": run.error}
    # Joiners, movers and leavers, from what the syncs that succeeded believe.
    result["lifecycle"] = lifecycle(skip_directories=failed).line()
    return result


def run_lifecycle() -> str:
    """The lifecycle pass on its own (the local directory; scheduled offboardings; confirmations)."""
    from governance.lifecycle.services import run_lifecycle as lifecycle

    return lifecycle().line()


def verify_audit_chain() -> str:
    """The periodic verification of the audit log's hash chain (alerts IT on a break)."""
    from governance.audit.chain import verify_and_record

    result = verify_and_record()
    return "intact" if result.broken is None else f"broken at {result.broken}"


def publish_jira_catalog() -> str:
    """Hourly: queue a publication of the catalog to the request form's cascading field."""
    from governance.jira.catalog_field import queue_publication

    update = queue_publication()
    return f"queued Jira update {update.pk}" if update else "catalog field not configured"


def prune_task_results() -> int:
    """Every 10 minutes: keep the GATEHOUSE_TASK_RESULTS_KEPT most recent successful tasks."""
    from django.conf import settings

    from lib.task_results import prune_successes

    return prune_successes(settings.GATEHOUSE["TASK_RESULTS_KEPT"])
