"""The audit log: one event per state change, written in the transaction of the change."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from catalog.models import Person


class AuditEvent(models.Model):
    """Append-only evidence. One row per state change, written in the same transaction."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=60, db_index=True)
    actor = models.CharField(
        max_length=254, help_text='Who did it: a person\'s email, "admin:<user>", or "system:<what>".'
    )
    actor_person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    request = models.ForeignKey(
        "governance.AccessRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    grant = models.ForeignKey(
        "governance.Grant", null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    subject = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action}: {self.message}"
