"""With `GATEHOUSE_CATALOG_SOURCE=files` the admin shows, but does not change, what the files own.

The mixin is applied by re-registering the owning admins (after the audit mixin did the same), so
it holds whatever class registered the model; inlines of those pages turn read-only as well.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest

from catalog.models import Application, Role
from governance.adminkit import register_with_mixin
from governance.models import ApprovalPolicy, AutoApprovalRule

BANNER = (
    "The catalog and access policies are managed as code (GATEHOUSE_CATALOG_SOURCE=files): "
    "change them in the catalog repository's YAML files, then run `manage.py catalog plan` and `catalog apply`."
)
OWNED_HERE = (Application, Role, ApprovalPolicy, AutoApprovalRule)


def files_own_catalog() -> bool:
    return getattr(settings, "GATEHOUSE_CATALOG_SOURCE", "database") == "files"


def _read_only_inline(inline: admin.options.InlineModelAdmin) -> admin.options.InlineModelAdmin:
    inline.has_add_permission = lambda request, obj=None: False
    inline.has_change_permission = lambda request, obj=None: False
    inline.has_delete_permission = lambda request, obj=None: False
    return inline


class FilesOwnedMixin:
    """No add, change or delete while files own the model; a banner says where to change it."""

    def has_add_permission(self, request: HttpRequest, *args) -> bool:
        return not files_own_catalog() and super().has_add_permission(request, *args)

    def has_change_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return not files_own_catalog() and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: models.Model | None = None) -> bool:
        return not files_own_catalog() and super().has_delete_permission(request, obj)

    def get_inline_instances(self, request: HttpRequest, obj: models.Model | None = None):
        inlines = super().get_inline_instances(request, obj)
        return [_read_only_inline(inline) for inline in inlines] if files_own_catalog() else inlines

    def _banner(self, request: HttpRequest) -> None:
        if files_own_catalog() and request.method == "GET":
            self.message_user(request, BANNER, messages.WARNING)

    def changelist_view(self, request: HttpRequest, extra_context=None):
        self._banner(request)
        return super().changelist_view(request, extra_context)

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        self._banner(request)
        return super().changeform_view(request, object_id, form_url, extra_context)


def files_owned_admins(owned: tuple[type[models.Model], ...] = OWNED_HERE, site: admin.AdminSite = admin.site) -> None:
    """Give each owned model's registered admin the mixin (idempotent)."""
    register_with_mixin(site, owned, FilesOwnedMixin, __name__)
