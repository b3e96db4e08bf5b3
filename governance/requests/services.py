"""Access requests: submit (validated, de-duplicated, idempotent per Jira issue) and route.

Deciding and cancelling are in `decisions`; the approval steps themselves in `steps`.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction

from catalog.durations import LONGEST, format_iso_duration
from catalog.models import Application, Person, Role
from governance.audit.services import Actor, record
from governance.errors import Conflict, InvalidInput
from governance.grants import emergency
from governance.grants import services as grants
from governance.models import AccessRequest, ApprovalPolicy, ApprovalStep, Grant
from governance.requests import routing, steps
from governance.transitions import move_request
from lib import readable

RequestStatus = AccessRequest.Status


@dataclass(frozen=True)
class RequestInput:
    """What a requester asks for, as submitted (emails and slugs, not yet resolved)."""

    requester: str
    application: str
    role: str
    reason: str
    beneficiary: str | None = None
    duration: timedelta | None = None
    jira_issue_key: str | None = None
    emergency: bool = False
    api_token: str = ""  # the token that submitted it (recorded, not part of the fingerprint)

    def fingerprint(self) -> str:
        """Identical submissions (as Jira Automation retries them) hash the same."""
        body = {
            "requester": self.requester.strip().lower(),
            "beneficiary": (self.beneficiary or self.requester).strip().lower(),
            "application": self.application,
            "role": self.role,
            "duration": self.duration.total_seconds() if self.duration else None,
            "reason": self.reason.strip(),
            "emergency": self.emergency,
        }
        return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()


def find_person(email: str, *, field: str, must_be_active: bool = True, with_managers: bool = True) -> Person:
    """The directory person of `email` (any case); `with_managers` joins their manager and the
    manager's manager (routing reads them)."""
    people = Person.objects.select_related("manager__manager") if with_managers else Person.objects.all()
    matching = people.filter(email__iexact=(email or "").strip())
    try:  # emails are unique in lower case: one match, found without sorting
        person = matching.get()
    except Person.DoesNotExist:
        raise InvalidInput(f"No person with email {email!r} in the directory.", field=field) from None
    except Person.MultipleObjectsReturned:  # distinct in lower case, equal in upper case (ı and i)
        person = matching.order_by("email").first()
    if must_be_active and not person.is_active:
        raise InvalidInput(f"{person.email} is {person.status}, not active.", field=field)
    return person


def _find_role(app_slug: str, role_slug: str) -> Role:
    app = Application.objects.select_related("owner").filter(slug=app_slug).first()
    if app is None:
        raise InvalidInput(f"No application with slug {app_slug!r}.", field="application")
    if not app.is_requestable:
        raise InvalidInput(
            f"Application {app.slug!r} is {app.status}; only approved applications can be requested.",
            field="application",
        )
    role = Role.objects.select_related("application__owner").filter(application=app, slug=role_slug).first()
    if role is None:
        raise InvalidInput(f"Application {app.slug!r} has no role {role_slug!r}.", field="role")
    if not role.requestable:
        raise InvalidInput(f"Role {role_slug!r} of {app.slug!r} is not requestable.", field="role")
    if app.provisioning_mode == Application.ProvisioningMode.AUTOMATIC and not role.group_mappings.exists():
        raise InvalidInput(
            f"Role {role_slug!r} maps to no identity-provider group, so it cannot be provisioned.", field="role"
        )
    return role


def validate_duration(role: Role, duration: timedelta | None) -> None:
    """Raise InvalidInput(field="duration") unless `duration` fits the role's policy."""
    if duration is None:
        if role.requires_duration:
            choices = ", ".join(role.allowed_durations) or "for example PT6H or P7D"
            raise InvalidInput(
                f"Role {role.slug!r} of {role.application.slug!r} ({role.application.risk_tier} risk) requires a "
                f"duration: {choices}.",
                field="duration",
            )
        return
    if duration <= timedelta(0):
        raise InvalidInput("The duration must be positive.", field="duration")
    if duration > LONGEST:
        raise InvalidInput("The duration must be at most ten years (P3653D).", field="duration")
    allowed = role.allowed_timedeltas()
    if allowed and duration not in allowed:
        choices = ", ".join(format_iso_duration(d) for d in allowed)
        raise InvalidInput(
            f"{format_iso_duration(duration)} is not one of the allowed durations: {choices}.", field="duration"
        )
    if role.max_duration and duration > role.max_duration:
        raise InvalidInput(
            f"{format_iso_duration(duration)} exceeds the maximum {format_iso_duration(role.max_duration)}.",
            field="duration",
        )


def effective_duration(role: Role, beneficiary: Person, asked: timedelta | None) -> tuple[timedelta | None, str]:
    """The duration a grant will get, and where it came from (asked, role default, contractor default)."""
    validate_duration(role, asked)
    if asked is not None:
        return asked, "asked"
    if role.default_duration:
        return role.default_duration, "the role's default"
    if beneficiary.is_contractor:
        default = timedelta(days=settings.GATEHOUSE["CONTRACTOR_DEFAULT_DAYS"])
        if role.max_duration:
            default = min(default, role.max_duration)
        return default, "the contractor default"
    if role.max_duration:
        return role.max_duration, "the role's maximum"
    return None, "no end date"


def _refuse_duplicates(beneficiary: Person, role: Role) -> None:
    live = Grant.objects.filter(person=beneficiary, role=role, status__in=Grant.LIVE).first()
    if live:
        until = f" until {readable.moment(live.expires_at)}" if live.expires_at else ""
        raise Conflict(
            f"{beneficiary.email} already holds {role}{until} (grant #{live.pk}); ask for an extension instead.",
            field="role",
            code="already_granted",
            data={"grant": live.pk},
        )
    open_request = AccessRequest.objects.filter(
        beneficiary=beneficiary, role=role, status__in=AccessRequest.OPEN
    ).first()
    if open_request:
        raise Conflict(
            f"Request {open_request} for the same access is already open.",
            field="role",
            code="duplicate_request",
            data={"request": str(open_request)},
        )


