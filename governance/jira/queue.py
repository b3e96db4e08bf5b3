"""Enqueue Jira write-back in the transaction of the audit event it comes from.

Called by `governance.services.audit.record()` for every event; does nothing unless Jira is
configured and the event's request has a Jira issue key. Rows are sent after commit by
the Jira outbox (`governance.jira.services`) (see there for retries and exactly-once comments).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.jira.adf import doc, paragraph, render_event
from governance.jira.client import jira_config
from governance.jira.state import PROPERTY_KEY
from governance.models import AccessRequest, AuditEvent, JiraUpdate
from lib.outbox.engine import Outbox, Policy

logger = logging.getLogger(__name__)

# Events that change what the issue property shows (coalesced: one queued row per issue).
PROPERTY_PREFIXES = ("request.", "step.", "grant.", "membership.", "fulfilment.", "emergency.", "review.", "reclaim.")
# Events whose name maps to a Gatehouse status that JIRA_TRANSITIONS may name a transition for.
TRANSITION_EVENTS = {f"request.{s}": s for s in AccessRequest.Status.values} | {
    "grant.expired": "expired",
    "grant.revoked": "revoked",
}


class JiraQueue(Outbox[JiraUpdate]):
    """The Jira outbox as far as queueing needs it; `governance.jira.services.JiraOutbox` adds
    how to send one row."""

    model = JiraUpdate
    task = "governance.tasks.send_jira_updates"

    def policy(self) -> Policy:
        return Policy.from_settings(settings.JIRA, pending_seconds=settings.GATEHOUSE["OUTBOX_PENDING_SECONDS"])

    def stamp(self, now: datetime) -> dict[str, Any]:
        return {"updated_at": now}


jira_queue = JiraQueue()


def transition_for(action: str) -> str | None:
    status = TRANSITION_EVENTS.get(action)
    return (settings.JIRA_TRANSITIONS or {}).get(status) if status else None


def enqueue_for_event(event: AuditEvent) -> None:
    """Queue the comment, transition and property update `event` calls for. Never raises: a bug
    here must not undo the business change being recorded (a savepoint isolates it)."""
    request = event.request
    if request is None or not request.jira_issue_key or not event.action.startswith(PROPERTY_PREFIXES):
        return
    if jira_config() is None:
        return
    try:
        with transaction.atomic():
            _enqueue(event, request.jira_issue_key)
    except Exception:
        logger.exception("could not queue Jira write-back for audit event %s (%s)", event.pk, event.action)


def _create(kind: str, issue_key: str, payload: dict, event: AuditEvent | None) -> JiraUpdate:
    update = JiraUpdate.objects.create(
        kind=kind, issue_key=issue_key, payload=payload, audit_event=event, next_attempt_at=timezone.now()
    )
    jira_queue.enqueue([update.pk])
    return update


def _create_many(kind: str, rows: list[tuple[str, dict, AuditEvent | None]]) -> list[JiraUpdate]:
    """`_create` for many (issue key, payload, event) rows: one INSERT, one hand-over to the workers."""
    now = timezone.now()
    updates = JiraUpdate.objects.bulk_create(
        [
            JiraUpdate(kind=kind, issue_key=key, payload=payload, audit_event=event, next_attempt_at=now)
            for key, payload, event in rows
        ],
        batch_size=1000,
    )
    jira_queue.enqueue(update.pk for update in updates)
    return updates


def _enqueue(event: AuditEvent, issue_key: str) -> None:
    body = render_event(event)
    if body is not None:
        _create(JiraUpdate.Kind.COMMENT, issue_key, {"body": body, "event": event.action}, event)
    transition = transition_for(event.action)
    if transition:
        _create(JiraUpdate.Kind.TRANSITION, issue_key, {"transition": transition, "event": event.action}, event)
    # Coalesce: the property is rebuilt from the database when sent, so one queued row is enough.
    payload = {"key": PROPERTY_KEY, "event": event.action}
    queued_property = JiraUpdate.objects.filter(
        issue_key=issue_key, kind=JiraUpdate.Kind.PROPERTY, status=JiraUpdate.Status.QUEUED
    )
    coalesced = queued_property.update(payload=payload, audit_event=event)
    if not coalesced:
        _create(JiraUpdate.Kind.PROPERTY, issue_key, payload, event)


def queue_issue_creation(
    *,
    project_key: str,
    summary: str,
    description: dict | None = None,
    issue_type: str = "Task",
    event=None,
    extra: dict[str, Any] | None = None,
) -> JiraUpdate | None:
    """Queue a new Jira issue (e.g. a revocation from a review); None when Jira is not configured.
    `extra` goes into the row's payload (what the outcome hooks read)."""
    issue = {"project_key": project_key, "summary": summary, "description": description, "issue_type": issue_type}
    return queue_issue_creations([(issue, event)], extra=extra)[0]


def queue_issue_creations(
    issues: list[tuple[dict, AuditEvent | None]], *, extra: dict[str, Any] | None = None
) -> list[JiraUpdate | None]:
    """Queue many new issues (each a dict of project_key, summary, description, issue_type, and the
    audit event it documents) in one INSERT; all None when Jira is not configured."""
    if jira_config() is None:
        return [None] * len(issues)
    rows = [("", {"issue": issue, **(extra or {})}, event) for issue, event in issues]
    return list(_create_many(JiraUpdate.Kind.CREATE_ISSUE, rows))


def queue_service_desk_request(
    *,
    service_desk_id: str,
    request_type_id: str,
    summary: str,
    description: str,
    raise_on_behalf_of: str = "",
    event=None,
    extra: dict[str, Any] | None = None,
) -> JiraUpdate | None:
    """Queue a new Jira Service Management request; None when Jira is not configured."""
    if jira_config() is None:
        return None
    fields = {
        "service_desk_id": service_desk_id,
        "request_type_id": request_type_id,
        "summary": summary,
        "description": description,
        "raise_on_behalf_of": raise_on_behalf_of,
    }
    return _create(JiraUpdate.Kind.CREATE_REQUEST, "", {"service_desk": fields, **(extra or {})}, event)


def queue_comment(*, issue_key: str, body: dict, event: AuditEvent | None = None) -> JiraUpdate | None:
    """Queue a comment on any issue (e.g. an HR offboarding issue); None when Jira is off."""
    if jira_config() is None or not issue_key:
        return None
    return _create(JiraUpdate.Kind.COMMENT, issue_key, {"body": body, "event": event.action if event else ""}, event)


def queue_transition(*, issue_key: str, transition: str, event: AuditEvent | None = None) -> JiraUpdate | None:
    """Queue a named transition on any issue (e.g. resolving a removal ticket); None when Jira is off."""
    if jira_config() is None or not issue_key or not transition:
        return None
    return _create(JiraUpdate.Kind.TRANSITION, issue_key, {"transition": transition, "event": "ticket.resolve"}, event)


def plain_doc(text: str) -> dict:
    """An ADF document with one paragraph per line of `text`."""
    return doc(*(paragraph(line) for line in text.splitlines() if line.strip()))
