"""Admin for the Jira write-back queue (thin: the action calls a service)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog.admin_permissions import requires
from governance.errors import GovernanceError
from governance.jira import services as jira
from governance.models import JiraUpdate


@admin.register(JiraUpdate)
class JiraUpdateAdmin(admin.ModelAdmin):
    list_display = ("id", "issue_key", "kind", "status", "attempts", "next_attempt_at", "sent_at", "short_error")
    list_filter = ("status", "kind", ("next_attempt_at", admin.DateFieldListFilter))
    search_fields = ("issue_key", "last_error")
    ordering = ("-id",)
    date_hierarchy = "created_at"
    actions = ["retry_now"]
    readonly_fields = (
        "kind",
        "issue_key",
        "payload",
        "status",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "sent_at",
        "last_error",
        "result",
        "audit_event",
        "created_at",
        "updated_at",
    )

    @admin.display(description="last error")
    def short_error(self, obj: JiraUpdate) -> str:
        return obj.last_error[:120]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: JiraUpdate | None = None) -> bool:
        return False

    has_retry_jira_update_permission = requires("governance.retry_jira_update")

    @admin.action(description="Retry now (failed or waiting updates)", permissions=["retry_jira_update"])
    def retry_now(self, request: HttpRequest, queryset: QuerySet[JiraUpdate]) -> None:
        done, refused = 0, []
        for update in queryset:
            try:
                jira.retry_update(update=update)
                done += 1
            except GovernanceError as error:
                refused.append(f"#{update.pk}: {error}")
        if done:
            self.message_user(request, f"{done} Jira update(s) queued to be sent now.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Not retried — " + "; ".join(refused[:10]), messages.WARNING)
