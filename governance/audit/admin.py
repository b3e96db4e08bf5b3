"""Admin for the audit log (read-only)."""

from __future__ import annotations

from django.contrib import admin

from governance.models import (
    AuditEvent,
)


class AuditEventInline(admin.TabularInline):
    model = AuditEvent
    fk_name = "request"
    fields = ("at", "action", "actor", "message")
    readonly_fields = fields
    extra = 0
    can_delete = False
    ordering = ("at", "id")

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "action", "actor", "subject", "request", "message")
    list_filter = ("action",)
    search_fields = ("message", "actor", "subject__email", "request__jira_issue_key")
    list_select_related = ("subject", "request")
    date_hierarchy = "at"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
