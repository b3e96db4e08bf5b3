"""Access requests: submit, decide a step, cancel."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.durations import LONGEST, format_iso_duration
from catalog.models import Application, Person, Role
from governance.audit.services import Actor, record
from governance.errors import Conflict, InvalidInput, NotAllowed
from governance.grants import emergency, extensions
from governance.grants import services as grants
from governance.jira import approvals as jira_approvals
from governance.models import AccessRequest, ApprovalDecision, ApprovalPolicy, ApprovalStep, Grant, StepKind
from governance.notifications import services as notifications
from governance.requests import channels, routing
from governance.transitions import move_request

R = AccessRequest.Status
S = ApprovalStep.Status


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


def find_person(email: str, *, field: str, must_be_active: bool = True) -> Person:
    person = Person.objects.select_related("manager__manager").filter(email__iexact=(email or "").strip()).first()
    if person is None:
        raise InvalidInput(f"No person with email {email!r} in the directory.", field=field)
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
        until = f" until {live.expires_at.isoformat()}" if live.expires_at else ""
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
    label = f"auto-approval rule {rule.name!r}" if rule else plan.policy_label
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
            R.APPROVED,
            actor=Actor.system("auto-approval"),
            data={"rule": rule.pk},
            message=f"Approved automatically by rule {rule.name!r} ({beneficiary.department}).",
        )
        grants.start_grant(request=request)
        return request
    if plan.error:
        move_request(request, R.FAILED, actor=Actor.system("routing"), message=plan.error, reason=plan.error)
        return request
    for planned in plan.steps:
        step = ApprovalStep.objects.create(
            request=request, order=planned.order, kind=planned.kind, route_note=planned.note
        )
        step.approvers.set(planned.approvers)
    _advance(request)
    return request


def _advance(request: AccessRequest) -> None:
    """Open the next step; automatic steps approve themselves; after the last, provision."""
    for step in request.steps.filter(status__in=[S.WAITING, S.PENDING]).order_by("order"):
        if step.status == S.PENDING:
            return
        if step.kind == StepKind.AUTOMATIC:
            _set_step(step, S.APPROVED, comment=step.route_note, decided_at=timezone.now())
            record(
                "step.approved",
                f"Step {step.order} approved automatically by policy {request.policy_label}.",
                actor=Actor.system("policy"),
                request=request,
                data={"step": step.order, "kind": step.kind, "policy": request.policy_label},
            )
            continue
        _open_step(request, step)
        return
    move_request(request, R.APPROVED, actor=Actor.system("routing"), message="Every approval step is approved.")
    if request.extends_grant_id:
        extensions.apply_approved_extension(request)
    else:
        grants.start_grant(request=request)


def _open_step(request: AccessRequest, step: ApprovalStep) -> None:
    """The step starts awaiting a decision; approvers who are away hand it to their delegate."""
    now = timezone.now()
    excluded = {request.requester_id, request.beneficiary_id}
    separation = routing.separate_duties(request, step, excluded)
    if separation:
        step.route_note = "; ".join(filter(None, [step.route_note, separation]))
        step.save(update_fields=["route_note"])
        if not step.approvers.exists():
            request.steps.filter(status__in=[S.WAITING, S.PENDING]).update(status=S.CANCELLED)
            why = f"Step {step.order} cannot be routed: {separation}."
            move_request(request, R.FAILED, actor=Actor.system("routing"), message=why, reason=why)
            return
    excluded |= routing.separated_from(request, step.order)
    delegated = {}
    for approver in list(step.approvers.all()):
        delegate = routing.active_delegate(approver, now, excluded)
        if delegate:
            step.approvers.remove(approver)
            step.approvers.add(delegate)
            delegated[delegate.email] = approver.email
    _set_step(step, S.PENDING, opened_at=now, delegated_from=delegated)
    approvers = ", ".join(step.approvers.values_list("email", flat=True))
    note = "; ".join(f"{d} stands in for {a} (delegation)" for d, a in delegated.items())
    record(
        "step.pending",
        f"Step {step.order} awaits a decision from {approvers}." + (f" {note}." if note else ""),
        actor=Actor.system("routing"),
        request=request,
        data={"step": step.order, "kind": step.kind, "note": step.route_note, "delegated_from": delegated},
    )
    notifications.approvers_asked(step, reason="asked")


def _set_step(step: ApprovalStep, status: str, **fields) -> None:
    step.status = status
    for name, value in fields.items():
        setattr(step, name, value)
    step.save(update_fields=["status", *fields])


def current_step(request: AccessRequest) -> ApprovalStep | None:
    return request.steps.filter(status=S.PENDING).order_by("order").first()


def _lock(request: AccessRequest) -> AccessRequest:
    return (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("requester", "beneficiary", "role__application")
        .get(pk=request.pk)
    )


def _check_decider(request: AccessRequest, step: ApprovalStep, actor: Actor, override: bool) -> bool:
    """Raise NotAllowed unless `actor` may decide `step`; True when deciding as an override."""
    person = actor.person
    if person is not None and person.id in (request.requester_id, request.beneficiary_id):
        raise NotAllowed(
            f"{person.email} cannot decide a request they made or would benefit from.",
            field="approver",
            code="self_approval",
        )
    if person is not None and not person.is_active:
        raise NotAllowed(
            f"{person.email} is {person.status}; only active people can decide.",
            field="approver",
            code="inactive_approver",
        )
    if person is not None and person.id in routing.separated_from(request, step.order):
        raise NotAllowed(
            f"{person.email} decided an earlier step of {request}; its policy requires a different person for "
            f"step {step.order} (separation of duties).",
            field="approver",
            code="separation_of_duties",
        )
    is_approver = person is not None and step.approvers.filter(pk=person.pk).exists()
    if not is_approver and not override:
        who = person.email if person else actor.label
        raise NotAllowed(
            f"{who} is not an approver of step {step.order} of {request}.", field="approver", code="not_an_approver"
        )
    if is_approver and step.decisions.filter(person=person).exists():
        raise Conflict(f"{person.email} has already decided step {step.order} of {request}.", code="already_decided")
    return not is_approver


def decide_step(
    *,
    request: AccessRequest,
    actor: Actor,
    approve: bool,
    comment: str = "",
    channel: str = channels.API,
    override: bool = False,
) -> AccessRequest:
    """Approve or deny the request's current step as `actor`. `override` (admins with the
    decide_any_step permission) lifts the approver check, never the self-approval check.
    A step of kind "all of them" is approved when every approver has approved. With
    JIRA_VERIFY_APPROVALS, an API decision must match Jira's approval record (asked first,
    outside the transaction)."""
    if not channels.is_channel(channel):
        raise ValueError(f"Unknown decision channel {channel!r}.")
    verified = None
    if jira_approvals.verification_required(request, channel):
        verified = jira_approvals.verify_decision(request, actor.person, approve)
    with transaction.atomic():
        request = _lock(request)
        if request.status != R.PENDING_APPROVAL:
            raise Conflict(
                f"Request {request} is not awaiting a decision (it is {request.status}).", code="not_pending"
            )
        step = current_step(request)
        as_override = _check_decider(request, step, actor, override)
        now = timezone.now()
        on_behalf_of = step.delegated_from.get(actor.person.email) if actor.person else None
        ApprovalDecision.objects.create(
            step=step,
            person=actor.person,
            user=actor.user,
            approved=approve,
            decided_at=now,
            channel=channel,
            comment=comment,
            on_behalf_of=Person.objects.filter(email=on_behalf_of).first() if on_behalf_of else None,
        )
        waiting_for = _still_waiting_for(step) if approve and not as_override else []
        decision = "partially_approved" if waiting_for else (S.APPROVED if approve else S.DENIED)
        behalf = f" for {on_behalf_of}" if on_behalf_of else ""
        record(
            f"step.{decision}",
            f"Step {step.order} {decision.replace('_', ' ')} by {actor.label}{behalf} via {channel}"
            f"{' (override)' if as_override else ''}"
            + (f", {verified.note}" if verified else "")
            + (f"; still waiting for {', '.join(waiting_for)}." if waiting_for else "."),
            actor=actor,
            request=request,
            data={
                "step": step.order,
                "comment": comment,
                "channel": channel,
                "override": as_override,
                "on_behalf_of": on_behalf_of,
                "jira_approval": verified.approval_id if verified else None,
            },
        )
        if waiting_for:
            return request
        _set_step(
            step,
            decision,
            decided_by=actor.person,
            decided_by_user=actor.user,
            decided_at=now,
            channel=channel,
            comment=comment,
        )
        if approve:
            _advance(request)
        else:
            request.steps.filter(status__in=[S.WAITING, S.PENDING]).update(status=S.CANCELLED)
            move_request(request, R.DENIED, actor=actor, message=f"Denied by {actor.label}.", reason=comment)
    return request


def _still_waiting_for(step: ApprovalStep) -> list[str]:
    if step.kind != StepKind.NAMED_ALL:
        return []
    approved = step.decisions.filter(approved=True).values_list("person_id", flat=True)
    return list(step.approvers.exclude(id__in=approved).values_list("email", flat=True))


def cancel_request(
    *, request: AccessRequest, actor: Actor, reason: str = "", authorised: bool = False
) -> AccessRequest:
    """The requester or beneficiary (or an admin) withdraws a request still awaiting approval.
    `authorised` skips the party check (services that decided already, such as offboarding)."""
    with transaction.atomic():
        request = _lock(request)
        person = actor.person
        is_party = person is not None and person.id in (request.requester_id, request.beneficiary_id)
        if actor.user is None and not is_party and not authorised:
            raise NotAllowed(f"Only the requester or the beneficiary can cancel {request}.", field="by")
        if request.status != R.PENDING_APPROVAL:
            raise Conflict(
                f"Request {request} can no longer be cancelled (it is {request.status}).", code="not_pending"
            )
        request.steps.filter(status__in=[S.WAITING, S.PENDING]).update(status=S.CANCELLED)
        move_request(request, R.CANCELLED, actor=actor, message=f"Cancelled by {actor.label}.", reason=reason)
    return request
