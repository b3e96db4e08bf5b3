"""The page behind an Auto Reclaim warning's link: "Keep my access" (thin: read the signed link,
confirm with a POST, call `keep_access`). The signed link is the authorisation, for one person
and one policy; GET changes nothing."""

from __future__ import annotations

from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from catalog.models import Person
from governance.errors import GovernanceError
from reviews.models import ReclaimPolicy
from reviews.reclaim.keep import keep_access
from reviews.reclaim.links import read_keep_link


def _notice(request: HttpRequest, heading: str, message: str, status: int, tone: str = "bad") -> HttpResponse:
    return render(request, "reviews/notice.html", {"heading": heading, "message": message, "tone": tone}, status=status)


@never_cache
@require_http_methods(["GET", "POST"])
def keep_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        policy_id, person_id = read_keep_link(token)
    except signing.SignatureExpired:
        return _notice(request, "This link has expired", "Use the application, or ask IT if you still need it.", 410)
    except signing.BadSignature:
        return _notice(request, "This link is not valid", "Open the link from your latest warning.", 400)
    policy = ReclaimPolicy.objects.select_related("application").filter(pk=policy_id).first()
    person = Person.objects.filter(pk=person_id).first()
    if policy is None or person is None:
        return _notice(request, "Nothing to keep", "This warning no longer applies.", 404)
    if request.method == "GET":
        return render(request, "reviews/reclaim_keep.html", {"policy": policy, "person": person})
    try:
        kept = keep_access(person=person, policy=policy)
    except GovernanceError as error:
        return _notice(request, "Nothing to keep", f"Not recorded: {error.message}", 409)
    return _notice(
        request,
        "Your access stays",
        f"Thank you, {person.name}: your access to {policy.application.name} is kept ({kept} item"
        f"{'s' if kept != 1 else ''}).",
        200,
        tone="ok",
    )
