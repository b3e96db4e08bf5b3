"""Admin for IT: offboarding records with their progress, and lifecycle events. Read-only but for
the "confirm manual removal" action (its own permission)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from governance.adminkit import ReadOnlyAdmin, run_each
from governance.lifecycle import leavers
from governance.models import LifecycleEvent, Offboarding
from lib import readable


@admin.register(Offboarding)
class OffboardingAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "person",
        "status",
        "trigger",
        "effective_at",
        "progress",
        "last_removal_confirmed_at",
        "jira_issue_key",
    )
    list_filter = ("status", "trigger")
    list_select_related = ("person",)
    search_fields = ("person__email", "jira_issue_key")
    readonly_fields = [f.name for f in Offboarding._meta.fields] + ["progress"]
    actions = ["confirm_manual_removal"]

    @admin.display(description="progress")
    def progress(self, obj: Offboarding) -> str:
        if obj.status == Offboarding.Status.SCHEDULED:
            return f"scheduled for {readable.moment(obj.effective_at)}"
        state = leavers.progress(obj)
        parts = [f"{state['grants'] - len(state['grants_pending'])}/{state['grants']} grants removed"]
        if state["manual_tasks_open"]:
            parts.append(f"{state['manual_tasks_open']} manual removals open")
        if state["unexplained_for_it"]:
            parts.append(f"{state['unexplained_for_it']} memberships for IT")
        if state["unexplained_removals_pending"]:
            parts.append(f"{state['unexplained_removals_pending']} unexplained removals pending")
        return ", ".join(parts)

    def has_confirm_manual_removal_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("governance.confirm_manual_removal")

    @admin.action(description="Confirm manual removal (IT removed it by hand)", permissions=["confirm_manual_removal"])
    def confirm_manual_removal(self, request: HttpRequest, queryset) -> None:
        run_each(
            self,
            request,
            queryset,
            lambda obj: leavers.confirm_manual_removal(offboarding=obj, user=request.user),
            "Manual removals confirmed",
        )


@admin.register(LifecycleEvent)
class LifecycleEventAdmin(ReadOnlyAdmin):
    list_display = ("occurred_at", "person", "kind", "trigger", "offboarding")
    list_filter = ("kind", "trigger")
    list_select_related = ("person",)
    search_fields = ("person__email",)
    readonly_fields = [f.name for f in LifecycleEvent._meta.fields]
