"""Admin for API tokens: create (secret shown once), rotate (new secret, old one for an overlap), revoke."""

from __future__ import annotations

from datetime import timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from catalog.admin_permissions import requires
from catalog.durations import describe_duration_problem, format_iso_duration, parse_iso_duration
from governance import services
from governance.adminkit import run_each
from governance.audit.services import Actor
from governance.errors import GovernanceError
from governance.models import ApiToken
from governance.tokens.scopes import DESCRIPTIONS, Scope

ROTATION_OVERLAP = timedelta(hours=24)


class ApiTokenCreateForm(forms.Form):
    name = forms.CharField(max_length=100, help_text="Who uses it, e.g. jira-automation.")
    scopes = forms.MultipleChoiceField(
        choices=[(scope.value, f"{scope.value} — {DESCRIPTIONS[scope]}") for scope in Scope],
        widget=forms.CheckboxSelectMultiple,
    )
    actors = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 60}),
        help_text="Optional: emails or @domains (space or comma separated) it may act as; empty means anyone.",
    )
    expires_in = forms.CharField(
        required=False, initial="P90D", help_text="ISO-8601 duration, e.g. P90D; empty: the token does not expire."
    )

    def clean_expires_in(self) -> timedelta | None:
        text = (self.cleaned_data.get("expires_in") or "").strip()
        if not text:
            return None
        parsed = parse_iso_duration(text)
        if parsed is None:
            raise forms.ValidationError(describe_duration_problem(text))
        return parsed


def _secret_page(request: HttpRequest, modeladmin, title: str, issued: list) -> HttpResponse:
    context = {**modeladmin.admin_site.each_context(request), "title": title, "issued": issued}
    response = TemplateResponse(request, "admin/governance/apitoken/secret.html", context)
    response["Cache-Control"] = "no-store"
    return response


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created here or with `manage.py create_api_token NAME --scopes …` (the secret is shown once)."""

    list_display = (
        "name",
        "prefix",
        "scope_list",
        "actor_list",
        "expires_at",
        "last_used_at",
        "rotated_at",
        "revoked_at",
    )
    readonly_fields = (
        "name",
        "prefix",
        "scopes",
        "actors",
        "expires_at",
        "created_at",
        "last_used_at",
        "rotated_at",
        "previous_valid_until",
        "revoked_at",
    )
    exclude = ("secret_hash", "previous_secret_hash")
    actions = ["rotate_tokens", "revoke_tokens"]

    @admin.display(description="scopes")
    def scope_list(self, token: ApiToken) -> str:
        return ", ".join(token.scopes)

    @admin.display(description="speaks for")
    def actor_list(self, token: ApiToken) -> str:
        return ", ".join(token.actors) or "anyone"

    def add_view(self, request: HttpRequest, form_url: str = "", extra_context=None) -> HttpResponse:
        if not self.has_add_permission(request):
            raise PermissionDenied
        form = ApiTokenCreateForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            try:
                token, secret = services.create_api_token(
                    name=form.cleaned_data["name"],
                    scopes=form.cleaned_data["scopes"],
                    actors=form.cleaned_data["actors"],
                    expires_in=form.cleaned_data["expires_in"],
                    actor=Actor.of_admin(request.user),
                )
            except GovernanceError as error:
                form.add_error(error.field if error.field in form.fields else None, error.message)
            else:
                return _secret_page(request, self, f"API token {token.name} created", [(token, secret, "")])
        context = {**self.admin_site.each_context(request), "title": "New API token", "form": form}
        return TemplateResponse(request, "admin/governance/apitoken/create.html", context)

    has_rotate_token_permission = requires("governance.rotate_token")
    has_revoke_token_permission = requires("governance.revoke_token")

    @admin.action(description="Rotate: new secret (the old one works for 24 hours more)", permissions=["rotate_token"])
    def rotate_tokens(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        issued = []
        for token in queryset.filter(revoked_at__isnull=True):
            try:
                token, secret = services.rotate_api_token(
                    token=token, actor=Actor.of_admin(request.user), overlap=ROTATION_OVERLAP
                )
            except GovernanceError as error:
                self.message_user(request, f"{token}: {error.message}", messages.ERROR)
                continue
            note = f"the old secret works until {token.previous_valid_until:%Y-%m-%d %H:%M} UTC"
            issued.append((token, secret, note))
        if not issued:
            self.message_user(request, "No live token selected.", messages.WARNING)
            return None
        overlap = format_iso_duration(ROTATION_OVERLAP)
        return _secret_page(request, self, f"Rotated {len(issued)} token(s) (overlap {overlap})", issued)

    @admin.action(description="Revoke the selected tokens", permissions=["revoke_token"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_each(
            self,
            request,
            queryset.filter(revoked_at__isnull=True),
            lambda token: services.revoke_api_token(token=token, actor=Actor.of_admin(request.user)),
            "Revoked",
        )
