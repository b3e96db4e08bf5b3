"""The approver page, reached from a signed, expiring link (thin: parse, one service call, render).

The link's GET exchanges its token for this browser session and redirects to the token-less
`/approvals/step/<id>/`: the session then opens that one step, as the link's addressee, and
nothing else (no login, no other step). A person signed in (company SSO) opens the steps routed
to them without a link. Keeping the token out of the page URL keeps it out of
browser history, Referer headers and the access log of every later request.
"""

from __future__ import annotations

from urllib.parse import urlencode

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_http_methods

from accounts import oidc
from catalog.durations import format_iso_duration
from catalog.models import GroupMembership, Person
from governance import services
from governance.errors import GovernanceError
from governance.models import AccessRequest, ApprovalStep, Grant
from governance.notifications.services import read_approval_link
from governance.requests import channels

LINK_SESSION_KEY = "governance.approval_links"


def _notice(request: HttpRequest, heading: str, message: str, status: int, tone: str = "bad") -> HttpResponse:
    context = {"heading": heading, "message": message, "tone": tone}
    return render(request, "governance/approval_notice.html", context, status=status)


def _load(step_id: int, person_id: int) -> tuple[ApprovalStep, Person]:
    step = ApprovalStep.objects.select_related(
        "request__beneficiary__manager", "request__requester", "request__role__application", "decided_by"
    ).get(pk=step_id)
    return step, Person.objects.get(pk=person_id)


def _refusal(request: HttpRequest, step: ApprovalStep, approver: Person) -> HttpResponse | None:
    """A clear page for every case where this link cannot be used now."""
    signed_in = getattr(request.user, "person", None) if request.user.is_authenticated else None
    if request.user.is_authenticated and (signed_in is None or signed_in.pk != approver.pk):
        who = signed_in.email if signed_in else request.user.get_username()
        return _notice(
            request,
            "This link is for someone else",
            f"It was sent to {approver.email}, and you are signed in as {who}.",
            403,
        )
    if step.status != ApprovalStep.Status.PENDING:
        by = step.decided_by.email if step.decided_by else "policy or an administrator"
        done = f"{step.get_status_display().lower()} by {by}" if step.decided_at else step.get_status_display().lower()
        return _notice(
            request,
            "Already decided",
            f"Step {step.order} of {step.request} is {done}. Nothing more is needed from you.",
            200,
            "ok",
        )
    if not step.approvers.filter(pk=approver.pk).exists():
        return _notice(
            request,
            "No longer yours to decide",
            f"Step {step.order} of {step.request} is no longer routed to {approver.email}.",
            403,
        )
    if step.decisions.filter(person=approver).exists():
        return _notice(
            request,
            "You have decided already",
            "Your decision is recorded; the step waits for the other approvers.",
            200,
            "ok",
        )
    return None


def _page(request: HttpRequest, step: ApprovalStep, approver: Person, *, error: str = "", comment: str = ""):
    req = step.request
    live = Grant.objects.filter(person=req.beneficiary, status__in=Grant.LIVE).select_related("role__application")
    memberships = GroupMembership.objects.filter(person=req.beneficiary).select_related("group").order_by("group__name")
    history = (
        AccessRequest.objects.filter(beneficiary=req.beneficiary, application=req.application)
        .exclude(pk=req.pk)
        .select_related("role")
        .order_by("-created_at")[:20]
    )
    context = {
        "req": req,
        "step": step,
        "approver": approver,
        "error": error,
        "comment": comment,
        "steps": req.steps.prefetch_related("approvers").order_by("order"),
        "live_grants": live,
        "memberships": memberships,
        "history": history,
        "duration": format_iso_duration(req.duration) if req.duration else "",
    }
    return render(request, "governance/approval_page.html", context, status=400 if error else 200)


def _sso_first(request: HttpRequest, step_id: int) -> HttpResponse | None:
    """With GATEHOUSE_APPROVAL_LINK_REQUIRES_SSO, an anonymous link holder signs in first."""
    if request.user.is_authenticated or not oidc.enabled():
        return None
    if not settings.GATEHOUSE["APPROVAL_LINK_REQUIRES_SSO"]:
        return None
    target = reverse("approval-step", args=[step_id])
    return redirect(reverse("accounts:oidc-login") + "?" + urlencode({"next": target}))


def _signed_in_approver(request: HttpRequest, step_id: int) -> int | None:
    """The signed-in person's id when they are one of the step's approvers (no link needed then)."""
    person = getattr(request.user, "person", None) if request.user.is_authenticated else None
    if person is not None and ApprovalStep.objects.filter(pk=step_id, approvers=person).exists():
        return person.pk
    return None


@never_cache
@require_http_methods(["GET", "POST"])
def approval_page(request: HttpRequest, token: str) -> HttpResponse:
    """The emailed link: remember (step → addressee) in this session, then open the token-less page."""
    try:
        step_id, person_id = read_approval_link(token)
    except signing.SignatureExpired:
        return _notice(request, "This link has expired", "Ask for a new link, or decide in Jira or the admin.", 410)
    except (signing.BadSignature, ValueError, KeyError, TypeError):
        return _notice(request, "This link is not valid", "It may have been altered or cut short.", 400)
    links = dict(request.session.get(LINK_SESSION_KEY, {}))
    if not links and not request.user.is_authenticated:
        request.session.cycle_key()
    links[str(step_id)] = person_id
    request.session[LINK_SESSION_KEY] = links
    if request.method == "POST":  # a form that posts to the link URL itself
        return approval_step(request, step_id)
    return redirect("approval-step", step_id=step_id)


@never_cache
@require_http_methods(["GET", "POST"])
def approval_step(request: HttpRequest, step_id: int) -> HttpResponse:
    """One step, for the person whose link opened it in this session, or for a signed-in approver of it."""
    person_id = request.session.get(LINK_SESSION_KEY, {}).get(str(step_id)) or _signed_in_approver(request, step_id)
    if person_id is None:
        return _notice(request, "Open the link from your email", "This page opens only from your approval link.", 403)
    sso = _sso_first(request, step_id)
    if sso:
        return sso
    try:
        step, approver = _load(step_id, person_id)
    except (ApprovalStep.DoesNotExist, Person.DoesNotExist):
        return _notice(request, "Nothing to decide", "The request this link was for no longer exists.", 404)
    refusal = _refusal(request, step, approver)
    if refusal:
        return refusal
    if request.method == "GET":
        return _page(request, step, approver)
    decision = request.POST.get("decision")
    comment = (request.POST.get("comment") or "").strip()
    if decision not in ("approve", "deny"):
        return _page(request, step, approver, error="Choose Approve or Deny.", comment=comment)
    if decision == "deny" and not comment:
        return _page(request, step, approver, error="Say why you deny: the requester reads it.", comment=comment)
    try:
        services.decide_step(
            request=step.request,
            actor=services.Actor.of_person(approver),
            approve=decision == "approve",
            comment=comment,
            channel=channels.LINK,
        )
    except GovernanceError as error:
        return _page(request, step, approver, error=error.message, comment=comment)
    return redirect("approval-step", step_id=step_id)
