"""A request's approval steps: open the next one, let automatic ones approve themselves, and
start the grant (or apply the extension) once the last is approved."""

from __future__ import annotations

from django.utils import timezone

from governance.audit.services import Actor, record
from governance.grants import extensions
from governance.grants import services as grants
from governance.models import AccessRequest, ApprovalStep, StepKind
from governance.notifications import services as notifications
from governance.requests import routing
from governance.transitions import move_request
from lib.prefetch import kept_related

RequestStatus = AccessRequest.Status
StepStatus = ApprovalStep.Status


OPEN = (StepStatus.WAITING, StepStatus.PENDING)


def open_steps(request: AccessRequest) -> list[ApprovalStep]:
    """The request's steps still waiting or pending, in order."""
    return list(request.steps.filter(status__in=OPEN).order_by("order"))


def advance(request: AccessRequest, steps: list[ApprovalStep] | None = None) -> None:
    """Open the next step; automatic steps approve themselves; after the last, provision.
    `steps`: the request's steps as the caller read them under the request's lock (the open ones
    among them are taken), instead of reading them again."""
    for step in open_steps(request) if steps is None else [step for step in steps if step.status in OPEN]:
        if step.status == StepStatus.PENDING:
            return
        if step.kind == StepKind.AUTOMATIC:
            set_step(step, StepStatus.APPROVED, comment=step.route_note, decided_at=timezone.now())
            record(
                "step.approved",
                f"Step {step.order} approved automatically by policy {request.policy_label}.",
                actor=Actor.system("policy"),
                request=request,
                data={"step": step.order, "kind": step.kind, "policy": request.policy_label},
            )
            continue
        open_step(request, step)
        return
    move_request(
        request, RequestStatus.APPROVED, actor=Actor.system("routing"), message="Every approval step is approved."
    )
    if request.extends_grant_id:
        extensions.apply_approved_extension(request)
    else:
        grants.start_grant(request=request)


def open_step(request: AccessRequest, step: ApprovalStep) -> None:
    """The step starts awaiting a decision; approvers who are away hand it to their delegate."""
    now = timezone.now()
    excluded = {request.requester_id, request.beneficiary_id}
    separation = routing.separate_duties(request, step, excluded)
    if separation:
        step.route_note = "; ".join(filter(None, [step.route_note, separation]))
        step.save(update_fields=["route_note"])
        if not step.approvers.exists():
            cancel_open_steps(request)
            why = f"Step {step.order} cannot be routed: {separation}."
            move_request(request, RequestStatus.FAILED, actor=Actor.system("routing"), message=why, reason=why)
            return
    excluded |= routing.separated_from(request, step.order)
    delegated = {}
    for approver in list(step.approvers.all()):
        delegate = routing.active_delegate(approver, now, excluded)
        if delegate:
            step.approvers.remove(approver)
            step.approvers.add(delegate)
            delegated[delegate.email] = approver.email
    set_step(step, StepStatus.PENDING, opened_at=now, delegated_from=delegated)
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


def set_step(step: ApprovalStep, status: str, **fields) -> None:
    step.status = status
    for name, value in fields.items():
        setattr(step, name, value)
    step.save(update_fields=["status", *fields])


def cancel_open_steps(request: AccessRequest) -> None:
    """The request ended before its steps did: those still waiting or pending are cancelled (in
    the steps kept on the request too, when a service read them)."""
    request.steps.filter(status__in=OPEN).update(status=StepStatus.CANCELLED)
    for step in kept_related(request, "steps") or ():
        if step.status in OPEN:
            step.status = StepStatus.CANCELLED


def current_step(request: AccessRequest) -> ApprovalStep | None:
    return request.steps.filter(status=StepStatus.PENDING).order_by("order").first()
