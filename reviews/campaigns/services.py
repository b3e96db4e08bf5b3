"""Review campaigns: launch, decide, submit (executes revokes), follow-through, removal confirmation.

Each public function is one business action in one transaction with its audit event.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from itertools import islice

from django.conf import settings
from django.core import signing
from django.db import transaction
from django.db.models import Count, F, Max, Q, QuerySet
from django.urls import reverse
from django.utils import timezone
from django_q.tasks import async_task

from catalog.models import GroupMembership, Person
from governance.audit.services import Actor, record, record_many
from governance.errors import Conflict, InvalidInput, NotAllowed, NotFound
from governance.models import Grant
from governance.services import notify_person, remove_standing_membership, revoke_grant
from provisioning.models import MembershipChange
from reviews.campaigns import snapshot
from reviews.campaigns.accounts_import import ImportedAccount, parse_account_list
from reviews.campaigns.tickets import open_removal_ticket, resolve_removal_ticket
from reviews.models import ReviewCampaign, ReviewItem

D = ReviewItem.Decision
CS = ReviewCampaign.Status
LINK_SALT = "gatehouse.review-link"
CONFIRM_TASK = "reviews.campaigns.tasks.confirm_campaign_removals"


# --- Signed links -------------------------------------------------------------------------------


def review_link(campaign: ReviewCampaign, person: Person) -> str:
    """An absolute, signed URL to `person`'s review page of `campaign`, valid for REVIEW_LINK_MAX_AGE_DAYS."""
    token = signing.dumps({"c": campaign.pk, "p": person.pk}, salt=LINK_SALT, compress=True)
    return settings.GATEHOUSE["BASE_URL"].rstrip("/") + reverse("reviews:link", args=[token])


def link_max_age_days() -> int:
    return int(settings.GATEHOUSE.get("REVIEW_LINK_MAX_AGE_DAYS", settings.GATEHOUSE["APPROVAL_LINK_MAX_AGE_DAYS"]))


def read_review_link(token: str) -> tuple[int, int]:
    """(campaign id, person id); raises signing.SignatureExpired / BadSignature."""
    data = signing.loads(token, salt=LINK_SALT, max_age=link_max_age_days() * 86400)
    return int(data["c"]), int(data["p"])


# --- Launch -------------------------------------------------------------------------------------


def _parse_uploads(campaign: ReviewCampaign, uploads: dict[int, tuple[str, bytes]]) -> dict[int, list[ImportedAccount]]:
    """Every needed account list, parsed; InvalidInput (ImportRejected) before anything is written."""
    # One person's access (a mover review): their grants are the population, no account list needed.
    apps = [] if campaign.person_id else snapshot.applications_without_groups(campaign)
    needed = {app.pk: app for app in apps}
    stray = set(uploads) - set(needed)
    if stray:
        raise InvalidInput(
            "Account lists are only for applications without mapped groups; "
            f"remove the upload for application id(s) {', '.join(map(str, sorted(stray)))}.",
            field="upload",
        )
    missing = [app.name for pk, app in needed.items() if pk not in uploads]
    if missing:
        raise InvalidInput(
            f"Upload the account list (CSV or XLSX) of {', '.join(missing)}: no identity-provider groups are "
            "mapped, so the population cannot be read from the provider.",
            field="upload",
        )
    return {pk: parse_account_list(name, content) for pk, (name, content) in uploads.items()}


def _bulk_insert(items) -> int:
    count = 0
    while batch := list(islice(items, snapshot.BATCH)):
        ReviewItem.objects.bulk_create(batch, batch_size=snapshot.BATCH)
        count += len(batch)
    return count


