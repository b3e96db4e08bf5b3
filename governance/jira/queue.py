"""Enqueue Jira write-back in the transaction of the audit event it comes from.

Called by `governance.services.audit.record()` for every event; does nothing unless Jira is
configured and the event's request has a Jira issue key. Rows are sent after commit by
`governance.jira.services.send_update` (see there for retries and exactly-once comments).
"""

from __future__ import annotations

import logging

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django_q.tasks import async_task

from governance.jira.adf import render_event
from governance.jira.client import JiraConfig
from governance.jira.state import PROPERTY_KEY
from governance.models import AccessRequest, AuditEvent, JiraUpdate

logger = logging.getLogger(__name__)

SEND_TASK = "governance.tasks.send_jira_update"
# Events that change what the issue property shows (coalesced: one queued row per issue).
PROPERTY_PREFIXES = ("request.", "step.", "grant.", "membership.", "fulfilment.", "emergency.", "review.", "reclaim.")
# Events whose name maps to a Gatehouse status that JIRA_TRANSITIONS may name a transition for.
TRANSITION_EVENTS = {f"request.{s}": s for s in AccessRequest.Status.values} | {
    "grant.expired": "expired",
    "grant.revoked": "revoked",
}
U = JiraUpdate


def jira_config() -> JiraConfig | None:
    """The Jira connection settings, or None when write-back is off or incomplete."""
    if not getattr(settings, "JIRA_ENABLED", False):
        return None
    base_url, email, token = settings.JIRA_BASE_URL, settings.JIRA_EMAIL, settings.JIRA_API_TOKEN
    if not (base_url and email and token):
        return None
    return JiraConfig(base_url=base_url, email=email, api_token=token, timeout=settings.JIRA["TIMEOUT_SECONDS"])


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
    update = U.objects.create(
        kind=kind, issue_key=issue_key, payload=payload, audit_event=event, next_attempt_at=timezone.now()
    )
    transaction.on_commit(lambda: async_task(SEND_TASK, update.pk))
    return update


def _enqueue(event: AuditEvent, issue_key: str) -> None:
    body = render_event(event)
    if body is not None:
        _create(U.Kind.COMMENT, issue_key, {"body": body, "event": event.action}, event)
    transition = transition_for(event.action)
    if transition:
        _create(U.Kind.TRANSITION, issue_key, {"transition": transition, "event": event.action}, event)
    # Coalesce: the property is rebuilt from the database when sent, so one queued row is enough.
    payload = {"key": PROPERTY_KEY, "event": event.action}
    coalesced = U.objects.filter(issue_key=issue_key, kind=U.Kind.PROPERTY, status=U.Status.QUEUED).update(
        payload=payload, audit_event=event
    )
    if not coalesced:
        _create(U.Kind.PROPERTY, issue_key, payload, event)


def queue_issue_creation(
    *, project_key: str, summary: str, description: dict | None = None, issue_type: str = "Task", event=None
) -> JiraUpdate | None:
    """Queue a new Jira issue (e.g. a revocation from a review); None when Jira is not configured."""
    if jira_config() is None:
        return None
    issue = {"project_key": project_key, "summary": summary, "description": description, "issue_type": issue_type}
    return _create(U.Kind.CREATE_ISSUE, "", {"issue": issue}, event)


def queue_comment(*, issue_key: str, body: dict, event: AuditEvent | None = None) -> JiraUpdate | None:
    """Queue a comment on any issue (e.g. an HR offboarding issue); None when Jira is off."""
    if jira_config() is None or not issue_key:
        return None
    return _create(U.Kind.COMMENT, issue_key, {"body": body, "event": event.action if event else ""}, event)


def queue_transition(*, issue_key: str, transition: str, event: AuditEvent | None = None) -> JiraUpdate | None:
    """Queue a named transition on any issue (e.g. resolving a removal ticket); None when Jira is off."""
    if jira_config() is None or not issue_key or not transition:
        return None
    return _create(U.Kind.TRANSITION, issue_key, {"transition": transition, "event": "ticket.resolve"}, event)


def plain_doc(text: str) -> dict:
    """An ADF document with one paragraph per line of `text`."""
    from governance.jira.adf import doc, paragraph

    return doc(*(paragraph(line) for line in text.splitlines() if line.strip()))
