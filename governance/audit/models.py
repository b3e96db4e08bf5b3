"""The audit log: one event per state change, written in the transaction of the change."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.utils import timezone

from catalog.models import Person


class AuditEvent(models.Model):
    """Append-only evidence. One row per state change, written in the same transaction."""

    at = models.DateTimeField(default=timezone.now, db_index=True)
    action = models.CharField(max_length=60)  # indexed in Meta: exact matches only (no LIKE index to keep up)
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
    # Found through `audit_trace`, which starts with it (one index fewer to write per event).
    subject = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    # The application the event concerns (from its request or grant, or named by the caller): the trace's key.
    application = models.ForeignKey(
        "catalog.Application", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    # The hash chain (governance.audit.chain): position, the previous event's hash, and this one's.
    seq = models.PositiveBigIntegerField(null=True, blank=True, unique=True, editable=False)
    prev_hash = models.CharField(max_length=64, blank=True, editable=False)
    refs = models.CharField(max_length=200, blank=True, editable=False, help_text="The links as sealed.")
    hash = models.CharField(max_length=64, blank=True, editable=False)

    class Meta:
        ordering = ["at", "id"]
        indexes = [
            models.Index(fields=["subject", "application", "seq"], name="audit_trace"),
            models.Index(fields=["action"], name="audit_action"),
        ]
        permissions = [("export_evidence", "Can export the evidence of a period")]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action}: {self.message}"


class AuditChain(models.Model):
    """The head of the audit hash chain (one row), and the outcome of its last verification."""

    last_seq = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    verified_through_seq = models.PositiveBigIntegerField(default=0)
    verified_ok = models.BooleanField(null=True)
    verified_problem = models.TextField(blank=True)

    class Meta:
        verbose_name = "audit chain"

    def __str__(self) -> str:
        return f"audit chain at seq {self.last_seq}"
