"""Auto Reclaim: the Jira case ticket for people whose access has no Jira issue of its own.

Opening queues a "create issue" call on Jira's outbound queue (governance.jira) in the warning's
transaction; `sync_case_tickets` copies the key back once Jira answered.
"""

from __future__ import annotations

from django.conf import settings

from governance.jira.queue import plain_doc, queue_issue_creation
from governance.models import JiraUpdate
from governance.services import Actor, record
from reviews.models import ReclaimCase


def open_case_ticket(case: ReclaimCase) -> ReclaimCase:
    """Queue a Jira issue for this case, once (call inside the transaction that warns)."""
    if case.ticket_status:
        return case
    summary = f"Auto Reclaim: {case.person.name} <{case.person.email}> inactive in {case.application.name}"
    description = (
        f"Gatehouse found no activity by {case.person.email} in {case.application.name} since "
        f"{case.last_activity_at.isoformat() if case.last_activity_at else 'unknown'}.\n"
        f"They were warned; the access is removed after {case.revoke_after.isoformat() if case.revoke_after else '-'} "
        "unless they use it again."
    )
    event = record(
        "reclaim.ticket_requested",
        f"A Jira issue is to be opened for reclaim case #{case.pk} ({case.person.email}, {case.application.name}).",
        actor=Actor.system("auto-reclaim"),
        grant=case.grant,
        subject=case.person,
        data={"case": case.pk, "application": case.application.slug},
    )
    project = settings.JIRA_TICKETS["PROJECT"]
    update = (
        queue_issue_creation(
            project_key=project,
            summary=summary,
            description=plain_doc(description),
            issue_type=settings.JIRA_TICKETS["ISSUE_TYPE"],
            event=event,
        )
        if project
        else None
    )
    case.ticket_status = ReclaimCase.TicketStatus.TO_OPEN
    ReclaimCase.objects.filter(pk=case.pk, ticket_status="").update(
        ticket_status=case.ticket_status, ticket_update=update
    )
    case.ticket_update = update
    return case


def sync_case_tickets() -> int:
    """Copy the keys of created issues onto their cases."""
    sent = ReclaimCase.objects.filter(
        ticket_status=ReclaimCase.TicketStatus.TO_OPEN, ticket_key="", ticket_update__status=JiraUpdate.Status.SENT
    ).select_related("ticket_update")
    count = 0
    for case in sent:
        count += ReclaimCase.objects.filter(pk=case.pk, ticket_key="").update(
            ticket_key=case.ticket_update.issue_key, ticket_status=ReclaimCase.TicketStatus.OPENED
        )
    return count
