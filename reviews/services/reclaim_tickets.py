"""Auto Reclaim: the Jira case ticket for people whose access has no Jira issue of its own.

For now this marks the case "to open" and records it; the Jira write-back queue picks such cases
up once it is wired here (one function, so wiring it is one change).
"""

from __future__ import annotations

from governance.services import Actor, record
from reviews.models import ReclaimCase


def open_case_ticket(case: ReclaimCase) -> ReclaimCase:
    """Ask for a Jira issue for this case (call inside the transaction that warns)."""
    if case.ticket_status:
        return case
    case.ticket_status = ReclaimCase.TicketStatus.TO_OPEN
    ReclaimCase.objects.filter(pk=case.pk, ticket_status="").update(ticket_status=case.ticket_status)
    record(
        "reclaim.ticket_requested",
        f"A Jira issue is to be opened for reclaim case #{case.pk} ({case.person.email}, {case.application.name}).",
        actor=Actor.system("auto-reclaim"),
        grant=case.grant,
        subject=case.person,
        data={"case": case.pk, "application": case.application.slug},
    )
    return case
