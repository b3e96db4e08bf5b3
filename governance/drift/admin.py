"""Admin for drift findings (read-only: findings change only through drift detection).

Importing this module registers the admin (governance/admin.py: `from . import admin_drift`).
"""

from __future__ import annotations

from django.contrib import admin

from governance.models import DriftFinding


@admin.register(DriftFinding)
class DriftFindingAdmin(admin.ModelAdmin):
    list_display = ("kind", "person", "group", "grant", "status", "detected_at", "resolved_at")
    list_filter = ("status", "kind", "group__connector")
    search_fields = ("person__email", "group__name", "detail")
    list_select_related = ("person", "group", "grant")
    date_hierarchy = "detected_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
