"""Send queued Jira updates through the shared outbox engine (claim, lease, backoff honouring
Jira's Retry-After, sweep), with exactly-once comments.

Exactly-once: every comment is created with the comment property `gatehouse = {"update": <row id>}`.
A row whose earlier attempt may have reached Jira (a timeout, a crash after the POST) first lists
the issue's comments with their properties and, if its marker is there, records that comment
instead of posting a second one.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from governance.audit.services import Actor, record
from governance.errors import Conflict
from governance.jira import request_issues
from governance.jira.client import JiraClient, JiraError, TransitionNotFound, jira_config
from governance.jira.queue import JiraQueue
from governance.jira.state import PROPERTY_KEY, issue_property
from governance.models import AccessRequest, JiraUpdate
from lib.errors import DeliveryError
from lib.outbox.engine import Batch, RetryRefused
from lib.ratelimit.budget import RateBudget
from provisioning.outbox.budget import shared_budget

logger = logging.getLogger(__name__)

ORDER_WAIT = timedelta(seconds=5)

__all__ = ["jira_outbox", "retry_update", "send_update", "sweep_updates"]


class JiraOutbox(JiraQueue):
    """Perform one comment, property, transition or issue creation."""

    def wait_for(self, update: JiraUpdate) -> tuple[datetime, str] | None:
        if jira_config() is None:
            return timezone.now() + timedelta(minutes=5), "Jira is not configured; waiting"
        earlier = _earlier_open(update)
        if earlier is None:
            return None
        until = max(timezone.now() + ORDER_WAIT, earlier.next_attempt_at + timedelta(seconds=1))
        return until, f"waiting for earlier update #{earlier.pk} to the same issue"

    def rate_budget(self) -> RateBudget:
        return shared_budget()

    def rate_bucket(self, update: JiraUpdate) -> str:
        """Jira's limits are per user and site: one bucket, closed by a 429's Retry-After."""
        return "jira:rest"

    def perform(self, update: JiraUpdate, batch: Batch) -> dict:
        client = batch.resource("jira", lambda: JiraClient(jira_config()))
        return SENDERS[update.kind](client, update)

    def success_fields(self, update: JiraUpdate, result: Any, now: datetime) -> dict[str, Any]:
        return {"result": result}

    def succeeded(self, update: JiraUpdate, result: Any) -> None:
        if update.payload.get("request"):
            request_issues.issue_created(update)

    def failed(self, update: JiraUpdate, error: DeliveryError) -> None:
        if isinstance(error, TransitionNotFound):
            _record_missing_transition(update, error)
        if update.payload.get("request"):
            request_issues.issue_not_created(update, error)


jira_outbox = JiraOutbox()


def _earlier_open(update: JiraUpdate) -> JiraUpdate | None:
    """Comments and transitions of one issue go out in the order they were queued."""
    if update.kind in (
        JiraUpdate.Kind.PROPERTY,
        JiraUpdate.Kind.CREATE_ISSUE,
        JiraUpdate.Kind.CREATE_REQUEST,
        JiraUpdate.Kind.PUBLISH_CATALOG,
    ):
        return None
    return (
        JiraUpdate.objects.filter(issue_key=update.issue_key, status__in=JiraUpdate.OPEN, id__lt=update.id)
        .exclude(kind=JiraUpdate.Kind.PROPERTY)
        .order_by("id")
        .first()
    )


def send_update(update_id: int) -> JiraUpdate | None:
    """Send one queued update to Jira. Safe to call twice: the second call does nothing."""
    return jira_outbox.deliver_one(update_id)


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
    if update.attempts > 1 or update.last_error or update.maybe_applied:  # it may have reached Jira: look
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
    JiraUpdate.objects.filter(id=update.id).update(payload={**update.payload, "value": value})
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
    JiraUpdate.objects.filter(id=update.id).update(issue_key=created.get("key", ""))
    update.issue_key = created.get("key", "")
    return {"id": created.get("id"), "key": created.get("key"), "self": created.get("self")}


def _send_create_request(client: JiraClient, update: JiraUpdate) -> dict:
    fields = update.payload["service_desk"]
    created = client.create_customer_request(
        service_desk_id=fields["service_desk_id"],
        request_type_id=fields["request_type_id"],
        summary=fields["summary"],
        description=fields["description"],
        raise_on_behalf_of=fields.get("raise_on_behalf_of", ""),
    )
    key = (created or {}).get("issueKey", "")
    JiraUpdate.objects.filter(id=update.id).update(issue_key=key)
    update.issue_key = key
    return {"id": (created or {}).get("issueId"), "key": key, "web": ((created or {}).get("_links") or {}).get("web")}


def _send_catalog(client: JiraClient, update: JiraUpdate) -> dict:
    from governance.jira.catalog_field import publish

    return {"changes": publish(client)}


SENDERS = {
    JiraUpdate.Kind.COMMENT: _send_comment,
    JiraUpdate.Kind.PROPERTY: _send_property,
    JiraUpdate.Kind.TRANSITION: _send_transition,
    JiraUpdate.Kind.CREATE_ISSUE: _send_create_issue,
    JiraUpdate.Kind.CREATE_REQUEST: _send_create_request,
    JiraUpdate.Kind.PUBLISH_CATALOG: _send_catalog,
}


# -- outcomes -------------------------------------------------------------------------------


def _record_missing_transition(update: JiraUpdate, error: TransitionNotFound) -> None:
    """Audited, never fatal: the workflow may simply not have that transition. Runs inside the
    transaction that records the failure."""
    request = AccessRequest.objects.filter(jira_issue_key=update.issue_key).first()
    record(
        "jira.transition_missing",
        f"Jira issue {update.issue_key} has no transition {update.payload.get('transition')!r}; "
        "its status was left as it is.",
        actor=Actor.system("jira"),
        request=request,
        data={"update": update.pk, "transition": update.payload.get("transition"), "available": error.available},
    )


def retry_update(*, update: JiraUpdate) -> JiraUpdate:
    """Send a failed or waiting update now (IT's "retry now" in the admin); a failed one starts
    its attempts afresh. Sending or sent updates are refused."""
    if update.status not in (JiraUpdate.Status.FAILED, JiraUpdate.Status.QUEUED):
        raise Conflict(f"Only failed or queued Jira updates can be retried; this one is {update.status}.")
    try:
        return jira_outbox.retry(update, allowed=(JiraUpdate.Status.FAILED, JiraUpdate.Status.QUEUED))
    except RetryRefused as error:
        raise Conflict("This Jira update changed meanwhile; reload and try again.") from error


def sweep_updates(*, limit: int = 1000) -> dict[str, int]:
    """The periodic sweep: free rows whose worker died, and enqueue due rows no task covers."""
    return jira_outbox.sweep(limit=limit)
