"""Deciding a request's current step (API, admin, approver page, Slack), and cancelling.

`can_decide` is the one answer to "may this person decide this step now?"; `decide_step` enforces it
and every channel that shows a decision button asks it first.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import prefetch_related_objects
from django.utils import timezone

from catalog.models import Person
from governance.audit.services import Actor, audit_batch, record
from governance.errors import Conflict, GovernanceError, NotAllowed
from governance.grants import selectors
from governance.jira import approvals as jira_approvals
from governance.models import AccessRequest, ApprovalDecision, ApprovalStep, StepKind
from governance.requests import channels, routing
from governance.requests.steps import advance, cancel_open_steps, set_step
from governance.requests.touches import add_manual_touch
from governance.slack import posts as slack_posts
from governance.transitions import move_request

RequestStatus = AccessRequest.Status
StepStatus = ApprovalStep.Status

NOT_PENDING = "not_pending"
SELF_APPROVAL = "self_approval"
INACTIVE_APPROVER = "inactive_approver"
NOT_AN_APPROVER = "not_an_approver"
ALREADY_DECIDED = "already_decided"
SEPARATION_OF_DUTIES = "separation_of_duties"


@dataclass(frozen=True)
class Verdict:
    """Whether someone may decide a step now; when not, `code` and `reason` say why."""

    code: str = ""
    reason: str = ""
    as_override: bool = False  # allowed only through the decide-any-step override

    @property
    def allowed(self) -> bool:
        return not self.code

    def error(self) -> GovernanceError:
        """The error `decide_step` raises for this refusal."""
        if self.code in (NOT_PENDING, ALREADY_DECIDED):
            return Conflict(self.reason, code=self.code)
        return NotAllowed(self.reason, field="approver", code=self.code)


def can_decide(step: ApprovalStep, person: Person | None, *, override: bool = False, who: str = "") -> Verdict:
    """May `person` (None: an admin without a directory person, named `who`) decide `step` now?

    `override` (admins with the decide_any_step permission) lifts the approver check, never the
    self-approval check."""
    request = step.request
    if step.status != StepStatus.PENDING or request.status != RequestStatus.PENDING_APPROVAL:
        return Verdict(NOT_PENDING, f"Step {step.order} of {request} is not awaiting a decision ({step.status}).")
    if person is not None and person.id in (request.requester_id, request.beneficiary_id):
        return Verdict(SELF_APPROVAL, f"{person.email} cannot decide a request they made or would benefit from.")
    if person is not None and not person.is_active:
        return Verdict(INACTIVE_APPROVER, f"{person.email} is {person.status}; only active people can decide.")
    if person is not None and person.id in routing.separated_from(request, step.order):
        return Verdict(
            SEPARATION_OF_DUTIES,
            f"{person.email} decided an earlier step of {request}; its policy requires a different person for "
            f"step {step.order} (separation of duties).",
        )
    # From the step's approvers as read (prefetched by decide_step): a step has a handful.
    is_approver = person is not None and any(approver.pk == person.pk for approver in step.approvers.all())
    if not is_approver and not override:
        name = person.email if person else who
        return Verdict(NOT_AN_APPROVER, f"{name} is not an approver of step {step.order} of {request}.")
    if is_approver and step.decisions.filter(person=person).exists():
        return Verdict(ALREADY_DECIDED, f"{person.email} has already decided step {step.order} of {request}.")
    return Verdict(as_override=not is_approver)


def _lock(request: AccessRequest) -> AccessRequest:
    locked = (
        AccessRequest.objects.select_for_update(of=("self",))
        .select_related("requester", "beneficiary", "application", "role", "policy")
        .get(pk=request.pk)
    )
    if locked.role.application_id == locked.application_id:  # always, for a request made through a service
        locked.role.application = locked.application
    return locked


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
    # The decision's audit events are written together at the end: concurrent approvals then hold
    # the audit chain's head (one row every writer locks) only from that write to the commit.
    with transaction.atomic(), audit_batch():
        request = _lock(request)
        if request.status != RequestStatus.PENDING_APPROVAL:
            raise Conflict(
                f"Request {request} is not awaiting a decision (it is {request.status}).", code="not_pending"
            )
        # Every step with its approvers, read once: the checks and the advance use them, and they
        # stay on the request (kept in step by what follows) for the answer to render.
        prefetch_related_objects([request], selectors.request_steps())
        steps = list(request.steps.all())
        step = next((step for step in steps if step.status == StepStatus.PENDING), None)
        if step is None:
            raise Conflict(f"Request {request} has no step awaiting a decision.", code="not_pending")
        verdict = can_decide(step, actor.person, override=override, who=actor.label)
        if not verdict.allowed:
            raise verdict.error()
        as_override = verdict.as_override
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
        add_manual_touch(request.pk)
        waiting_for = _still_waiting_for(step) if approve and not as_override else []
        decision = "partially_approved" if waiting_for else (StepStatus.APPROVED if approve else StepStatus.DENIED)
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
        set_step(
            step,
            decision,
            decided_by=actor.person,
            decided_by_user=actor.user,
            decided_at=now,
            channel=channel,
            comment=comment,
        )
        slack_posts.step_decided(step)  # every open Slack DM of the step says who decided, from any channel
        if approve:
            advance(request, steps)
        else:
            cancel_open_steps(request)
            move_request(
                request, RequestStatus.DENIED, actor=actor, message=f"Denied by {actor.label}.", reason=comment
            )
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
        if request.status != RequestStatus.PENDING_APPROVAL:
            raise Conflict(
                f"Request {request} can no longer be cancelled (it is {request.status}).", code="not_pending"
            )
        cancel_open_steps(request)
        move_request(
            request, RequestStatus.CANCELLED, actor=actor, message=f"Cancelled by {actor.label}.", reason=reason
        )
    return request
