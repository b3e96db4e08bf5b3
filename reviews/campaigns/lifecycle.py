"""Reviews reacting to lifecycle events (registered with governance.lifecycle.ports in apps.py)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.utils import timezone

from catalog.models import Person
from governance.audit.services import Actor, record
from governance.models import Grant, LifecycleEvent, Offboarding
from governance.requests.routing import it_approvers
from reviews.campaigns.services import launch_campaign, move_to_reviewer, tell_reviewer
from reviews.models import ReviewCampaign, ReviewerStrategy, ReviewItem

SYSTEM = Actor.system("lifecycle")


def move_leaver_items(*, offboarding: Offboarding) -> dict:
    """The leaver's unsubmitted review items go to each campaign's fallback reviewer."""
    person = offboarding.person
    now = timezone.now()
    items = ReviewItem.objects.filter(
        reviewer=person, submitted_at__isnull=True, campaign__status=ReviewCampaign.Status.ACTIVE
    )
    campaigns = ReviewCampaign.objects.filter(pk__in=items.values("campaign_id")).select_related("fallback_reviewer")
    moved = 0
    for campaign in campaigns.order_by("id"):
        fallback = campaign.fallback_reviewer
        if fallback.pk == person.pk or not fallback.is_active:
            record(
                "review.items_not_moved",
                f"{person.email} left, but {campaign.name!r} has no other active fallback reviewer: set one.",
                actor=SYSTEM,
                subject=person,
                data={"campaign": campaign.pk},
            )
            continue
        mine = items.filter(campaign=campaign)
        if not campaign.allow_self_review:
            mine = mine.exclude(person=fallback)
        count = move_to_reviewer(mine, fallback, now, "the reviewer left: moved to the fallback reviewer")
        if not count:
            continue
        tell_reviewer(campaign, fallback, intro=f"Moved to you: {count} items of a reviewer who left")
        record(
            "review.items_moved",
            f"{count} review items of {person.email} (who left) moved to {fallback.email} in {campaign.name!r}.",
            actor=SYSTEM,
            subject=person,
            data={"campaign": campaign.pk, "items": count, "to": fallback.email, "offboarding": offboarding.pk},
        )
        moved += count
    return {"review_items_moved": moved}


def _fallback_for(person: Person) -> Person | None:
    """Who reviews what the new manager cannot: IT (the global policy's fallback), never the mover."""
    for candidate in it_approvers():
        if candidate.pk != person.pk and candidate.is_active:
            return candidate
    return None


def open_mover_review(*, event: LifecycleEvent, grants: list[Grant]) -> dict:
    """A small campaign of the mover's access, reviewed by their (new) manager."""
    person = event.person
    fallback = _fallback_for(person)
    if fallback is None:
        record(
            "review.mover_review_not_opened",
            f"No mover review for {person.email}: the global default policy names no fallback approver.",
            actor=SYSTEM,
            subject=person,
            data={"event": event.pk},
        )
        return {"review_campaign": None}
    now = timezone.now()
    moved = ", ".join(f"{k} → {v[1] or '—'}" for k, v in event.changes.items())
    campaign = ReviewCampaign.objects.create(
        name=f"Mover review: {person.email} ({moved})"[:200],
        person=person,
        starts_at=now,
        due_at=now + timedelta(days=settings.GATEHOUSE["MOVER_REVIEW_DAYS"]),
        reviewer_strategy=ReviewerStrategy.MANAGER,
        fallback_reviewer=fallback,
        escalate_days_before_due=min(2, max(settings.GATEHOUSE["MOVER_REVIEW_DAYS"] - 1, 0)),
    )
    campaign.roles.set({grant.role_id for grant in grants})
    launch_campaign(campaign=campaign, actor=SYSTEM)
    return {"review_campaign": campaign.pk}
