"""A reviewer's decisions: keep or revoke their own items, in bulk or one by one, then submit
(which makes them final and executes the revokes)."""

from __future__ import annotations

from django.db import transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from catalog.models import Person
from governance.audit.services import Actor, record, record_many
from governance.errors import Conflict, InvalidInput, NotAllowed, NotFound
from reviews.campaigns.execution import confirm_after_commit, execute_revokes
from reviews.models import ReviewCampaign, ReviewItem

Decision = ReviewItem.Decision
CampaignStatus = ReviewCampaign.Status


def reviewer_items(*, campaign_id: int, reviewer: Person) -> QuerySet[ReviewItem]:
    """The only way a reviewer reaches items: their own, in one campaign."""
    return ReviewItem.objects.filter(campaign_id=campaign_id, reviewer=reviewer)


def _open_campaign(campaign_id: int) -> ReviewCampaign:
    campaign = ReviewCampaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound("No such campaign.")
    if campaign.status != CampaignStatus.ACTIVE:
        raise Conflict(f"Campaign {campaign.name!r} is {campaign.get_status_display().lower()}; decisions are closed.")
    return campaign


def decide_item(*, campaign_id: int, item_id: int, reviewer: Person, decision: str, reason: str = "") -> ReviewItem:
    """Keep or revoke one of the reviewer's own items (NotFound for anyone else's)."""
    reason = (reason or "").strip()
    if decision not in (Decision.KEEP, Decision.REVOKE):
        raise InvalidInput("Choose Keep or Revoke.", field="decision")
    if decision == Decision.REVOKE and not reason:
        raise InvalidInput("Say why the access should be revoked.", field="reason")
    with transaction.atomic():
        campaign = _open_campaign(campaign_id)
        mine = reviewer_items(campaign_id=campaign_id, reviewer=reviewer)
        item = mine.select_for_update(of=("self",)).filter(pk=item_id).order_by().first()
        if item is None:
            raise NotFound("No such item in your review.")
        if item.is_final:
            raise Conflict("This decision was submitted and is final.")
        if item.person_id == reviewer.pk and not campaign.allow_self_review:
            raise NotAllowed("Nobody reviews their own access in this campaign.", field="decision")
        item.decision, item.reason, item.decided_at, item.decided_by = decision, reason, timezone.now(), reviewer
        item.save(update_fields=["decision", "reason", "decided_at", "decided_by"])
        record(
            f"review.{decision}",
            f"{reviewer.email} decided {decision} for {item.account_email} in {campaign.name!r}"
            + (f": {reason}" if reason else "."),
            actor=Actor.of_person(reviewer),
            grant=item.grant if item.grant_id else None,
            subject=item.person if item.person_id else None,
            data={"campaign": campaign.pk, "item": item.pk, "decision": decision, "reason": reason},
        )
    return item


def bulk_decide(*, campaign_id: int, reviewer: Person, items: QuerySet[ReviewItem], mode: str) -> int:
    """Decide every undecided item of `items` (already filtered to the reviewer): "accept" takes each
    recommendation (its reason becomes the decision's reason), "keep" keeps them all."""
    if mode not in ("accept", "keep"):
        raise InvalidInput("Unknown bulk action.", field="action")
    with transaction.atomic():
        campaign = _open_campaign(campaign_id)
        mine = reviewer_items(campaign_id=campaign_id, reviewer=reviewer)
        target = mine.filter(pk__in=items.values("pk"), decision=Decision.UNDECIDED, submitted_at__isnull=True)
        now = timezone.now()
        if mode == "keep":
            kept = target.update(decision=Decision.KEEP, reason="Kept in bulk.", decided_at=now, decided_by=reviewer)
            revoked = 0
        else:
            revoked = target.filter(recommendation=Decision.REVOKE).update(
                decision=Decision.REVOKE, reason=F("recommendation_reason"), decided_at=now, decided_by=reviewer
            )
            kept = target.filter(recommendation=Decision.KEEP).update(
                decision=Decision.KEEP, reason="Accepted the recommendation.", decided_at=now, decided_by=reviewer
            )
        record(
            f"review.bulk_{mode}",
            f"{reviewer.email} decided {kept + revoked} items in bulk ({mode}) in {campaign.name!r}:"
            f" {kept} keep, {revoked} revoke.",
            actor=Actor.of_person(reviewer),
            data={"campaign": campaign.pk, "keep": kept, "revoke": revoked, "mode": mode},
        )
    return kept + revoked


def submit_review(*, campaign_id: int, reviewer: Person) -> int:
    """Make the reviewer's decisions final and execute their revokes. Every item must be decided."""
    with transaction.atomic():
        campaign = _open_campaign(campaign_id)
        pending = reviewer_items(campaign_id=campaign_id, reviewer=reviewer).filter(submitted_at__isnull=True)
        items = list(pending.select_for_update(of=("self",)).order_by("id"))
        if not items:
            raise Conflict("Nothing to submit: your review is already submitted.")
        undecided = sum(1 for i in items if i.decision == Decision.UNDECIDED)
        if undecided:
            raise InvalidInput(f"{undecided} item(s) are still undecided; decide them before submitting.")
        now = timezone.now()
        pending.update(submitted_at=now)
        revokes = [i.pk for i in items if i.decision == Decision.REVOKE]
        record(
            "review.submitted",
            f"{reviewer.email} submitted {len(items)} decisions in {campaign.name!r} ({len(revokes)} revoke).",
            actor=Actor.of_person(reviewer),
            data={"campaign": campaign.pk, "items": len(items), "revokes": len(revokes)},
        )
        _record_kept([i.pk for i in items if i.decision == Decision.KEEP and i.grant_id], campaign, reviewer)
        execute_revokes(revokes, actor=Actor.of_person(reviewer))
        confirm_after_commit(campaign.pk)
    return len(items)


def _record_kept(item_ids: list[int], campaign: ReviewCampaign, reviewer: Person) -> None:
    """One event per kept grant once the decision is final (it comments on the grant's Jira issue)."""
    items = ReviewItem.objects.filter(pk__in=item_ids).select_related("grant__request", "grant__person", "application")
    record_many(
        [
            {
                "action": "review.kept",
                "grant": item.grant,
                "subject": item.grant.person,
                "message": f"{reviewer.email} kept {item.account_email}'s access to {item.application.name} "
                f"{item.role_label} in {campaign.name!r}: {item.reason}".strip(),
                "data": {"campaign": campaign.pk, "item": item.pk},
            }
            for item in items
        ],
        actor=Actor.of_person(reviewer),
    )
