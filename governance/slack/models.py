"""What Gatehouse remembers of Slack: the DMs it posted (to update them later) and the inbound
payloads it has handled (so a replayed one is refused)."""

from __future__ import annotations

from django.db import models


class SlackPost(models.Model):
    """One message Gatehouse posted in a DM, by its channel (D…) and `ts`."""

    message = models.OneToOneField(
        "governance.OutboundMessage", on_delete=models.CASCADE, related_name="slack_post", null=True, blank=True
    )
    person = models.ForeignKey("catalog.Person", on_delete=models.CASCADE, related_name="slack_posts")
    step = models.ForeignKey(
        "governance.ApprovalStep", on_delete=models.CASCADE, related_name="slack_posts", null=True, blank=True
    )
    channel_id = models.CharField(max_length=32)
    ts = models.CharField(max_length=32)
    posted_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True, help_text="When the message was updated to its outcome.")

    class Meta:
        constraints = [models.UniqueConstraint(fields=["channel_id", "ts"], name="slack_post_unique_ts")]

    def __str__(self) -> str:
        return f"Slack message {self.channel_id}/{self.ts} to {self.person_id}"


class SlackInbound(models.Model):
    """One inbound payload handled, by the id Slack gave it (event_id, action_ts, trigger_id…)."""

    key = models.CharField(max_length=200, unique=True)
    kind = models.CharField(max_length=40)
    received_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind} {self.key}"
