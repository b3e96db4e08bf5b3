"""Executing revokes a review decided, through governance's services, and confirming the removals
(each documented by its Jira ticket)."""

from __future__ import annotations

from datetime import datetime, timedelta

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from catalog.models import GroupMembership
from governance.audit.services import Actor, record
from governance.errors import Conflict
from governance.models import Grant
from governance.services import remove_standing_membership, revoke_grant
from lib.broker import queue_task
from provisioning.models import MembershipChange
from reviews.campaigns.tickets import open_removal_ticket, resolve_removal_ticket
from reviews.models import ReviewCampaign, ReviewItem

Decision = ReviewItem.Decision
CampaignStatus = ReviewCampaign.Status

CONFIRM_TASK = "reviews.campaigns.tasks.confirm_campaign_removals"


def execute_revokes(item_ids: list[int], *, actor: Actor) -> None:
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        qs = ReviewItem.objects.filter(pk__in=chunk).select_related("campaign", "application", "grant", "group")
        for item in qs.select_related("person", "decided_by"):
            execute_revoke(item, actor=actor)


def _record(item: ReviewItem, action: str, message: str, *, actor: Actor, **data) -> None:
    """The audit event of something done about one item (its grant and person when it has them)."""
    record(
        action,
        message,
        actor=actor,
        grant=item.grant if item.grant_id else None,
        subject=item.person if item.person_id else None,
        data={"campaign": item.campaign_id, "item": item.pk, **data},
    )


def execute_revoke(item: ReviewItem, *, actor: Actor) -> ReviewItem:
    """Remove the access a submitted revoke names, through governance's services, and ask for the
    Jira issue that documents it. Call inside a transaction."""
    if item.executed_at is not None:
        return item
    why = f"access review “{item.campaign.name}”: {item.reason}"
    note = ""
    if item.grant_id:
        grant = item.grant
        if grant.status in Grant.LIVE:
            revoke_grant(grant=grant, actor=actor, reason=why, authorised=True)
            note = f"grant #{grant.pk} revoked"
            note += _remove_leftover_memberships(item, actor=actor, reason=why)
        else:
            note = f"grant #{grant.pk} had already ended ({grant.status})"
    elif item.group_id and item.person_id:
        try:
            change = remove_standing_membership(person=item.person, group=item.group, actor=actor, reason=why)
            note = f"removal from {item.group.name} queued (change #{change.pk})"
        except Conflict as exc:
            note = f"not removed: {exc.message}"
    else:
        note = f"manual removal in {item.application.name}: IT removes the account, then confirms in the admin"
    item.executed_at = timezone.now()
    item.execution_note = note[:500]
    item.save(update_fields=["executed_at", "execution_note"])
    _record(
        item,
        "review.revoke_executed",
        f"Review revoke of {item.account_email} from {item.application.name}: {note}.",
        actor=actor,
        note=note,
    )
    open_removal_ticket(item)
    return item


def _remove_leftover_memberships(item: ReviewItem, *, actor: Actor, reason: str) -> str:
    """A reviewer's revoke is explicit: memberships the grant kept because they pre-dated it go too,
    unless another live grant still needs them."""
    kept = GroupMembership.objects.filter(
        person_id=item.grant.person_id,
        origin=GroupMembership.Origin.EXTERNAL,
        group__role_mappings__role_id=item.grant.role_id,
    ).select_related("group", "person")
    removed = []
    for membership in kept:
        try:
            remove_standing_membership(person=membership.person, group=membership.group, actor=actor, reason=reason)
            removed.append(membership.group.name)
        except Conflict:
            continue
    return f"; pre-existing membership(s) removed too: {', '.join(removed)}" if removed else ""


def confirm_after_commit(campaign_id: int) -> None:
    transaction.on_commit(lambda: queue_task(CONFIRM_TASK, campaign_id))


def _removal_done_at(item: ReviewItem) -> datetime | None:
    if item.grant_id:
        return item.grant.removed_at
    if item.group_id and item.person_id:
        changes = MembershipChange.objects.filter(
            person_id=item.person_id,
            group_id=item.group_id,
            action=MembershipChange.Action.REMOVE,
            created_at__gte=item.executed_at - timedelta(seconds=1),
        )
        if changes.filter(status__in=MembershipChange.OPEN).exists():
            return None
        done = changes.filter(status=MembershipChange.Status.SUCCEEDED).aggregate(at=Max("finished_at"))["at"]
        if done:
            return done
        if not GroupMembership.objects.filter(person_id=item.person_id, group_id=item.group_id).exists():
            return item.executed_at
    return None


def confirm_removals(*, campaign_id: int | None = None, limit: int = 2000) -> int:
    """Mark executed revokes whose removal the provider confirmed, and ask for their tickets' resolution."""
    waiting = ReviewItem.objects.filter(executed_at__isnull=False, removal_confirmed_at__isnull=True)
    if campaign_id is not None:
        waiting = waiting.filter(campaign_id=campaign_id)
    waiting = waiting.exclude(source=ReviewItem.Source.CSV_IMPORT, grant__isnull=True)
    confirmed = 0
    for item_id in list(waiting.order_by("id").values_list("id", flat=True)[:limit]):
        with transaction.atomic():
            item = (
                ReviewItem.objects.select_for_update(of=("self",))
                .select_related("grant", "campaign", "application", "person")
                .get(pk=item_id)
            )
            if item.removal_confirmed_at is not None:
                continue
            done_at = _removal_done_at(item)
            if done_at is None:
                continue
            _confirm(item, done_at, actor=Actor.system("reviews"))
            confirmed += 1
    return confirmed


def _confirm(item: ReviewItem, done_at: datetime, *, actor: Actor) -> None:
    item.removal_confirmed_at = done_at
    item.save(update_fields=["removal_confirmed_at"])
    _record(
        item,
        "review.removal_confirmed",
        f"Removal of {item.account_email} from {item.application.name} confirmed.",
        actor=actor,
    )
    resolve_removal_ticket(item)


def confirm_manual_removal(*, item: ReviewItem, actor: Actor) -> ReviewItem:
    """IT removed an imported account by hand (applications without groups)."""
    with transaction.atomic():
        item = (
            ReviewItem.objects.select_for_update(of=("self",)).select_related("campaign", "application").get(pk=item.pk)
        )
        if item.executed_at is None:
            raise Conflict("This item has no executed revoke to confirm.")
        if item.removal_confirmed_at is not None:
            raise Conflict("This removal is already confirmed.")
        _confirm(item, timezone.now(), actor=actor)
    return item
