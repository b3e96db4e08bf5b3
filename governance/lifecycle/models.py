"""Lifecycle: what Gatehouse last saw of each person, the events it derived, and offboarding records."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from catalog.models import Person


class PersonState(models.Model):
    """The directory attributes of a person as lifecycle last acted on them.

    Each lifecycle run compares the directory (catalog.Person, as the sync left it) with this row:
    a difference is a joiner, a mover or a leaver."""

    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="lifecycle_state")
    status = models.CharField(max_length=20)
    department = models.CharField(max_length=120, blank=True)
    title = models.CharField(max_length=160, blank=True)
    manager = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    status_since = models.DateTimeField(help_text="When lifecycle first saw the current status.")
    seen_at = models.DateTimeField()

    class Meta:
        verbose_name = "lifecycle state"

    def __str__(self) -> str:
        return f"{self.person_id}: {self.status}"


class LifecycleEvent(models.Model):
    """One joiner, mover or leaver event, with what it changed and what Gatehouse did about it."""

    class Kind(models.TextChoices):
        JOINER = "joiner", "Joiner"
        MOVER = "mover", "Mover"
        LEAVER = "leaver", "Leaver"
        RETURNED = "returned", "Returned (active again)"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="lifecycle_events")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    trigger = models.CharField(max_length=40, help_text='"sync", "api", "admin".')
    occurred_at = models.DateTimeField()
    changes = models.JSONField(
        default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="Field → [before, after]."
    )
    outcome = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="What was done.")
    offboarding = models.ForeignKey(
        "governance.Offboarding", null=True, blank=True, on_delete=models.SET_NULL, related_name="events"
    )

    class Meta:
        ordering = ["-occurred_at", "-id"]
        indexes = [models.Index(fields=["person", "occurred_at"], name="lifecycle_event_person")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.person_id} at {self.occurred_at:%Y-%m-%d %H:%M}"


class Offboarding(models.Model):
    """One leaver event: what was ended, what is pending, and when the last removal was confirmed."""

    class Status(models.TextChoices):
        SCHEDULED = "scheduled", "Scheduled"
        IN_PROGRESS = "in_progress", "Removals in progress"
        COMPLETED = "completed", "Completed (every removal confirmed)"
        CANCELLED = "cancelled", "Cancelled (active again before it took effect)"

    OPEN = (Status.SCHEDULED, Status.IN_PROGRESS)

    class Trigger(models.TextChoices):
        SYNC = "sync", "Directory sync"
        API = "api", "Offboarding call (HR)"

    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="offboardings")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.SCHEDULED, editable=False)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, editable=False)
    departure = models.CharField(max_length=20, blank=True, help_text="The directory status that triggered it.")
    requested_by = models.CharField(max_length=254, help_text="Who asked (an email, or system:<what>).")
    reason = models.TextField()
    jira_issue_key = models.CharField(max_length=64, blank=True, help_text="The HR offboarding issue, if any.")
    effective_at = models.DateTimeField(help_text="When access ends (later than creation: scheduled).")
    started_at = models.DateTimeField(null=True, blank=True)
    last_removal_confirmed_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    grant_ids = models.JSONField(default=list, blank=True, help_text="Grants this offboarding ended.")
    ended = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder, help_text="What was ended.")
    unexplained = models.JSONField(
        default=list,
        blank=True,
        encoder=DjangoJSONEncoder,
        help_text="Provider memberships no grant explains, listed for IT (removed only when the policy says so).",
    )
    manual_confirmed_at = models.DateTimeField(null=True, blank=True)
    manual_confirmed_by = models.CharField(max_length=254, blank=True)
    ticket_update = models.ForeignKey(
        "governance.JiraUpdate", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "effective_at"], name="offboarding_status_due")]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "jira_issue_key"], condition=~Q(jira_issue_key=""), name="one_offboarding_per_issue"
            ),
        ]
        permissions = [("confirm_manual_removal", "Can confirm manual removals of an offboarding")]

    def __str__(self) -> str:
        return f"offboarding #{self.pk} of {self.person_id} [{self.status}]"
