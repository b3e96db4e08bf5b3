"""Follow-through of a campaign: reminders, escalation to the fallback reviewer, and closing at
the due date (undecided items get the campaign's rule)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Count, F, Max, Q, QuerySet
from django.utils import timezone

from catalog.models import Person
from governance.audit.services import Actor, record
from reviews.campaigns.execution import confirm_after_commit, execute_revokes
from reviews.campaigns.launch import tell_reviewer
from reviews.models import ReviewCampaign, ReviewItem

Decision = ReviewItem.Decision
CampaignStatus = ReviewCampaign.Status


def close_due_campaigns(*, now: datetime | None = None) -> int:
    """At the due date: decided items become final and execute; undecided ones get the campaign's rule."""
    now = now or timezone.now()
    due = ReviewCampaign.objects.filter(status=CampaignStatus.ACTIVE, due_at__lte=now).values_list("id", flat=True)
    return sum(1 for campaign_id in list(due) if close_campaign(campaign_id=campaign_id))


def close_campaign(*, campaign_id: int, actor: Actor | None = None) -> bool:
    """Close one campaign (see close_due_campaigns); False if it is not active."""
    actor = actor or Actor.system("reviews.due_date")
    with transaction.atomic():
        campaign = ReviewCampaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status != CampaignStatus.ACTIVE:
            return False
        now = timezone.now()
        open_items = campaign.items.filter(submitted_at__isnull=True)
        undecided = open_items.filter(decision=Decision.UNDECIDED)
        undecided_count = undecided.count()
        if campaign.undecided_action == ReviewCampaign.UndecidedAction.REVOKE:
            undecided.update(
                decision=Decision.REVOKE,
                decided_at=now,
                reason="Undecided at the due date: the campaign revokes undecided access.",
            )
        revokes = list(open_items.filter(decision=Decision.REVOKE).values_list("id", flat=True))
        open_items.exclude(decision=Decision.UNDECIDED).update(submitted_at=now)
        campaign.status, campaign.closed_at = CampaignStatus.CLOSED, now
        campaign.save(update_fields=["status", "closed_at"])
        rule = campaign.get_undecided_action_display().lower()
        record(
            "review.campaign_closed",
            f"Campaign {campaign.name!r} closed at its due date; {undecided_count} undecided item(s): {rule}.",
            actor=actor,
            data={"campaign": campaign.pk, "undecided": undecided_count, "rule": campaign.undecided_action},
        )
        execute_revokes(revokes, actor=actor)
        confirm_after_commit(campaign.pk)
    return True


def _pending_by_reviewer(campaign: ReviewCampaign) -> QuerySet:
    return (
        campaign.items.filter(submitted_at__isnull=True)
        .order_by()
        .values("reviewer_id")
        .annotate(
            pending=Count("id", filter=Q(decision=Decision.UNDECIDED)), total=Count("id"), last=Max("reminded_at")
        )
    )


def send_reminders(*, now: datetime | None = None) -> int:
    """Remind each reviewer who has unsubmitted items, every campaign.reminder_every_days."""
    now = now or timezone.now()
    sent = 0
    for campaign in ReviewCampaign.objects.filter(
        status=CampaignStatus.ACTIVE, due_at__gt=now, reminder_every_days__gt=0
    ):
        every = timedelta(days=campaign.reminder_every_days)
        for row in _pending_by_reviewer(campaign):
            last = row["last"] or campaign.launched_at
            if last and now - last < every:
                continue
            with transaction.atomic():
                reviewer = Person.objects.get(pk=row["reviewer_id"])
                campaign.items.filter(reviewer=reviewer, submitted_at__isnull=True).update(reminded_at=now)
                tell_reviewer(
                    campaign, reviewer, intro=f"Reminder: {row['pending']} of {row['total']} items still need you"
                )
                record(
                    "review.reminded",
                    f"{reviewer.email} reminded of {row['total']} unsubmitted items in {campaign.name!r}.",
                    actor=Actor.system("reviews.reminders"),
                    subject=reviewer,
                    data={"campaign": campaign.pk, "pending": row["pending"], "total": row["total"]},
                )
            sent += 1
    return sent


def move_to_reviewer(items: QuerySet[ReviewItem], reviewer: Person, now: datetime, note: str) -> int:
    """Hand unsubmitted items to another reviewer, remembering whose they were."""
    return items.update(escalated_from=F("reviewer"), reviewer=reviewer, escalated_at=now, routing_note=note)


def escalate_overdue(*, now: datetime | None = None) -> int:
    """Close to the due date, move unsubmitted items to the fallback reviewer (never their own access
    unless self-review is allowed) and tell them."""
    now = now or timezone.now()
    moved = 0
    for campaign in ReviewCampaign.objects.filter(status=CampaignStatus.ACTIVE, due_at__gt=now).select_related(
        "fallback_reviewer"
    ):
        if now < campaign.due_at - timedelta(days=campaign.escalate_days_before_due):
            continue
        fallback = campaign.fallback_reviewer
        with transaction.atomic():
            items = campaign.items.filter(submitted_at__isnull=True).exclude(reviewer=fallback)
            if not campaign.allow_self_review:
                items = items.exclude(person=fallback)
            count = move_to_reviewer(items, fallback, now, "escalated to the fallback reviewer before the due date")
            if not count:
                continue
            tell_reviewer(campaign, fallback, intro=f"Escalated to you: {count} unfinished items")
            record(
                "review.escalated",
                f"{count} unsubmitted items of {campaign.name!r} escalated to {fallback.email}.",
                actor=Actor.system("reviews.escalation"),
                subject=fallback,
                data={"campaign": campaign.pk, "items": count},
            )
        moved += count
    return moved
