"""Auto Reclaim: the Jira case ticket for people whose access has no Jira issue of its own.

Opening queues the issue (governance.jira.tickets) in the warning's transaction;
`sync_case_tickets` copies the key back once Jira answered.
"""

from __future__ import annotations

from governance.jira.tickets import Ticket, open_tickets, sync_ticket_keys
from governance.services import Actor
from reviews.models import ReclaimCase

TicketStatus = ReclaimCase.TicketStatus


def _ticket(case: ReclaimCase) -> Ticket:
    return Ticket(
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
        audit={
            "grant": case.grant,
            "subject": case.person,
            "data": {"case": case.pk, "application": case.application.slug},
        },
    )


def open_case_tickets(cases: list[ReclaimCase]) -> list[ReclaimCase]:
    """Queue a Jira issue for each case that has none yet, in a fixed number of queries (call inside
    the transaction that warns); returns the cases it queued."""
    cases = [case for case in cases if not case.ticket_status]
    if not cases:
        return []
    opened = open_tickets([_ticket(case) for case in cases], actor=Actor.system("auto-reclaim"))
    for case, (_, update) in zip(cases, opened, strict=True):
        case.ticket_status, case.ticket_update = TicketStatus.TO_OPEN, update
    ReclaimCase.objects.bulk_update(cases, ["ticket_status", "ticket_update"], batch_size=1000)
    return cases


def _opened(case: ReclaimCase, key: str) -> None:
    ReclaimCase.objects.filter(pk=case.pk, ticket_key="").update(ticket_key=key, ticket_status=TicketStatus.OPENED)


def sync_case_tickets() -> int:
    """Copy the keys of created issues onto their cases."""
    return sync_ticket_keys(ReclaimCase.objects.filter(ticket_status=TicketStatus.TO_OPEN), _opened)
