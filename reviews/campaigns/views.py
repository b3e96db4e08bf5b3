"""Reviewer pages (thin: find who signs in, parse the form, call one service, redirect).

Who the reviewer is comes from one place, `current_reviewer`: the Django login linked to a directory
person, or a signed, expiring link that opens one campaign for one person in this browser session.
A link session opens only the campaigns whose links it followed: no other campaign, no home page,
no admin (it is not a login). Every page is `Cache-Control: no-store`.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.core import signing
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from catalog.models import Person
from governance.errors import GovernanceError, NotFound
from reviews.campaigns import services
from reviews.campaigns.forms import BulkForm, DecisionForm, ItemFilterForm
from reviews.models import ReviewCampaign, ReviewItem

LINK_SESSION_KEY = "reviews.links"


def current_reviewer(request: HttpRequest, campaign_id: int | None = None) -> Person | None:
    """The directory person acting: the signed-in user's person, else the person a review link
    opened this campaign for."""
    if request.user.is_authenticated:
        return getattr(request.user, "person", None)
    if campaign_id is not None:
        person_id = request.session.get(LINK_SESSION_KEY, {}).get(str(campaign_id))
        if person_id:
            return Person.objects.filter(pk=person_id).first()
    return None


def _reviewer_or_login(request: HttpRequest, campaign_id: int | None = None) -> Person | HttpResponse:
    person = current_reviewer(request, campaign_id)
    if person is not None:
        return person
    if request.user.is_authenticated:
        return _notice(
            request,
            "No directory person",
            f"Your login {request.user.get_username()} is not linked to a person in the directory; ask IT.",
            403,
        )
    return redirect_to_login(request.get_full_path(), login_url=reverse("accounts:login"))


def _notice(request: HttpRequest, heading: str, message: str, status: int, tone: str = "bad") -> HttpResponse:
    return render(request, "reviews/notice.html", {"heading": heading, "message": message, "tone": tone}, status=status)


@never_cache
@require_GET
def review_link(request: HttpRequest, token: str) -> HttpResponse:
    """A reminder's signed link: remember (campaign → person) in this session and open the page."""
    try:
        campaign_id, person_id = services.read_review_link(token)
    except signing.SignatureExpired:
        return _notice(request, "This link has expired", "Sign in to open your review, or use a newer reminder.", 410)
    except signing.BadSignature:
        return _notice(request, "This link is not valid", "Open the link from your latest reminder email.", 400)
    if request.user.is_authenticated:
        signed_in = getattr(request.user, "person", None)
        if signed_in is None or signed_in.pk != person_id:
            return _notice(request, "This link is for someone else", "Sign out first to use it.", 403)
    else:
        links = dict(request.session.get(LINK_SESSION_KEY, {}))
        if not links:
            request.session.cycle_key()
        links[str(campaign_id)] = person_id
        request.session[LINK_SESSION_KEY] = links
    return redirect("reviews:campaign", campaign_id=campaign_id)


@never_cache
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    if not request.user.is_authenticated:
        return redirect_to_login(request.get_full_path(), login_url=reverse("accounts:login"))
    reviewer = _reviewer_or_login(request)
    if isinstance(reviewer, HttpResponse):
        return reviewer
    campaigns = (
        ReviewCampaign.objects.filter(items__reviewer=reviewer)
        .annotate(
            total=Count("items", filter=Q(items__reviewer=reviewer)),
            done=Count("items", filter=Q(items__reviewer=reviewer) & ~Q(items__decision="undecided")),
        )
        .order_by("-launched_at")
    )
    return render(request, "reviews/home.html", {"reviewer": reviewer, "campaigns": campaigns})


def _campaign_for(reviewer: Person, campaign_id: int) -> ReviewCampaign:
    """The campaign, only if it gives this reviewer items (anything else is a 404)."""
    campaign = ReviewCampaign.objects.filter(pk=campaign_id, items__reviewer=reviewer).distinct().first()
    if campaign is None or campaign.status == ReviewCampaign.Status.DRAFT:
        raise Http404("No such review.")
    return campaign


