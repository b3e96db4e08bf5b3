"""Break-glass: emergency access granted at once for a short window, reviewed after the fact."""

from __future__ import annotations

from datetime import timedelta

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
