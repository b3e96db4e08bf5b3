"""Django admin for IT: the outbox, manual fulfilment, the local directory, sync runs (thin)."""

from __future__ import annotations

from django.contrib import admin, messages

from . import services
from .models import FulfilmentTask, LocalMembership, MembershipChange, SyncRun


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

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(MembershipChange)
class MembershipChangeAdmin(admin.ModelAdmin):
    list_display = ("id", "action", "person", "group", "grant", "status", "result", "attempts", "next_attempt_at")
    list_filter = ("status", "action", "group__connector")
    search_fields = ("person__email", "group__name")
    list_select_related = ("person", "group", "grant")
    raw_id_fields = ("person", "group", "grant")
    readonly_fields = (
        "status",
        "result",
        "attempts",
        "next_attempt_at",
        "claimed_at",
        "finished_at",
        "last_error",
        "created_at",
    )
    actions = ["retry_failed"]

    def has_add_permission(self, request) -> bool:
        return False  # changes are queued by grants, never by hand

    @admin.action(description="Retry failed change")
    def retry_failed(self, request, queryset) -> None:
        retried = 0
        for change in queryset.filter(status=MembershipChange.Status.FAILED):
            services.retry_failed_change(change=change)
            retried += 1
        skipped = queryset.count() - retried
        self.message_user(request, f"{retried} change(s) queued again.", messages.SUCCESS)
        if skipped:
            self.message_user(request, f"{skipped} change(s) were not failed and were left alone.", messages.WARNING)


@admin.register(FulfilmentTask)
class FulfilmentTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "action", "grant", "status", "done_by", "done_at", "created_at")
    list_filter = ("status", "action")
    search_fields = ("grant__person__email", "instructions")
    list_select_related = ("grant__person", "grant__role__application", "done_by")
    raw_id_fields = ("grant",)
    readonly_fields = ("status", "done_by", "done_at", "created_at")
    actions = ["mark_done"]

    def has_add_permission(self, request) -> bool:
        return False

    @admin.action(description="Mark done")
    def mark_done(self, request, queryset) -> None:
        done = 0
        for task in queryset.filter(status=FulfilmentTask.Status.OPEN):
            try:
                services.complete_fulfilment_task(task=task, user=request.user)
            except services.ProvisioningError as error:
                self.message_user(request, f"Task #{task.pk}: {error}", messages.ERROR)
                continue
            done += 1
        self.message_user(request, f"{done} task(s) marked done.", messages.SUCCESS)


@admin.register(LocalMembership)
class LocalMembershipAdmin(admin.ModelAdmin):
    list_display = ("person", "group", "added_at")
    list_filter = ("group",)
    search_fields = ("person__email", "group__name")
    list_select_related = ("person", "group")
    raw_id_fields = ("person", "group")
    readonly_fields = ("added_at",)
