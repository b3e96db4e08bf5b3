"""Directory sync runs."""

from __future__ import annotations

from django.db import models


class SyncRun(models.Model):
    """One directory/catalog sync from one connector, with what it changed."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    connector = models.CharField(max_length=40)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of a running sync; a stale one means it died."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    created = models.PositiveIntegerField(default=0, help_text="People created.")
    updated = models.PositiveIntegerField(default=0, help_text="People whose attributes changed.")
    deactivated = models.PositiveIntegerField(default=0, help_text="People marked deprovisioned.")
    groups = models.PositiveIntegerField(default=0, help_text="Groups created or renamed.")
    memberships = models.PositiveIntegerField(default=0, help_text="Memberships added or removed.")
    applications = models.PositiveIntegerField(default=0, help_text="Applications proposed as drafts.")
    errors = models.PositiveIntegerField(default=0, help_text="Records skipped (duplicates, unknown members).")
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-started_at", "-id"]
        indexes = [models.Index(fields=["connector", "started_at"])]
        constraints = [
            # Two syncs of one directory at once would race each other's writes.
            models.UniqueConstraint(fields=["connector"], condition=models.Q(status="running"), name="one_running_sync")
        ]

    def __str__(self) -> str:
        return f"sync {self.connector} {self.started_at:%Y-%m-%d %H:%M} [{self.status}]"
