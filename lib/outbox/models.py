"""The abstract outbox row: what the engine needs to claim, lease, retry and sweep a delivery."""

from __future__ import annotations

from django.db import models


class Priority(models.IntegerChoices):
    """Order of claim when work is due at once: lower goes first."""

    REVOCATION = 0, "Revocation or expiry"
    GRANT = 10, "Grant"
    BULK = 20, "Bulk work"
    NOTIFICATION = 30, "Notification"


class DeliveryStatus(models.TextChoices):
    """The statuses of a row sent to a provider (Jira updates, messages)."""

    QUEUED = "queued", "Queued"
    SENDING = "sending", "Sending"
    SENT = "sent", "Sent"
    FAILED = "failed", "Failed"


class OutboxRow(models.Model):
    """One outbound delivery. Subclasses add what to deliver, and may rename the status values
    (`QUEUED`, `RUNNING`, `DONE`, `FAILED` below) by overriding `status` with their own choices."""

    QUEUED = "queued"
    RUNNING = "running"
    DONE = "succeeded"
    FAILED = "failed"

    status = models.CharField(max_length=20, default=QUEUED)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.GRANT)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    # The lease: a row RUNNING since before now − lease is taken to be abandoned (its worker died).
    claimed_at = models.DateTimeField(null=True, blank=True)
    # When a task covering this row was handed to the broker (cleared when a worker claims it);
    # the sweep re-queues a due row only when no such task is pending.
    enqueued_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    maybe_applied = models.BooleanField(
        default=False,
        help_text="An earlier attempt failed in a way the provider may still have applied (timeout, 5xx).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["created_at", "id"]
        indexes = [
            # The sweep: due queued rows in order of claim, and running rows whose lease ran out.
            models.Index(fields=["status", "priority", "next_attempt_at"], name="%(class)s_due"),
            models.Index(fields=["status", "claimed_at"], name="%(class)s_leased"),
        ]

    @property
    def is_open(self) -> bool:
        return self.status in (self.QUEUED, self.RUNNING)
