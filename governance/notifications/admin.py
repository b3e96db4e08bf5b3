"""Admin for outbound messages (the shared undelivered view and retry action)."""

from __future__ import annotations

from django.contrib import admin

from governance.models import OutboundMessage
from governance.notifications import services as notifications
from lib.outbox.admin import OutboxAdminMixin


@admin.register(OutboundMessage)
class OutboundMessageAdmin(OutboxAdminMixin, admin.ModelAdmin):
    outbox = notifications.notification_outbox
    retry_permission = "governance.retry_message"
    retry_states = (OutboundMessage.Status.QUEUED, OutboundMessage.Status.FAILED)  # waiting out an outage, too
    list_display = ("id", "channel", "recipient", "subject", "status", "attempts", "next_attempt_at", "short_error")
    list_filter = ("status", "channel", "kind")
    search_fields = ("recipient", "subject", "message_id", "last_error")
    ordering = ("-id",)
    readonly_fields = (
        "channel",
        "kind",
        "recipient",
        "subject",
        "body",
        "payload",
        "message_id",
        "result",
        *OutboxAdminMixin.outbox_fields,
    )
    fields = readonly_fields
