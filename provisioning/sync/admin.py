"""Admin for sync runs (read-only: runs are written by the sync only).

Importing this module registers the admin (provisioning/admin.py: `from . import admin_sync`).
"""

from __future__ import annotations

from django.contrib import admin
from django.db.models import Count, QuerySet

from provisioning.models import SyncProblem, SyncRun


class SyncProblemInline(admin.TabularInline):
    """What a run could not do (a deleted group, a provider outage for one group…), read-only."""

    model = SyncProblem
    template = "admin/edit_inline/readonly_tabular.html"  # no summary line repeating each row
    fields = ("kind", "subject", "group", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SyncRun)
class SyncRunAdmin(admin.ModelAdmin):
    inlines = [SyncProblemInline]
    list_display = (
        "connector",
        "started_at",
        "finished_at",
        "status",
        "kind",
        "created",
        "updated",
        "deactivated",
        "suspended",
        "groups",
        "memberships",
        "applications",
        "errors",
        "problem_count",
    )
    list_filter = ("status", "kind", "connector")
    date_hierarchy = "started_at"

    def get_queryset(self, request) -> QuerySet:
        return super().get_queryset(request).annotate(problem_count=Count("problems"))

    @admin.display(description="problems", ordering="problem_count")
    def problem_count(self, run: SyncRun) -> int:
        return getattr(run, "problem_count", 0)

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_delete_permission(self, request, obj=None) -> bool:
        return False  # a run is evidence, and a running one is the lock against a second sync

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False
