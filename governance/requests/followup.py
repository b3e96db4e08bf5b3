"""Approvals that never stall: reminders, escalation to the fallback, and a decision deadline."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from governance.audit.services import Actor, record
from governance.grants import emergency
from governance.models import AccessRequest, ApprovalStep
from governance.notifications import services as notifications
from governance.requests import routing
from governance.transitions import move_request

S = ApprovalStep.Status


def _hours(key: str) -> timedelta:
    return timedelta(hours=settings.GATEHOUSE[key])


def remind_step(step_id: int) -> bool:
    """Remind the approvers of a pending step, once."""
    with transaction.atomic():
        claimed = ApprovalStep.objects.filter(pk=step_id, status=S.PENDING, reminded_at__isnull=True).update(
            reminded_at=timezone.now()
        )
        if not claimed:
            return False
        step = ApprovalStep.objects.select_related("request").get(pk=step_id)
        approvers = ", ".join(step.approvers.values_list("email", flat=True))
        record(
            "step.reminded",
            f"Reminded {approvers} that step {step.order} awaits their decision.",
            actor=Actor.system("follow-up"),
            request=step.request,
            data={"step": step.order},
        )
        notifications.approvers_asked(step, reason="reminder")
    return True


def escalate_step(step_id: int) -> bool:
    """Add the fallback approvers to a step left undecided too long, once."""
    with transaction.atomic():
        claimed = ApprovalStep.objects.filter(pk=step_id, status=S.PENDING, escalated_at__isnull=True).update(
            escalated_at=timezone.now()
        )
        if not claimed:
            return False
        step = ApprovalStep.objects.select_related("request__role__application__owner", "request__policy").get(
            pk=step_id
        )
        request = step.request
        excluded = {request.requester_id, request.beneficiary_id}
        current = set(step.approvers.values_list("id", flat=True))
        people, who = routing.fallback_chain(request.role.application, request.policy, excluded | current)
        if not people:
            record(
                "step.escalation_failed",
                f"Step {step.order} is overdue and no fallback approver is eligible.",
                actor=Actor.system("follow-up"),
                request=request,
                data={"step": step.order},
            )
            return True
        step.approvers.add(*people)
        emails = ", ".join(p.email for p in people)
        step.route_note = (step.route_note + "; " if step.route_note else "") + f"escalated to {who} ({emails})"
        step.save(update_fields=["route_note"])
        record(
            "step.escalated",
            f"Step {step.order} overdue: escalated to {who} ({emails}).",
            actor=Actor.system("follow-up"),
            request=request,
            data={"step": step.order, "added": emails},
        )
        notifications.approvers_asked(step, reason="escalated", people=people)
    return True


def expire_undecided(request_id: int) -> bool:
    """End a request nobody decided before the deadline."""
    days = settings.GATEHOUSE["REQUEST_DECISION_DEADLINE_DAYS"]
    with transaction.atomic():
        request = AccessRequest.objects.select_for_update(of=("self",)).get(pk=request_id)
        if request.status != AccessRequest.Status.PENDING_APPROVAL:
            return False
        request.steps.filter(status__in=[S.WAITING, S.PENDING]).update(status=S.CANCELLED)
        reason = f"No decision within {days} days; ask again if the access is still needed."
        move_request(
            request, AccessRequest.Status.EXPIRED, actor=Actor.system("follow-up"), message=reason, reason=reason
        )
    return True


def follow_up_approvals() -> dict[str, int]:
    """The periodic sweep: deadline first, then escalations, then reminders."""
    now = timezone.now()
    deadline = now - timedelta(days=settings.GATEHOUSE["REQUEST_DECISION_DEADLINE_DAYS"])
    overdue = AccessRequest.objects.filter(status=AccessRequest.Status.PENDING_APPROVAL, created_at__lte=deadline)
    expired = sum(expire_undecided(pk) for pk in overdue.values_list("pk", flat=True))
    pending = ApprovalStep.objects.filter(status=S.PENDING)
    to_escalate = pending.filter(opened_at__lte=now - _hours("APPROVAL_ESCALATE_AFTER_HOURS"), escalated_at=None)
    escalated = sum(escalate_step(pk) for pk in to_escalate.values_list("pk", flat=True))
    to_remind = pending.filter(opened_at__lte=now - _hours("APPROVAL_REMIND_AFTER_HOURS"), reminded_at=None)
    reminded = sum(remind_step(pk) for pk in to_remind.values_list("pk", flat=True))
    return {
        "expired": expired,
        "escalated": escalated,
        "reminded": reminded,
        **emergency.follow_up_emergency_reviews(now),
    }
