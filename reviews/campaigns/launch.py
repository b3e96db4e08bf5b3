"""Launching a review campaign: snapshot the population, route every item, tell the reviewers
(each through a signed link to their own list)."""

from __future__ import annotations

from collections.abc import Iterable

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import Person
from governance.audit.services import Actor, record
from governance.errors import Conflict, InvalidInput
from governance.models import Grant
from governance.services import notify_people
from governance.signed_links import SignedLink
from lib.bulk import insert_values
from reviews.campaigns import snapshot
from reviews.campaigns.accounts_import import ImportedAccount, parse_account_list
from reviews.models import ReviewCampaign, ReviewItem

Decision = ReviewItem.Decision
CampaignStatus = ReviewCampaign.Status

LINK_SALT = "gatehouse.review-link"


def link_max_age_days() -> int:
    return int(settings.GATEHOUSE.get("REVIEW_LINK_MAX_AGE_DAYS", settings.GATEHOUSE["APPROVAL_LINK_MAX_AGE_DAYS"]))


REVIEW_LINK = SignedLink(view="reviews:link", salt=LINK_SALT, keys=("c", "p"), max_age_days=link_max_age_days)


def review_link(campaign: ReviewCampaign, person: Person) -> str:
    """An absolute, signed URL to `person`'s review page of `campaign`, valid for REVIEW_LINK_MAX_AGE_DAYS."""
    return REVIEW_LINK.url(campaign.pk, person.pk)


def read_review_link(token: str) -> tuple[int, int]:
    """(campaign id, person id); raises signing.SignatureExpired / BadSignature."""
    campaign_id, person_id = REVIEW_LINK.read(token)
    return campaign_id, person_id


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


def _bulk_insert(rows) -> int:
    return insert_values(ReviewItem, snapshot.ROW_FIELDS, rows, batch_size=snapshot.BATCH)


def launch_campaign(
    *, campaign: ReviewCampaign, actor: Actor, uploads: dict[int, tuple[str, bytes]] | None = None
) -> ReviewCampaign:
    """Snapshot the population, route and recommend every item, and open the campaign to reviewers.

    `uploads` maps an application id to (filename, content) for applications without mapped groups."""
    if campaign.status != CampaignStatus.DRAFT:
        raise Conflict(f"Campaign {campaign.name!r} is {campaign.status}; only a draft can be launched.")
    if not campaign.applications.exists() and not campaign.roles.exists():
        raise InvalidInput("Choose the applications or roles the campaign reviews.", field="applications")
    accounts = _parse_uploads(campaign, uploads or {})
    with transaction.atomic():
        campaign = ReviewCampaign.objects.select_for_update().get(pk=campaign.pk)
        if campaign.status != CampaignStatus.DRAFT:
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
        campaign.status = CampaignStatus.ACTIVE
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
        reviewers = Person.objects.filter(pk__in=ReviewItem.objects.filter(campaign=campaign).values("reviewer_id"))
        tell_reviewers(campaign, reviewers, intro="You have access to review")
    return campaign


def tell_reviewer(campaign: ReviewCampaign, reviewer: Person, *, intro: str) -> None:
    tell_reviewers(campaign, [reviewer], intro=intro)


def tell_reviewers(campaign: ReviewCampaign, reviewers: Iterable[Person], *, intro: str) -> None:
    """Send each reviewer their own signed link to their list of `campaign` (one INSERT for all)."""
    messages, links = [], []
    for reviewer in reviewers:
        link = review_link(campaign, reviewer)
        body = (
            f"{intro} in the campaign “{campaign.name}”, due {campaign.due_at:%Y-%m-%d %H:%M} UTC.\n\n"
            f"Open your list: {link}\n"
            f"(The link is for you only and expires in {link_max_age_days()} days.)\n"
        )
        messages.append((reviewer, f"Access review: {campaign.name} (due {campaign.due_at:%Y-%m-%d})", body))
        links.append(("Open my review", link))  # a button in Slack
    if messages:
        notify_people(messages, links=links)
