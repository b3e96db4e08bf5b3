"""Jira issues that document an action Gatehouse took (a review's removal, an Auto Reclaim case).

One service for every such ticket: the audit event and the queued "create issue" call are written in
the caller's transaction; once Jira has answered, `sync_ticket_keys` copies the new key back onto
the row that asked (any model with `ticket_key` and `ticket_update` fields).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Model, QuerySet

from governance.audit.services import Actor, record_many
from governance.jira.queue import plain_doc, queue_issue_creations, queue_transition
from governance.models import AuditEvent, JiraUpdate


@dataclass(frozen=True)
class Ticket:
    """One issue to open: what it says, and the audit event that records the request for it
    (`audit` holds the other keyword arguments of `record`: grant, subject, data)."""

    summary: str
    description: str
    action: str
    message: str
    audit: dict[str, Any] = field(default_factory=dict)


def open_tickets(tickets: list[Ticket], *, actor: Actor) -> list[tuple[AuditEvent, JiraUpdate | None]]:
    """Record each ticket's action and queue its issue (JIRA_TICKETS project; no issue when no project
    is set), for the whole list in a fixed number of queries."""
    events = record_many(
        [{"action": ticket.action, "message": ticket.message, **ticket.audit} for ticket in tickets], actor=actor
    )
    project = settings.JIRA_TICKETS["PROJECT"]
    if not project:
        return [(event, None) for event in events]
    issue_type = settings.JIRA_TICKETS["ISSUE_TYPE"]
    updates = queue_issue_creations(
        [
            (
                {
                    "project_key": project,
                    "summary": ticket.summary,
                    "description": plain_doc(ticket.description),
                    "issue_type": issue_type,
                },
                event,
            )
            for ticket, event in zip(tickets, events, strict=True)
        ]
    )
    return list(zip(events, updates, strict=True))


def open_ticket(
    *, summary: str, description: str, action: str, message: str, actor: Actor, **audit: Any
) -> tuple[AuditEvent, JiraUpdate | None]:
    """`open_tickets` for one ticket."""
    return open_tickets([Ticket(summary, description, action, message, audit)], actor=actor)[0]


def resolve_ticket(issue_key: str, *, event: AuditEvent) -> JiraUpdate | None:
    """Queue the JIRA_TICKETS resolve transition on a ticket that exists."""
    return queue_transition(issue_key=issue_key, transition=settings.JIRA_TICKETS["RESOLVE_TRANSITION"], event=event)


def sync_ticket_keys(waiting: QuerySet, on_created: Callable[[Model, str], Any]) -> int:
    """For each row of `waiting` whose issue Jira has created, call `on_created(row, issue key)`
    in a transaction of its own. Returns how many rows were handled."""
    created = waiting.filter(ticket_key="", ticket_update__status=JiraUpdate.Status.SENT).select_related(
        "ticket_update"
    )
    count = 0
    for row in created:
        with transaction.atomic():
            on_created(row, row.ticket_update.issue_key)
        count += 1
    return count
