"""Extending a grant: one history, memberships never dropped and re-added.

Asking for an extension (at once within policy, else routed like a new request) is
`governance.requests.extend`; this module checks and applies one.
"""

from __future__ import annotations

from datetime import timedelta

from catalog.durations import LONGEST, format_iso_duration
from governance.audit.services import Actor, record
from governance.errors import Conflict, InvalidInput
from governance.models import AccessRequest, ApprovalPolicy, ApprovalStep, Grant, GrantExtension
from governance.requests.routing import resolve_policy
from governance.transitions import move_request
from lib import readable


def _approved_by_a_person(grant: Grant) -> bool:
    request = grant.request
    if request is None or request.is_emergency or request.auto_approval_rule_id:
        return False
    return request.steps.filter(status=ApprovalStep.Status.APPROVED).exclude(decided_by=None).exists()


def check_extension(grant: Grant, added: timedelta) -> None:
    if grant.status != Grant.Status.ACTIVE:
        raise Conflict(f"Grant #{grant.pk} is {grant.status}; only active grants can be extended.", code="not_active")
    if grant.expires_at is None:
        raise Conflict(f"Grant #{grant.pk} has no end date; there is nothing to extend.", code="no_expiry")
    if added <= timedelta(0):
        raise InvalidInput("The extension must be positive.", field="duration")
    if grant.expires_at + added - grant.starts_at > LONGEST:
        raise InvalidInput("A grant cannot last more than ten years, extensions included.", field="duration")


def exception_route(grant: Grant, added: timedelta) -> ApprovalPolicy | None:
    """The role's maximum is a hard limit: None within it; past it, the exception policy the role's
    approval policy names, or InvalidInput when it names none."""
    role = grant.role
    total = grant.expires_at + added - grant.starts_at
    if not role.max_duration or total <= role.max_duration:
        return None
    policy = resolve_policy(role)
    exception = policy.exception_policy if policy else None
    if exception is None:
        raise InvalidInput(
            f"The total of {format_iso_duration(total)} would exceed the role's maximum "
            f"{format_iso_duration(role.max_duration)}, a hard limit: the role's approval policy names no "
            "exception route.",
            field="duration",
            code="over_maximum",
        )
    return exception


def within_policy(grant: Grant, added: timedelta) -> tuple[bool, str]:
    """Whether the role's policy allows this extension without a new approval round, and why not."""
    role = grant.role
    allowed = role.allowed_timedeltas()
    if allowed and added not in allowed:
        return False, f"{format_iso_duration(added)} is not one of the role's durations"
    total = grant.expires_at + added - grant.starts_at
    if role.max_duration and total > role.max_duration:
        return False, (
            f"the total of {format_iso_duration(total)} would exceed the role's maximum "
            f"{format_iso_duration(role.max_duration)}"
        )
    if not _approved_by_a_person(grant):
        return False, "the original access was not approved by a person"
    return True, ""


def apply_extension(
    grant: Grant,
    added: timedelta,
    *,
    actor: Actor,
    reason: str,
    request: AccessRequest | None,
    without_round: bool,
    exception: str = "",
) -> None:
    previous = grant.expires_at
    grant.expires_at = previous + added
    grant.save(update_fields=["expires_at"])
    GrantExtension.objects.create(
        grant=grant,
        requested_by=actor.person or grant.person,
        added=added,
        previous_expires_at=previous,
        new_expires_at=grant.expires_at,
        reason=reason,
        request=request,
        approved_without_round=without_round,
        exception_route=exception[:300],
    )
    how = "within the role's policy" if without_round else f"approved through {request}"
    if exception:
        how += f", past the role's maximum through the {exception}"  # "exception route: <policy>"
    record(
        "grant.extended",
        f"Grant #{grant.pk} extended by {format_iso_duration(added)} to "
        f"{readable.moment(grant.expires_at)} ({how}). Memberships stay in place.",
        actor=actor,
        grant=grant,
        data={
            "previous_expires_at": previous,
            "expires_at": grant.expires_at,
            "reason": reason,
            "exception_route": exception,
        },
    )


def apply_approved_extension(request: AccessRequest) -> None:
    """The last approval of an extension request: extend the grant if it is still active."""
    grant = Grant.objects.select_for_update(of=("self",)).get(pk=request.extends_grant_id)
    if grant.status != Grant.Status.ACTIVE or grant.expires_at is None:
        reason = f"Grant #{grant.pk} is {grant.status}; nothing to extend. Ask for new access instead."
        move_request(
            request, AccessRequest.Status.FAILED, actor=Actor.system("extension"), message=reason, reason=reason
        )
        return
    try:
        exception = exception_route(grant, request.duration)
    except InvalidInput as error:
        exception, refused = None, error.message
    else:
        refused = (
            ""
            if exception is None or request.policy_id == exception.pk
            else (f"it passes the role's maximum and was not approved through the exception route {exception.name!r}")
        )
    if refused:
        reason = f"Grant #{grant.pk} not extended: {refused}"
        move_request(
            request, AccessRequest.Status.FAILED, actor=Actor.system("extension"), message=reason, reason=reason
        )
        return
    apply_extension(
        grant,
        request.duration,
        actor=Actor.of_person(request.requester),
        reason=request.reason,
        request=request,
        without_round=False,
        exception=request.policy_label if exception else "",
    )
    move_request(
        request, AccessRequest.Status.FULFILLED, actor=Actor.system("extension"), message=f"Grant #{grant.pk} extended."
    )
