"""Send queued Jira updates: claimed with a conditional update, retried with backoff that honours
Jira's Retry-After, swept when abandoned, and exactly-once for comments.

Exactly-once: every comment is created with the comment property `gatehouse = {"update": <row id>}`.
A row whose earlier attempt may have reached Jira (a timeout, a crash after the POST) first lists
the issue's comments with their properties and, if its marker is there, records that comment
instead of posting a second one.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from governance.audit.services import Actor, record
from governance.errors import Conflict
from governance.jira.client import JiraClient, JiraError, JiraRetryableError, TransitionNotFound
from governance.jira.queue import SEND_TASK, jira_config, queue_issue_creation
from governance.jira.state import PROPERTY_KEY, issue_property
from governance.models import AccessRequest, JiraUpdate

logger = logging.getLogger(__name__)

U = JiraUpdate
ORDER_WAIT = timedelta(seconds=5)

__all__ = ["queue_issue_creation", "retry_update", "send_update", "sweep_updates"]


def _config(key: str) -> Any:
    return settings.JIRA[key]


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    seconds = min(_config("BACKOFF_SECONDS") * (2 ** max(attempts - 1, 0)), _config("BACKOFF_MAX_SECONDS"))
    if retry_after is not None:
        seconds = max(seconds, retry_after)
    return timedelta(seconds=seconds)


def _claim(update_id: int) -> JiraUpdate | None:
    """Take the row for this worker; None when it is not due or another worker has it."""
    now = timezone.now()
    claimed = U.objects.filter(id=update_id, status=U.Status.QUEUED, next_attempt_at__lte=now).update(
        status=U.Status.SENDING, claimed_at=now, attempts=F("attempts") + 1
    )
    return U.objects.get(id=update_id) if claimed else None


def _finish(update: JiraUpdate, **fields: Any) -> bool:
    """Conditional update: False when the row was taken over (lease expired) meanwhile."""
    updated = U.objects.filter(id=update.id, status=U.Status.SENDING, claimed_at=update.claimed_at).update(
        updated_at=timezone.now(), **fields
    )
    for name, value in fields.items():
        setattr(update, name, value)
    return bool(updated)


def _earlier_open(update: JiraUpdate) -> JiraUpdate | None:
    """Comments and transitions of one issue go out in the order they were queued."""
    if update.kind in (U.Kind.PROPERTY, U.Kind.CREATE_ISSUE, U.Kind.PUBLISH_CATALOG):
        return None
    return (
        U.objects.filter(issue_key=update.issue_key, status__in=U.OPEN, id__lt=update.id)
        .exclude(kind=U.Kind.PROPERTY)
        .order_by("id")
        .first()
    )


def _release(update: JiraUpdate, *, until, error: str) -> None:
    """Give the row back without counting an attempt."""
    _finish(update, status=U.Status.QUEUED, attempts=update.attempts - 1, next_attempt_at=until, last_error=error)


def send_update(update_id: int) -> JiraUpdate | None:
    """Send one queued update to Jira. Safe to call twice: the second call does nothing.
    Network I/O happens outside any transaction."""
    update = _claim(update_id)
    if update is None:
        return None
    config = jira_config()
    if config is None:
        _release(update, until=timezone.now() + timedelta(minutes=5), error="Jira is not configured; waiting")
        return update
    earlier = _earlier_open(update)
    if earlier is not None:
        until = max(timezone.now() + ORDER_WAIT, earlier.next_attempt_at + timedelta(seconds=1))
        _release(update, until=until, error=f"waiting for earlier update #{earlier.pk} to the same issue")
        return update
    try:
        with JiraClient(config) as client:
            result = SENDERS[update.kind](client, update)
    except TransitionNotFound as error:
        return _record_missing_transition(update, error)
    except JiraError as error:
        return _record_failure(update, error)
    except Exception as error:
        logger.exception("Jira update %s raised", update.pk)
        return _record_failure(update, JiraRetryableError(f"unexpected error: {error!r}"))
    _finish(update, status=U.Status.SENT, sent_at=timezone.now(), result=result, last_error="")
    return update


# -- one sender per kind --------------------------------------------------------------------


def _marker(update: JiraUpdate) -> dict[str, Any]:
    return {"update": update.pk, "event": update.audit_event_id}


def _already_posted(client: JiraClient, update: JiraUpdate) -> dict | None:
    for comment in client.list_comments(update.issue_key, with_properties=True):
        for prop in comment.get("properties") or []:
            if prop.get("key") == PROPERTY_KEY and (prop.get("value") or {}).get("update") == update.pk:
                return comment
    return None


def _send_comment(client: JiraClient, update: JiraUpdate) -> dict:
    if update.attempts > 1 or update.last_error:  # an earlier attempt may have reached Jira: look first
        existing = _already_posted(client, update)
        if existing is not None:
            logger.info("Jira update %s: comment %s was already posted", update.pk, existing.get("id"))
            return {"comment_id": existing.get("id"), "found_existing": True}
    comment = client.add_comment(update.issue_key, update.payload["body"], properties={PROPERTY_KEY: _marker(update)})
    return {"comment_id": (comment or {}).get("id")}


def _send_property(client: JiraClient, update: JiraUpdate) -> dict:
    request = AccessRequest.objects.filter(jira_issue_key=update.issue_key).first()
    if request is None:
        raise JiraError(f"No access request for {update.issue_key} any more; nothing to write.")
    value = issue_property(request)
    U.objects.filter(id=update.id).update(payload={**update.payload, "value": value})
    created = client.set_issue_property(update.issue_key, PROPERTY_KEY, value)
    return {"created": created, "status": value["status"]}


def _send_transition(client: JiraClient, update: JiraUpdate) -> dict:
    done = client.transition(update.issue_key, update.payload["transition"])
    return {"transition_id": str(done.get("id")), "to": (done.get("to") or {}).get("name")}


def _send_create_issue(client: JiraClient, update: JiraUpdate) -> dict:
    issue = update.payload["issue"]
    created = client.create_issue(
        project_key=issue["project_key"],
        summary=issue["summary"],
        description=issue.get("description"),
        issue_type=issue.get("issue_type") or "Task",
        properties={PROPERTY_KEY: _marker(update)},
    )
    U.objects.filter(id=update.id).update(issue_key=created.get("key", ""))
    update.issue_key = created.get("key", "")
    return {"id": created.get("id"), "key": created.get("key"), "self": created.get("self")}


def _send_catalog(client: JiraClient, update: JiraUpdate) -> dict:
    from governance.jira.catalog_field import publish

    return {"changes": publish(client)}


SENDERS = {
    U.Kind.COMMENT: _send_comment,
    U.Kind.PROPERTY: _send_property,
    U.Kind.TRANSITION: _send_transition,
    U.Kind.CREATE_ISSUE: _send_create_issue,
    U.Kind.PUBLISH_CATALOG: _send_catalog,
}


# -- outcomes -------------------------------------------------------------------------------


def _record_failure(update: JiraUpdate, error: JiraError) -> JiraUpdate:
    now = timezone.now()
    message = str(error)[:2000]
    if error.retryable and update.attempts < _config("MAX_ATTEMPTS"):
        retry_at = now + _backoff(update.attempts, error.retry_after)
        if _finish(update, status=U.Status.QUEUED, next_attempt_at=retry_at, last_error=message):
            logger.info("Jira update %s will be retried at %s: %s", update.pk, retry_at.isoformat(), message)
        return update
    suffix = f"gave up after {update.attempts} attempts" if error.retryable else "permanent: not retried"
    _finish(update, status=U.Status.FAILED, last_error=f"{message} ({suffix})")
    logger.warning("Jira update %s failed: %s", update.pk, update.last_error)
    return update


def _record_missing_transition(update: JiraUpdate, error: TransitionNotFound) -> JiraUpdate:
    """Logged and audited, never fatal: the workflow may simply not have that transition."""
    logger.warning("Jira update %s: %s", update.pk, error)
    request = AccessRequest.objects.filter(jira_issue_key=update.issue_key).first()
    with transaction.atomic():
        if _finish(update, status=U.Status.FAILED, last_error=f"{error} (not retried)"):
            record(
                "jira.transition_missing",
                f"Jira issue {update.issue_key} has no transition {update.payload.get('transition')!r}; "
                "its status was left as it is.",
                actor=Actor.system("jira"),
                request=request,
                data={
                    "update": update.pk,
                    "transition": update.payload.get("transition"),
                    "available": error.available,
                },
            )
    return update


def retry_update(*, update: JiraUpdate) -> JiraUpdate:
    """Send a failed or waiting update now (IT's "retry now" in the admin); a failed one starts
    its attempts afresh. Sending or sent updates are refused."""
    if update.status not in (U.Status.FAILED, U.Status.QUEUED):
        raise Conflict(f"Only failed or queued Jira updates can be retried; this one is {update.status}.")
    fields: dict[str, Any] = {"status": U.Status.QUEUED, "next_attempt_at": timezone.now()}
    if update.status == U.Status.FAILED:
        fields["attempts"] = 0
    if not U.objects.filter(id=update.id, status=update.status).update(**fields):
        raise Conflict("This Jira update changed meanwhile; reload and try again.")
    update.refresh_from_db()
    transaction.on_commit(lambda: async_task(SEND_TASK, update.pk))
    return update


def sweep_updates(*, limit: int = 1000) -> dict[str, int]:
    """The periodic sweep: free rows whose worker died, and enqueue every due row, oldest first."""
    now = timezone.now()
    lease = timedelta(seconds=_config("LEASE_SECONDS"))
    reclaimed = U.objects.filter(status=U.Status.SENDING, claimed_at__lt=now - lease).update(
        status=U.Status.QUEUED, next_attempt_at=now, last_error="worker stopped mid-way; retried", updated_at=now
    )
    due = list(
        U.objects.filter(status=U.Status.QUEUED, next_attempt_at__lte=now)
        .order_by("id")
        .values_list("id", flat=True)[:limit]
    )
    for update_id in due:
        async_task(SEND_TASK, update_id)
    return {"reclaimed": reclaimed, "enqueued": len(due)}
