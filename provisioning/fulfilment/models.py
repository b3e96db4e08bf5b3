"""Manual provisioning: tasks IT does by hand and marks done."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class FulfilmentTask(models.Model):
    """Manual provisioning: IT does the change by hand and marks it done in the admin. What it is
    for (a grant) is recorded by the app that opened it."""

    class Action(models.TextChoices):
        GRANT = "grant", "Grant access"
        REMOVE = "remove", "Remove access"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    action = models.CharField(max_length=10, choices=Action.choices)
    instructions = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    done_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status"])]
        permissions = [("complete_task", "Can mark fulfilment tasks done")]

    def __str__(self) -> str:
        return f"{self.get_action_display()} task #{self.pk} [{self.status}]"
