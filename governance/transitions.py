"""The two state machines, in one place. Every transition is validated and audited.

`move_grants` / `move_requests` move many objects in one UPDATE and one audit INSERT (the bulk paths
such as the expiry timer); `move_grant` / `move_request` are the same thing for one.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from django.utils import timezone

from governance.audit.services import Actor, record_many
from governance.errors import InvalidTransition
from governance.models import AccessRequest, Grant

RequestStatus = AccessRequest.Status
GrantStatus = Grant.Status

REQUEST_TRANSITIONS: dict[str, set[str]] = {
    RequestStatus.PENDING_APPROVAL: {
        RequestStatus.APPROVED,
        RequestStatus.DENIED,
        RequestStatus.CANCELLED,
        RequestStatus.EXPIRED,
        RequestStatus.FAILED,
    },
    # fulfilled at once: extensions
    RequestStatus.APPROVED: {RequestStatus.PROVISIONING, RequestStatus.FULFILLED, RequestStatus.FAILED},
    RequestStatus.PROVISIONING: {RequestStatus.FULFILLED, RequestStatus.FAILED},
    RequestStatus.FULFILLED: set(),
    RequestStatus.DENIED: set(),
    RequestStatus.CANCELLED: set(),
    RequestStatus.EXPIRED: set(),
    RequestStatus.FAILED: set(),
}

GRANT_TRANSITIONS: dict[str, set[str]] = {
    GrantStatus.PENDING: {GrantStatus.ACTIVE, GrantStatus.FAILED, GrantStatus.REVOKED},
    GrantStatus.ACTIVE: {GrantStatus.EXPIRED, GrantStatus.REVOKED},
    GrantStatus.EXPIRED: set(),
    GrantStatus.REVOKED: set(),
    GrantStatus.FAILED: set(),
}

Message = str | Callable[[Any], str]


def _check(table: dict[str, set[str]], objects: Sequence[Any], to: str, name: Callable[[Any], str]) -> None:
    """Raise InvalidTransition (before anything is written) unless every object may move to `to`."""
    for obj in objects:
        if to not in table[obj.status]:
            raise InvalidTransition(
                f"{name(obj)} cannot go from {obj.status} to {to}.", data={"status": obj.status, "to": to}
            )


def _text(message: Message, obj: Any) -> str:
    return message(obj) if callable(message) else message


def move_requests(
    requests: Sequence[AccessRequest],
    to: str,
    *,
    actor: Actor,
    message: Message,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    """Move every request to status `to` (one UPDATE, one audit event each), or raise InvalidTransition."""
    _check(REQUEST_TRANSITIONS, requests, to, lambda request: f"Request {request}")
    if not requests:
        return
    now = timezone.now()
    fields: dict[str, Any] = {"status": to, "updated_at": now}
    if reason:
        fields["status_reason"] = reason
    if to in AccessRequest.TERMINAL:
        fields["closed_at"] = now
    previous = {request.pk: request.status for request in requests}
    AccessRequest.objects.filter(pk__in=list(previous)).update(**fields)
    for request in requests:
        for name, value in fields.items():
            setattr(request, name, value)
    events = [
        {
            "action": f"request.{to}",
            "message": _text(message, request),
            "request": request,
            "data": {"from": previous[request.pk], **(data or {})},
        }
        for request in requests
    ]
    record_many(events, actor=actor)


def move_request(
    request: AccessRequest,
    to: str,
    *,
    actor: Actor,
    message: str,
    reason: str = "",
    data: dict[str, Any] | None = None,
) -> AccessRequest:
    """Move a request to status `to`, or raise InvalidTransition; writes one audit event."""
    move_requests([request], to, actor=actor, message=message, reason=reason, data=data)
    return request


def move_grants(
    grants: Sequence[Grant],
    to: str,
    *,
    actor: Actor,
    message: Message,
    data: dict[str, Any] | None = None,
    **fields: Any,
) -> None:
    """Move every grant to status `to`, setting `fields` too (one UPDATE, one audit event each),
    or raise InvalidTransition before anything is written."""
    _check(GRANT_TRANSITIONS, grants, to, lambda grant: f"Grant #{grant.pk}")
    if not grants:
        return
    previous = {grant.pk: grant.status for grant in grants}
    Grant.objects.filter(pk__in=list(previous)).update(status=to, **fields)
    for grant in grants:
        grant.status = to
        for name, value in fields.items():
            setattr(grant, name, value)
    events = [
        {
            "action": f"grant.{to}",
            "message": _text(message, grant),
            "grant": grant,
            "data": {"from": previous[grant.pk], **(data or {})},
        }
        for grant in grants
    ]
    record_many(events, actor=actor)


def move_grant(
    grant: Grant, to: str, *, actor: Actor, message: str, data: dict[str, Any] | None = None, **fields: Any
) -> Grant:
    """Move a grant to status `to` (setting `fields` too), or raise InvalidTransition."""
    move_grants([grant], to, actor=actor, message=message, data=data, **fields)
    return grant
