"""Auto Reclaim: the Jira case ticket for people whose access has no Jira issue of its own.

Opening queues the issue (governance.jira.tickets) in the warning's transaction;
`sync_case_tickets` copies the key back once Jira answered.
"""

from __future__ import annotations

from governance.jira.tickets import open_ticket, sync_ticket_keys
from governance.services import Actor
from reviews.models import ReclaimCase

TicketStatus = ReclaimCase.TicketStatus


def open_case_ticket(case: ReclaimCase) -> ReclaimCase:
    """Queue a Jira issue for this case, once (call inside the transaction that warns)."""
    if case.ticket_status:
        return case
    _, update = open_ticket(
        summary=f"Auto Reclaim: {case.person.name} <{case.person.email}> inactive in {case.application.name}",
        description=(
            f"Gatehouse found no activity by {case.person.email} in {case.application.name} since "
            f"{case.last_activity_at.isoformat() if case.last_activity_at else 'unknown'}.\n"
            f"They were warned; the access is removed after "
            f"{case.revoke_after.isoformat() if case.revoke_after else '-'} unless they use it again."
        ),
        action="reclaim.ticket_requested",
        message=f"A Jira issue is to be opened for reclaim case #{case.pk} ({case.person.email}, "
        f"{case.application.name}).",
        actor=Actor.system("auto-reclaim"),
        grant=case.grant,
        subject=case.person,
        data={"case": case.pk, "application": case.application.slug},
    )
    case.ticket_status = TicketStatus.TO_OPEN
    ReclaimCase.objects.filter(pk=case.pk, ticket_status="").update(
        ticket_status=case.ticket_status, ticket_update=update
    )
    case.ticket_update = update
    return case


def _opened(case: ReclaimCase, key: str) -> None:
    ReclaimCase.objects.filter(pk=case.pk, ticket_key="").update(ticket_key=key, ticket_status=TicketStatus.OPENED)


def sync_case_tickets() -> int:
    """Copy the keys of created issues onto their cases."""
    return sync_ticket_keys(ReclaimCase.objects.filter(ticket_status=TicketStatus.TO_OPEN), _opened)
