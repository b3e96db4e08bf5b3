"""The two state machines, in one place. Every transition is validated and audited."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from governance.audit.services import Actor, record
from governance.errors import InvalidTransition
from governance.models import AccessRequest, Grant

R = AccessRequest.Status
G = Grant.Status

REQUEST_TRANSITIONS: dict[str, set[str]] = {
    R.PENDING_APPROVAL: {R.APPROVED, R.DENIED, R.CANCELLED, R.EXPIRED, R.FAILED},
    R.APPROVED: {R.PROVISIONING, R.FULFILLED, R.FAILED},  # fulfilled at once: extensions
    R.PROVISIONING: {R.FULFILLED, R.FAILED},
    R.FULFILLED: set(),
    R.DENIED: set(),
    R.CANCELLED: set(),
    R.EXPIRED: set(),
    R.FAILED: set(),
}

GRANT_TRANSITIONS: dict[str, set[str]] = {
    G.PENDING: {G.ACTIVE, G.FAILED, G.REVOKED},
    G.ACTIVE: {G.EXPIRED, G.REVOKED},
    G.EXPIRED: set(),
    G.REVOKED: set(),
    G.FAILED: set(),
}


def move_request(
    request: AccessRequest, to: str, *, actor: Actor, message: str, reason: str = "", data: dict[str, Any] | None = None
) -> AccessRequest:
    """Move a request to status `to`, or raise InvalidTransition; writes one audit event."""
    current = request.status
    if to not in REQUEST_TRANSITIONS[current]:
        raise InvalidTransition(
            f"Request {request} cannot go from {current} to {to}.", data={"status": current, "to": to}
        )
    request.status = to
    fields = ["status", "updated_at"]
    if reason:
        request.status_reason = reason
        fields.append("status_reason")
    if to in AccessRequest.TERMINAL:
        request.closed_at = timezone.now()
        fields.append("closed_at")
    request.save(update_fields=fields)
    record(f"request.{to}", message, actor=actor, request=request, data={"from": current, **(data or {})})
    return request


def move_grant(
    grant: Grant, to: str, *, actor: Actor, message: str, data: dict[str, Any] | None = None, **fields: Any
) -> Grant:
    """Move a grant to status `to` (setting `fields` too), or raise InvalidTransition."""
    current = grant.status
    if to not in GRANT_TRANSITIONS[current]:
        raise InvalidTransition(
            f"Grant #{grant.pk} cannot go from {current} to {to}.", data={"status": current, "to": to}
        )
    grant.status = to
    for name, value in fields.items():
        setattr(grant, name, value)
    grant.save(update_fields=["status", *fields])
    record(f"grant.{to}", message, actor=actor, grant=grant, data={"from": current, **(data or {})})
    return grant
