"""Break-glass: emergency access granted at once for a short window, reviewed after the fact."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.durations import format_iso_duration
from catalog.models import Role
from governance.audit.services import Actor, record
from governance.errors import Conflict, InvalidInput, NotAllowed
from governance.grants import services as grants
from governance.models import AccessRequest, EmergencyReview
from governance.notifications import services as notifications
from governance.requests import routing
from governance.transitions import move_request


def emergency_window(role: Role, asked: timedelta | None) -> timedelta:
    """The window an emergency grant gets; InvalidInput when the role does not allow break-glass."""
    if not role.break_glass_allowed:
        raise InvalidInput(
            f"Role {role.slug!r} of {role.application.slug!r} does not allow emergency access.", field="emergency"
        )
    window = role.break_glass_window
    if asked is not None and (asked <= timedelta(0) or asked > window):
        raise InvalidInput(f"Emergency access lasts at most {format_iso_duration(window)}.", field="duration")
    return asked or window


def _reviewers(request: AccessRequest, plan: routing.RoutePlan) -> list:
    for step in plan.steps:
        if step.approvers:
            return step.approvers
    excluded = {request.requester_id, request.beneficiary_id}
    people, _ = routing.fallback_chain(request.role.application, plan.policy, excluded)
    return people


def grant_emergency_access(request: AccessRequest, plan: routing.RoutePlan) -> None:
    """Approve at once, start the grant, and open the review the approver must complete."""
    move_request(
        request,
        AccessRequest.Status.APPROVED,
        actor=Actor.system("break-glass"),
        message="EMERGENCY access granted at once (break-glass); an after-the-fact review is required.",
        data={"emergency": True},
    )
    grants.start_grant(request=request)
    review = EmergencyReview.objects.create(request=request)
    reviewers = _reviewers(request, plan)
    review.reviewers.set(reviewers)
    record(
        "emergency.review_opened",
        f"Emergency access must be reviewed by {', '.join(p.email for p in reviewers) or 'nobody eligible'}.",
        actor=Actor.system("break-glass"),
        request=request,
        data={"emergency": True, "reviewers": [p.email for p in reviewers]},
    )
    for person in reviewers:
        notifications.notify_person(
            person,
            subject=f"EMERGENCY access to review: {request} — {request.role}",
            body=f"{request.beneficiary.name} took emergency access to {request.role} "
            f"({format_iso_duration(request.duration)}). Reason: {request.reason}\n"
            f"Confirm or reject it: POST /api/v1/access-requests/{request.jira_issue_key}/emergency-review/ "
            "or in the admin. Rejecting revokes the access at once.",
        )


def review_emergency(*, request: AccessRequest, actor: Actor, confirm: bool, comment: str = "") -> EmergencyReview:
    """Complete the after-the-fact review. Rejecting revokes the grant at once."""
    with transaction.atomic():
        review = EmergencyReview.objects.select_for_update().filter(request=request).first()
        if review is None:
            raise Conflict(f"{request} is not an emergency request.", code="not_emergency")
        person = actor.person
        if person and person.id in (request.requester_id, request.beneficiary_id):
            raise NotAllowed("Nobody reviews their own emergency access.", field="approver", code="self_approval")
        if actor.user is None and (person is None or not review.reviewers.filter(pk=person.pk).exists()):
            raise NotAllowed(f"{actor.label} is not a reviewer of {request}.", field="approver")
        if review.status != EmergencyReview.Status.PENDING:
            raise Conflict(f"The emergency review of {request} is already {review.status}.", code="already_decided")
        review.status = EmergencyReview.Status.CONFIRMED if confirm else EmergencyReview.Status.REJECTED
        review.decided_by, review.decided_at, review.comment = person, timezone.now(), comment
        review.save(update_fields=["status", "decided_by", "decided_at", "comment"])
        record(
            f"emergency.{review.status}",
            f"Emergency access {review.status} by {actor.label}: {comment}".strip(),
            actor=actor,
            request=request,
            data={"emergency": True, "comment": comment},
        )
        grant = getattr(request, "grant", None)
        if not confirm and grant and grant.status in grant.LIVE:
            grants.revoke_grant(
                grant=grant, actor=actor, reason=f"emergency access rejected: {comment}", authorised=True
            )
    return review


# --- chasing the review: the approval steps' reminder, escalation and deadline rules --------------

ER = EmergencyReview.Status
FOLLOW_UP = Actor.system("follow-up")


def _pending_review(review_id: int, **unset: None) -> EmergencyReview | None:
    """Lock a still-pending review (with `unset` fields still empty), or None."""
    return (
        EmergencyReview.objects.select_for_update(of=("self",))
        .select_related("request__role__application__owner", "request__policy", "request__beneficiary")
        .filter(pk=review_id, status=ER.PENDING, **unset)
        .first()
    )


def _ask(review: EmergencyReview, people, why: str) -> None:
    request = review.request
    for person in people:
        notifications.notify_person(
            person,
            subject=f"{why}: EMERGENCY access to review: {request} — {request.role}",
            body=f"{request.beneficiary.name} took emergency access to {request.role}. Reason: {request.reason}\n"
            f"Confirm or reject it: POST /api/v1/access-requests/{request.jira_issue_key}/emergency-review/ "
            "or in the admin.",
        )


def remind_emergency_review(review_id: int) -> bool:
    """Remind the reviewers of an unanswered emergency review, once."""
    with transaction.atomic():
        review = _pending_review(review_id, reminded_at=None)
        if review is None:
            return False
        review.reminded_at = timezone.now()
        review.save(update_fields=["reminded_at"])
        reviewers = list(review.reviewers.all())
        record(
            "emergency.reminded",
            f"Reminded {', '.join(p.email for p in reviewers) or 'nobody'} that the emergency access awaits review.",
            actor=FOLLOW_UP,
            request=review.request,
            data={"emergency": True},
        )
        _ask(review, reviewers, "Reminder")
    return True


def escalate_emergency_review(review_id: int) -> bool:
    """Add the fallback chain to an emergency review left unanswered too long, once."""
    with transaction.atomic():
        review = _pending_review(review_id, escalated_at=None)
        if review is None:
            return False
        review.escalated_at = timezone.now()
        review.save(update_fields=["escalated_at"])
        request = review.request
        excluded = {request.requester_id, request.beneficiary_id, *review.reviewers.values_list("id", flat=True)}
        people, who = routing.fallback_chain(request.role.application, request.policy, excluded)
        if people:
            review.reviewers.add(*people)
            _ask(review, people, "Escalated")
        record(
            "emergency.escalated" if people else "emergency.escalation_failed",
            f"Emergency review overdue: escalated to {who} ({', '.join(p.email for p in people)})."
            if people
            else "Emergency review overdue and no fallback reviewer is eligible.",
            actor=FOLLOW_UP,
            request=request,
            data={"emergency": True, "added": [p.email for p in people]},
        )
    return True


def expire_emergency_review(review_id: int) -> bool:
    """Past the deadline unanswered: the review expires and the access is revoked if still live."""
    days = settings.GATEHOUSE["REQUEST_DECISION_DEADLINE_DAYS"]
    with transaction.atomic():
        review = _pending_review(review_id)
        if review is None:
            return False
        review.status, review.decided_at = ER.EXPIRED, timezone.now()
        review.save(update_fields=["status", "decided_at"])
        request = review.request
        grant = getattr(request, "grant", None)
        live = grant is not None and grant.status in grant.LIVE
        record(
            "emergency.expired",
            f"Nobody reviewed the emergency access within {days} days"
            + ("; it is revoked." if live else "; it had already ended."),
            actor=FOLLOW_UP,
            request=request,
            data={"emergency": True, "revoked": live},
        )
        if live:
            grants.revoke_grant(
                grant=grant, actor=FOLLOW_UP, reason=f"emergency access unreviewed after {days} days", authorised=True
            )
    return True


def follow_up_emergency_reviews(now: datetime) -> dict[str, int]:
    """The sweep for emergency reviews: deadline first, then escalations, then reminders."""
    pending = EmergencyReview.objects.filter(status=ER.PENDING)
    settings_of = settings.GATEHOUSE
    deadline = now - timedelta(days=settings_of["REQUEST_DECISION_DEADLINE_DAYS"])
    overdue = pending.filter(created_at__lte=deadline).values_list("pk", flat=True)
    expired = sum(expire_emergency_review(pk) for pk in overdue)
    escalate_at = now - timedelta(hours=settings_of["APPROVAL_ESCALATE_AFTER_HOURS"])
    to_escalate = pending.filter(created_at__lte=escalate_at, escalated_at=None).values_list("pk", flat=True)
    escalated = sum(escalate_emergency_review(pk) for pk in to_escalate)
    remind_at = now - timedelta(hours=settings_of["APPROVAL_REMIND_AFTER_HOURS"])
    to_remind = pending.filter(created_at__lte=remind_at, reminded_at=None).values_list("pk", flat=True)
    reminded = sum(remind_emergency_review(pk) for pk in to_remind)
    return {"emergency_expired": expired, "emergency_escalated": escalated, "emergency_reminded": reminded}
