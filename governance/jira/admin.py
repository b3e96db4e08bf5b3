"""Admin for the Jira write-back queue (the shared undelivered view and retry action)."""

from __future__ import annotations

from django.contrib import admin

from governance.jira import services as jira
from governance.models import JiraUpdate
from lib.outbox.admin import OutboxAdminMixin


@admin.register(JiraUpdate)
class JiraUpdateAdmin(OutboxAdminMixin, admin.ModelAdmin):
    outbox = jira.jira_outbox
    retry_permission = "governance.retry_jira_update"
    retry_states = (JiraUpdate.Status.FAILED, JiraUpdate.Status.QUEUED)
    list_display = ("id", "issue_key", "kind", "status", "attempts", "next_attempt_at", "sent_at", "short_error")
    list_filter = ("status", "kind", ("next_attempt_at", admin.DateFieldListFilter))
    search_fields = ("issue_key", "last_error")
    ordering = ("-id",)
    date_hierarchy = "created_at"
    readonly_fields = (
        "kind",
        "issue_key",
        "payload",
        "result",
        "audit_event",
        *OutboxAdminMixin.outbox_fields,
        "updated_at",
    )
