"""Drift findings: differences between what grants explain and what the provider holds."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from catalog.models import Person


class DriftFinding(models.Model):
    """A difference between the grants and what the provider holds, found after a directory sync.

    One current finding (resolved_at unset) per kind, person and group; it is resolved when a later
    detection no longer sees the difference.
    """

    class Kind(models.TextChoices):
        UNEXPLAINED_MEMBER = "unexplained_member", "Member with no grant"
        MISSING_MEMBERSHIP = "missing_membership", "Grant with no membership"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        REPAIRED = "repaired", "Repair queued"
        RESOLVED = "resolved", "Resolved"

    kind = models.CharField(max_length=30, choices=Kind.choices)
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="drift_findings")
    group = models.ForeignKey("catalog.IdpGroup", on_delete=models.CASCADE, related_name="drift_findings")
    grant = models.ForeignKey(
        "governance.Grant", null=True, blank=True, on_delete=models.SET_NULL, related_name="drift_findings"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    detail = models.TextField(blank=True)
    detected_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-detected_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "person", "group"],
                condition=Q(resolved_at__isnull=True),
                name="one_current_drift_finding",
            )
        ]
        indexes = [models.Index(fields=["status", "kind"])]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.person.email} / {self.group.name} [{self.status}]"
