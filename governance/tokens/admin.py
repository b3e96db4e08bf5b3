"""Admin for API tokens."""

from __future__ import annotations

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog.admin_permissions import requires
from governance import services
from governance.adminkit import run_each
from governance.audit.services import Actor
from governance.models import (
    ApiToken,
)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    """Tokens are created with `manage.py create_api_token NAME` (the secret is shown once there)."""

    list_display = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    readonly_fields = ("name", "prefix", "created_at", "last_used_at", "revoked_at")
    exclude = ("secret_hash",)
    actions = ["revoke_tokens"]

    def has_add_permission(self, request) -> bool:
        return False

    has_revoke_token_permission = requires("governance.revoke_token")

    @admin.action(description="Revoke the selected tokens", permissions=["revoke_token"])
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet) -> None:
        run_each(
            self,
            request,
            queryset.filter(revoked_at__isnull=True),
            lambda token: services.revoke_api_token(token=token, actor=Actor.of_admin(request.user)),
            "Revoked",
        )
