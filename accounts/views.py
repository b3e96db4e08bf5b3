"""Sign-in pages: /accounts/login/ (company SSO, and passwords where allowed), the OIDC round trip.

Thin: the flow is in `accounts.oidc`, who may sign in is in `accounts.services`.
"""

from __future__ import annotations

from dataclasses import asdict
from urllib.parse import urlencode, urlsplit

from django.conf import settings
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render, resolve_url
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from . import oidc, services
from .backends import password_allowed

PENDING_KEY = "accounts.oidc_pending"
MAX_PENDING = 5  # sign-ins started in other tabs of this browser that may still come back


def _client_ip(request: HttpRequest) -> str:
    return request.META.get("REMOTE_ADDR", "")


def _safe_next(request: HttpRequest, candidate: str | None) -> str:
    if candidate and url_has_allowed_host_and_scheme(
        candidate, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return candidate
    return resolve_url(settings.LOGIN_REDIRECT_URL)


def _refused(request: HttpRequest, refusal: oidc.SignInRefused) -> HttpResponse:
    services.record_refusal(refusal, ip=_client_ip(request))
    context = {"code": refusal.code, "message": refusal.message, "login_url": reverse("accounts:login")}
    return render(request, "accounts/refused.html", context, status=403)


class LoginView(auth_views.LoginView):
    """Sign in: the company SSO button when SSO is on; the password form unless SSO turned it off."""

    template_name = "accounts/login.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        sso = oidc.enabled()
        context.update(
            sso=sso,
            passwords=not sso or settings.GATEHOUSE["LOCAL_LOGIN"],
            break_glass=sso and settings.GATEHOUSE["LOCAL_LOGIN"],
            sso_url=reverse("accounts:oidc-login") + "?" + urlencode({"next": self.get_redirect_url() or ""}),
        )
        return context

    def post(self, request, *args, **kwargs):
        if oidc.enabled() and not settings.GATEHOUSE["LOCAL_LOGIN"]:
            refusal = oidc.SignInRefused("password_off", "Password sign-in is off: use company SSO.")
            return _refused(request, refusal)
        return super().post(request, *args, **kwargs)

    def form_valid(self, form):
        user = form.get_user()
        if not password_allowed(user):  # defence in depth: the backend refused it already
            return self.form_invalid(form)
        response = super().form_valid(form)
        if oidc.enabled():
            services.record_break_glass(user=user, ip=_client_ip(self.request))
        return response


login_page = never_cache(LoginView.as_view())
logout_page = auth_views.LogoutView.as_view(next_page="accounts:login")


@never_cache
@require_GET
def admin_login(request: HttpRequest) -> HttpResponse:
    """The admin's own login form is replaced by /accounts/login/ (one place, one set of rules)."""
    target = _safe_next(request, request.GET.get("next") or reverse("admin:index"))
    return redirect(reverse("accounts:login") + "?" + urlencode({"next": target}))


@never_cache
@require_GET
def oidc_login(request: HttpRequest) -> HttpResponse:
    """Start a company SSO sign-in: state, nonce and PKCE verifier into the session, off to the provider."""
    if not oidc.enabled():
        return render(request, "accounts/refused.html", {"message": "Company SSO is not configured."}, status=404)
    try:
        url, pending = oidc.start(_safe_next(request, request.GET.get("next")))
    except oidc.SignInRefused as refusal:
        return _refused(request, refusal)
    started = dict(request.session.get(PENDING_KEY, {}))
    started[pending.state] = asdict(pending)
    request.session[PENDING_KEY] = dict(list(started.items())[-MAX_PENDING:])
    return redirect(url)


@never_cache
@require_GET
def oidc_callback(request: HttpRequest) -> HttpResponse:
    """The provider's answer: verify everything, map to a person, sign in (or a readable refusal)."""
    started = dict(request.session.get(PENDING_KEY, {}))
    state = request.GET.get("state", "")
    saved = started.pop(state, None)
    request.session[PENDING_KEY] = started
    try:
        if saved is None:
            raise oidc.SignInRefused("bad_state", "This sign-in was not started in this browser (or was used already).")
        pending = oidc.Pending(**saved)
        if request.GET.get("error"):
            detail = request.GET.get("error_description") or request.GET["error"]
            raise oidc.SignInRefused("provider_error", f"The identity provider refused the sign-in: {detail[:300]}")
        claims = oidc.finish(pending=pending, state=state, code=request.GET.get("code", ""))
        to_admin = urlsplit(pending.next_url).path.startswith(reverse("admin:index"))
        user = services.sign_in_with_sso(claims=claims, to_admin=to_admin)
    except oidc.SignInRefused as refusal:
        return _refused(request, refusal)
    login(request, user, backend="accounts.backends.SsoBackend")
    return redirect(pending.next_url)
