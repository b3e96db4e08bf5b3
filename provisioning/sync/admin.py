"""Admin for sync runs (read-only: runs are written by the sync only).

Importing this module registers the admin (provisioning/admin.py: `from . import admin_sync`).
"""

from __future__ import annotations

from django.contrib import admin

from provisioning.models import SyncRun


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    list_display = (
        "connector",
        "started_at",
        "finished_at",
        "status",
        "created",
        "updated",
        "deactivated",
        "groups",
        "memberships",
        "applications",
        "errors",
    )
    list_filter = ("status", "connector")
    date_hierarchy = "started_at"

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a run is evidence, and a running one is the lock against a second sync

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