def launch_campaign(
    *, campaign: ReviewCampaign, actor: Actor, uploads: dict[int, tuple[str, bytes]] | None = None
) -> ReviewCampaign:
    """Snapshot the population, route and recommend every item, and open the campaign to reviewers.

    `uploads` maps an application id to (filename, content) for applications without mapped groups."""
    if campaign.status != CS.DRAFT:
        raise Conflict(f"Campaign {campaign.name!r} is {campaign.status}; only a draft can be launched.")
    if not campaign.applications.exists() and not campaign.roles.exists():
        raise InvalidInput("Choose the applications or roles the campaign reviews.", field="applications")
    accounts = _parse_uploads(campaign, uploads or {})
    with transaction.atomic():
        campaign = ReviewCampaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != CS.DRAFT:
            raise Conflict(f"Campaign {campaign.name!r} was launched meanwhile.")
        now = timezone.now()
        live = Grant.objects.filter(status__in=Grant.LIVE, role__in=snapshot.scoped_roles(campaign))
        if campaign.person_id:
            live = live.filter(person_id=campaign.person_id)
        ctx = snapshot.load_context(campaign, now, live)
        granted = _bulk_insert(snapshot.grant_items(ctx, live, skip_apps=set(accounts)))
        drift = _bulk_insert(snapshot.drift_items(ctx))
        imported = 0
        for app_id, rows in accounts.items():
            imported += _bulk_insert(snapshot.imported_items(ctx, app_id, rows, live))
        sources = [f"{granted} Gatehouse grants", f"{drift} provider memberships without a grant"]
        if accounts:
            names = ", ".join(uploads[a][0] for a in accounts)
            sources.append(f"{imported} imported accounts ({names})")
        campaign.status = CS.ACTIVE
        campaign.launched_at = now
        campaign.snapshot_size = granted + drift + imported
        campaign.snapshot_source = "; ".join(sources)
        campaign.save(update_fields=["status", "launched_at", "snapshot_size", "snapshot_source"])
        record(
            "review.campaign_launched",
            f"Campaign {campaign.name!r} launched: {campaign.snapshot_size} items ({campaign.snapshot_source}).",
            actor=actor,
            data={"campaign": campaign.pk, "size": campaign.snapshot_size, "source": campaign.snapshot_source},
        )
        for reviewer in Person.objects.filter(review_items__campaign=campaign).distinct():
            tell_reviewer(campaign, reviewer, intro="You have access to review")
    return campaign


def tell_reviewer(campaign: ReviewCampaign, reviewer: Person, *, intro: str) -> None:
    notify_person(
        reviewer,
        subject=f"Access review: {campaign.name} (due {campaign.due_at:%Y-%m-%d})",
        body=(
            f"{intro} in the campaign “{campaign.name}”, due {campaign.due_at:%Y-%m-%d %H:%M} UTC.\n\n"
            f"Open your list: {review_link(campaign, reviewer)}\n"
            f"(The link is for you only and expires in {link_max_age_days()} days.)\n"
        ),
    )


# --- Reviewer decisions --------------------------------------------------------------------------


def reviewer_items(*, campaign_id: int, reviewer: Person) -> QuerySet[ReviewItem]:
    """The only way a reviewer reaches items: their own, in one campaign."""
    return ReviewItem.objects.filter(campaign_id=campaign_id, reviewer=reviewer)


def _open_campaign(campaign_id: int) -> ReviewCampaign:
    campaign = ReviewCampaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        raise NotFound("No such campaign.")
    if campaign.status != CS.ACTIVE:
        raise Conflict(f"Campaign {campaign.name!r} is {campaign.get_status_display().lower()}; decisions are closed.")
    return campaign


