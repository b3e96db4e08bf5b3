"""Admin for IT: the outbox of membership changes (the shared undelivered view and retry) and manual
fulfilment tasks (actions call services)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from catalog.admin_permissions import requires
from lib.outbox.admin import OutboxAdminMixin
from provisioning.models import FulfilmentTask, LocalMembership, MembershipChange
from provisioning.outbox import services


@admin.register(MembershipChange)
class MembershipChangeAdmin(OutboxAdminMixin, admin.ModelAdmin):
    outbox = services.membership_outbox
    retry_permission = "provisioning.retry_change"
    list_display = ("id", "action", "person", "group", "status", "result", "attempts", "next_attempt_at", "short_error")
    list_filter = ("status", "action", "result", "group__connector")
    search_fields = ("person__email", "group__name", "last_error")
    list_select_related = ("person", "group")
    readonly_fields = ("action", "person", "group", "result", *OutboxAdminMixin.outbox_fields)
    fields = readonly_fields


@admin.register(FulfilmentTask)
class FulfilmentTaskAdmin(admin.ModelAdmin):
    list_display = ("id", "action", "instructions", "status", "created_at", "done_by", "done_at")
    list_filter = ("status", "action")
    search_fields = ("instructions",)
    list_select_related = ("done_by",)
    readonly_fields = ("action", "instructions", "status", "done_by", "done_at", "note", "created_at")
    fields = readonly_fields
    actions = ["mark_done"]

    def has_add_permission(self, request) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False

    has_complete_task_permission = requires("provisioning.complete_task")

    @admin.action(description="Mark done (I made this change by hand)", permissions=["complete_task"])
    def mark_done(self, request: HttpRequest, queryset: QuerySet) -> None:
        done = 0
        for task in queryset:
            try:
                services.complete_fulfilment_task(task=task, user=request.user)
                done += 1
            except services.ProvisioningError as error:
                self.message_user(request, f"Task #{task.pk}: {error}", messages.ERROR)
        if done:
            self.message_user(request, f"Marked done: {done}.", messages.SUCCESS)


@admin.register(LocalMembership)
class LocalMembershipAdmin(admin.ModelAdmin):
    """The built-in directory's memberships (what the `local` provider holds)."""

    list_display = ("person", "group", "added_at")
    list_filter = ("group",)
    search_fields = ("person__email", "group__name")
    list_select_related = ("person", "group")
    autocomplete_fields = ("person", "group")


from provisioning.sync import admin as admin_sync  # noqa: E402,F401  (registers directory sync runs)
