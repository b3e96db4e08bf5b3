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
#: told after every move, in its transaction: (kind "request" | "grant", the objects, the new status)
MoveListener = Callable[[str, Sequence[Any], str], None]
_LISTENERS: list[MoveListener] = []


def on_move(listener: MoveListener) -> None:
    """Call `listener` after every move (e.g. Slack tells the requester); bound at start-up."""
    if listener not in _LISTENERS:
        _LISTENERS.append(listener)


#: kind -> (model, transition table, how an object is named in errors)
MACHINES: dict[str, tuple[type, dict[str, set[str]], Callable[[Any], str]]] = {
    "request": (AccessRequest, REQUEST_TRANSITIONS, lambda request: f"Request {request}"),
    "grant": (Grant, GRANT_TRANSITIONS, lambda grant: f"Grant #{grant.pk}"),
}


def _move(
    kind: str,
    objects: Sequence[Any],
    to: str,
    *,
    actor: Actor,
    message: Message,
    data: dict[str, Any] | None,
    fields: dict[str, Any],
) -> None:
    """Check every move against the table first, then one UPDATE and one audit event per object."""
    model, table, label = MACHINES[kind]
    for obj in objects:
        if to not in table[obj.status]:
            raise InvalidTransition(
                f"{label(obj)} cannot go from {obj.status} to {to}.", data={"status": obj.status, "to": to}
            )
    if not objects:
        return
    previous = {obj.pk: obj.status for obj in objects}
    model.objects.filter(pk__in=list(previous)).update(status=to, **fields)
    for obj in objects:
        obj.status = to
        for name, value in fields.items():
            setattr(obj, name, value)
    events = [
        {
            "action": f"{kind}.{to}",
            "message": message(obj) if callable(message) else message,
            kind: obj,
            "data": {"from": previous[obj.pk], **(data or {})},
        }
        for obj in objects
    ]
    record_many(events, actor=actor)
    for listener in _LISTENERS:
        listener(kind, objects, to)


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
    now = timezone.now()
    fields: dict[str, Any] = {"updated_at": now}
    if reason:
        fields["status_reason"] = reason
    if to in AccessRequest.TERMINAL:
        fields["closed_at"] = now
    _move("request", requests, to, actor=actor, message=message, data=data, fields=fields)


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
    _move("grant", grants, to, actor=actor, message=message, data=data, fields=fields)


def move_grant(
    grant: Grant, to: str, *, actor: Actor, message: str, data: dict[str, Any] | None = None, **fields: Any
) -> Grant:
    """Move a grant to status `to` (setting `fields` too), or raise InvalidTransition."""
    move_grants([grant], to, actor=actor, message=message, data=data, **fields)
    return grant