def decide_item(*, campaign_id: int, item_id: int, reviewer: Person, decision: str, reason: str = "") -> ReviewItem:
    """Keep or revoke one of the reviewer's own items (NotFound for anyone else's)."""
    reason = (reason or "").strip()
    if decision not in (D.KEEP, D.REVOKE):
        raise InvalidInput("Choose Keep or Revoke.", field="decision")
    if decision == D.REVOKE and not reason:
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
        target = mine.filter(pk__in=items.values("pk"), decision=D.UNDECIDED, submitted_at__isnull=True)
        now = timezone.now()
        if mode == "keep":
            kept = target.update(decision=D.KEEP, reason="Kept in bulk.", decided_at=now, decided_by=reviewer)
            revoked = 0
        else:
            revoked = target.filter(recommendation=D.REVOKE).update(
                decision=D.REVOKE, reason=F("recommendation_reason"), decided_at=now, decided_by=reviewer
            )
            kept = target.filter(recommendation=D.KEEP).update(
                decision=D.KEEP, reason="Accepted the recommendation.", decided_at=now, decided_by=reviewer
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
        undecided = sum(1 for i in items if i.decision == D.UNDECIDED)
        if undecided:
            raise InvalidInput(f"{undecided} item(s) are still undecided; decide them before submitting.")
        now = timezone.now()
        pending.update(submitted_at=now)
        revokes = [i.pk for i in items if i.decision == D.REVOKE]
        record(
            "review.submitted",
            f"{reviewer.email} submitted {len(items)} decisions in {campaign.name!r} ({len(revokes)} revoke).",
            actor=Actor.of_person(reviewer),
            data={"campaign": campaign.pk, "items": len(items), "revokes": len(revokes)},
        )
        _record_kept([i.pk for i in items if i.decision == D.KEEP and i.grant_id], campaign, reviewer)
        _execute(revokes, actor=Actor.of_person(reviewer))
        _confirm_after_commit(campaign.pk)
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


# --- Execution ----------------------------------------------------------------------------------


def _execute(item_ids: list[int], *, actor: Actor) -> None:
    for start in range(0, len(item_ids), 500):
        chunk = item_ids[start : start + 500]
        qs = ReviewItem.objects.filter(pk__in=chunk).select_related("campaign", "application", "grant", "group")
        for item in qs.select_related("person", "decided_by"):
            execute_revoke(item, actor=actor)


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
    record(
        "review.revoke_executed",
        f"Review revoke of {item.account_email} from {item.application.name}: {note}.",
        actor=actor,
        grant=item.grant if item.grant_id else None,
        subject=item.person if item.person_id else None,
        data={"campaign": item.campaign_id, "item": item.pk, "note": note},
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


def _confirm_after_commit(campaign_id: int) -> None:
    transaction.on_commit(lambda: async_task(CONFIRM_TASK, campaign_id))


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
    record(
        "review.removal_confirmed",
        f"Removal of {item.account_email} from {item.application.name} confirmed.",
        actor=actor,
        grant=item.grant if item.grant_id else None,
        subject=item.person if item.person_id else None,
        data={"campaign": item.campaign_id, "item": item.pk},
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


# --- Follow-through -----------------------------------------------------------------------------


def close_due_campaigns(*, now: datetime | None = None) -> int:
    """At the due date: decided items become final and execute; undecided ones get the campaign's rule."""
    now = now or timezone.now()
    due = ReviewCampaign.objects.filter(status=CS.ACTIVE, due_at__lte=now).values_list("id", flat=True)
    return sum(1 for campaign_id in list(due) if close_campaign(campaign_id=campaign_id))


def close_campaign(*, campaign_id: int, actor: Actor | None = None) -> bool:
    """Close one campaign (see close_due_campaigns); False if it is not active."""
    actor = actor or Actor.system("reviews.due_date")
    with transaction.atomic():
        campaign = ReviewCampaign.objects.select_for_update().get(pk=campaign_id)
        if campaign.status != CS.ACTIVE:
            return False
        now = timezone.now()
        open_items = campaign.items.filter(submitted_at__isnull=True)
        undecided = open_items.filter(decision=D.UNDECIDED)
        undecided_count = undecided.count()
        if campaign.undecided_action == ReviewCampaign.UndecidedAction.REVOKE:
            undecided.update(
                decision=D.REVOKE,
                decided_at=now,
                reason="Undecided at the due date: the campaign revokes undecided access.",
            )
        revokes = list(open_items.filter(decision=D.REVOKE).values_list("id", flat=True))
        open_items.exclude(decision=D.UNDECIDED).update(submitted_at=now)
        campaign.status, campaign.closed_at = CS.CLOSED, now
        campaign.save(update_fields=["status", "closed_at"])
        rule = campaign.get_undecided_action_display().lower()
        record(
            "review.campaign_closed",
            f"Campaign {campaign.name!r} closed at its due date; {undecided_count} undecided item(s): {rule}.",
            actor=actor,
            data={"campaign": campaign.pk, "undecided": undecided_count, "rule": campaign.undecided_action},
        )
        _execute(revokes, actor=actor)
        _confirm_after_commit(campaign.pk)
    return True


def _pending_by_reviewer(campaign: ReviewCampaign) -> QuerySet:
    return (
        campaign.items.filter(submitted_at__isnull=True)
        .order_by()
        .values("reviewer_id")
        .annotate(pending=Count("id", filter=Q(decision=D.UNDECIDED)), total=Count("id"), last=Max("reminded_at"))
    )


def send_reminders(*, now: datetime | None = None) -> int:
    """Remind each reviewer who has unsubmitted items, every campaign.reminder_every_days."""
    now = now or timezone.now()
    sent = 0
    for campaign in ReviewCampaign.objects.filter(status=CS.ACTIVE, due_at__gt=now, reminder_every_days__gt=0):
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
    for campaign in ReviewCampaign.objects.filter(status=CS.ACTIVE, due_at__gt=now).select_related("fallback_reviewer"):
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
