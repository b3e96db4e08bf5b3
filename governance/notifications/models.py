"""Outbound notifications (email and Slack): one outbox row per message to one person."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from lib.outbox.models import DeliveryStatus, OutboxRow, Priority


def new_message_id() -> str:
    """A globally unique RFC 5322 Message-ID, fixed when the row is written: a re-send after a
    crash carries the same one, so receivers can drop the duplicate."""
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip(">") or "gatehouse.invalid"
    return f"<{uuid.uuid4().hex}@{domain}>"


class OutboundMessage(OutboxRow):
    """One message to one recipient over one channel, delivered by the notification outbox."""

    class Kind(models.TextChoices):
        PLAIN = "plain", "Message"
        APPROVAL = "approval", "Approval request (rendered when sent)"
        SLACK_UPDATE = "slack_update", "Update of a posted Slack message"
        SLACK_VIEW = "slack_view", "Slack modal opened or updated"
        SLACK_EPHEMERAL = "slack_ephemeral", "Slack message only one person sees"

    Status = DeliveryStatus

    RUNNING = DeliveryStatus.SENDING
    DONE = DeliveryStatus.SENT

    channel = models.CharField(max_length=20, default="email")
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PLAIN)
    recipient = models.CharField(max_length=254, help_text="Who the message is for (an email address).")
    subject = models.CharField(max_length=998, blank=True)
    body = models.TextField(blank=True)
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    message_id = models.CharField(max_length=255, unique=True, default=new_message_id)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NOTIFICATION)
    result = models.CharField(max_length=200, blank=True, help_text="What the channel answered.")

    class Meta(OutboxRow.Meta):
        permissions = [("retry_message", "Can retry outbound messages now")]

    def __str__(self) -> str:
        return f"{self.channel} to {self.recipient}: {self.subject[:60]} [{self.status}]"