@never_cache
@require_GET
def campaign_page(request: HttpRequest, campaign_id: int) -> HttpResponse:
    reviewer = _reviewer_or_login(request, campaign_id)
    if isinstance(reviewer, HttpResponse):
        return reviewer
    campaign = _campaign_for(reviewer, campaign_id)
    mine = services.reviewer_items(campaign_id=campaign.pk, reviewer=reviewer)
    filters = ItemFilterForm(request.GET or None)
    items = (
        filters.apply(mine)
        .select_related("application", "person__manager")
        .order_by("application__name", "account_name", "id")
    )
    progress = mine.aggregate(
        total=Count("id"),
        done=Count("id", filter=~Q(decision=ReviewItem.Decision.UNDECIDED)),
        submitted=Count("id", filter=Q(submitted_at__isnull=False)),
    )
    applications = mine.order_by("application__name").values_list("application_id", "application__name").distinct()
    context = {
        "campaign": campaign,
        "reviewer": reviewer,
        "items": items,
        "filters": filters,
        "query": filters.query_string(),
        "progress": progress,
        "applications": list(applications),
        "open": campaign.status == ReviewCampaign.Status.ACTIVE and progress["submitted"] < progress["total"],
        "can_submit": progress["done"] == progress["total"] and progress["submitted"] < progress["total"],
    }
    return render(request, "reviews/campaign.html", context)


def _back(campaign_id: int, query: str, anchor: str = "") -> HttpResponse:
    url = reverse("reviews:campaign", args=[campaign_id]) + (f"?{query}" if query else "") + anchor
    return redirect(url)


@never_cache
@require_POST
def decide(request: HttpRequest, campaign_id: int, item_id: int) -> HttpResponse:
    reviewer = _reviewer_or_login(request, campaign_id)
    if isinstance(reviewer, HttpResponse):
        return reviewer
    form = DecisionForm(request.POST)
    query = ItemFilterForm(request.POST).query_string()
    if not form.is_valid():
        messages.error(request, "Choose Keep or Revoke.")
        return _back(campaign_id, query, f"#item-{item_id}")
    try:
        item = services.decide_item(
            campaign_id=campaign_id,
            item_id=item_id,
            reviewer=reviewer,
            decision=form.cleaned_data["decision"],
            reason=form.cleaned_data["reason"],
        )
    except NotFound:
        raise Http404("No such item in your review.") from None
    except GovernanceError as exc:
        messages.error(request, exc.message)
        return _back(campaign_id, query, f"#item-{item_id}")
    messages.success(request, f"{item.account_name}: {item.get_decision_display()}.")
    return _back(campaign_id, query, f"#item-{item_id}")


@never_cache
@require_POST
def bulk(request: HttpRequest, campaign_id: int) -> HttpResponse:
    reviewer = _reviewer_or_login(request, campaign_id)
    if isinstance(reviewer, HttpResponse):
        return reviewer
    form = BulkForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose a bulk action.")
        return _back(campaign_id, "")
    _campaign_for(reviewer, campaign_id)
    mine = services.reviewer_items(campaign_id=campaign_id, reviewer=reviewer)
    try:
        count = services.bulk_decide(
            campaign_id=campaign_id, reviewer=reviewer, items=form.apply(mine), mode=form.cleaned_data["action"]
        )
    except NotFound:
        raise Http404("No such review.") from None
    except GovernanceError as exc:
        messages.error(request, exc.message)
        return _back(campaign_id, form.query_string())
    messages.success(request, f"{count} undecided item(s) decided.")
    return _back(campaign_id, form.query_string())


@never_cache
@require_POST
def submit(request: HttpRequest, campaign_id: int) -> HttpResponse:
    reviewer = _reviewer_or_login(request, campaign_id)
    if isinstance(reviewer, HttpResponse):
        return reviewer
    _campaign_for(reviewer, campaign_id)
    try:
        count = services.submit_review(campaign_id=campaign_id, reviewer=reviewer)
    except NotFound:
        raise Http404("No such review.") from None
    except GovernanceError as exc:
        messages.error(request, exc.message)
        return _back(campaign_id, "")
    messages.success(request, f"Submitted {count} decisions. Revokes are being carried out.")
    return _back(campaign_id, "")