def _existing(data: RequestInput) -> AccessRequest | None:
    if not data.jira_issue_key:
        return None
    existing = AccessRequest.objects.filter(jira_issue_key=data.jira_issue_key).first()
    if existing and existing.fingerprint != data.fingerprint():
        raise Conflict(
            f"Jira issue {data.jira_issue_key} already has a request with different details.",
            field="jira_issue_key",
            code="idempotency_conflict",
        )
    return existing


def submit_request(
    *, data: RequestInput, source: str = "api", actor: Actor | None = None
) -> tuple[AccessRequest, bool]:
    """Create and route a request. Returns (request, created); an identical resubmission of the
    same Jira issue returns the first request with created=False. `actor` is who submitted it when
    that is not the requester (Gatehouse itself, for birthright access)."""
    if data.jira_issue_key:
        data = replace(data, jira_issue_key=data.jira_issue_key.strip().upper())
    existing = _existing(data)
    if existing:
        return existing, False
    if not (data.reason or "").strip():
        raise InvalidInput("A reason is required.", field="reason")
    requester = find_person(data.requester, field="requester")
    beneficiary = find_person(data.beneficiary, field="beneficiary") if data.beneficiary else requester
    role = _find_role(data.application, data.role)
    if data.emergency:
        duration, source_of = emergency.emergency_window(role, data.duration), "the emergency window"
    else:
        duration, source_of = effective_duration(role, beneficiary, data.duration)
    draft = Draft(data, requester, beneficiary, role, source, duration, source_of, actor=actor)
    try:
        _refuse_duplicates(beneficiary, role)
        with transaction.atomic():
            return create_request(draft), True
    except (Conflict, IntegrityError) as error:
        # A concurrent delivery of the same Jira issue won: the loser answers like a retry.
        existing = _existing(data)
        if existing is not None:
            return existing, False
        if isinstance(error, IntegrityError):
            # Another request for the same access won the database's uniqueness rule: say which.
            _refuse_duplicates(beneficiary, role)
        raise


@dataclass
class Draft:
    """A request resolved and validated, ready to be written."""

    data: RequestInput
    requester: Person
    beneficiary: Person
    role: Role
    source: str
    duration: timedelta | None
    duration_source: str
    extends_grant: Grant | None = None
    actor: Actor | None = None
    policy: ApprovalPolicy | None = None  # an exception route instead of the role's policy


def create_request(draft: Draft) -> AccessRequest:
    """Write a validated request and route it (inside the caller's transaction)."""
    data, role, beneficiary = draft.data, draft.role, draft.beneficiary
    rule = None if (data.emergency or draft.extends_grant) else routing.matching_auto_rule(role, beneficiary)
    plan = routing.plan_route(role=role, requester=draft.requester, beneficiary=beneficiary, policy=draft.policy)
    label = f"auto-approval rule {rule.name!r} v{rule.version}" if rule else plan.policy_label
    if draft.policy is not None:
        label = f"exception route: {label}"
    request = AccessRequest.objects.create(
        jira_issue_key=data.jira_issue_key or None,
        requester=draft.requester,
        beneficiary=beneficiary,
        application=role.application,
        role=role,
        duration=draft.duration,
        reason=data.reason.strip(),
        policy=None if rule else plan.policy,
        policy_version=plan.policy.version if plan.policy and not rule else None,
        policy_label=("break-glass: " if data.emergency else "") + label,
        auto_approval_rule=rule,
        auto_approval_rule_version=rule.version if rule else None,
        fingerprint=data.fingerprint(),
        source=draft.source,
        extends_grant=draft.extends_grant,
        is_emergency=data.emergency,
    )
    route = [
        {"order": s.order, "kind": s.kind, "approvers": [p.email for p in s.approvers], "note": s.note}
        for s in plan.steps
    ]
    what = f"an extension of grant #{draft.extends_grant.pk}" if draft.extends_grant else str(role)
    record(
        "request.submitted",
        f"{draft.requester.email} asked for {what} for {beneficiary.email}"
        + (" — EMERGENCY (break-glass)." if data.emergency else "."),
        actor=draft.actor or Actor.of_person(draft.requester, via=data.api_token),
        request=request,
        data={
            "department": beneficiary.department,  # as it was when asked (reviews compare it later)
            "policy": request.policy_label,
            "route": route,
            "source": draft.source,
            "emergency": data.emergency,
            "duration_source": draft.duration_source,
        },
    )
    if data.emergency:
        emergency.grant_emergency_access(request, plan)
        return request
    if rule:
        move_request(
            request,
            RequestStatus.APPROVED,
            actor=Actor.system("auto-approval"),
            data={"rule": rule.pk, "rule_version": rule.version},
            message=f"Approved automatically by rule {rule.name!r} v{rule.version} ({beneficiary.department}).",
        )
        grants.start_grant(request=request)
        return request
    if plan.error:
        move_request(
            request, RequestStatus.FAILED, actor=Actor.system("routing"), message=plan.error, reason=plan.error
        )
        return request
    for planned in plan.steps:
        step = ApprovalStep.objects.create(
            request=request,
            order=planned.order,
            kind=planned.kind,
            route_note=planned.note,
            requested_at=request.created_at,
        )
        step.approvers.set(planned.approvers)
    steps.advance(request)
    return request
