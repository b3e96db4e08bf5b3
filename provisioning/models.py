"""How decisions are executed: the outbox of membership changes and manual fulfilment tasks."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from catalog.models import IdpGroup, Person


class MembershipChange(models.Model):
    """One add or remove of a person in a provider group, executed by a task after commit."""

    class Action(models.TextChoices):
        ADD = "add", "Add"
        REMOVE = "remove", "Remove"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"

    OPEN = (Status.QUEUED, Status.RUNNING)
    TERMINAL = (Status.SUCCEEDED, Status.FAILED, Status.SKIPPED)

    class Result(models.TextChoices):
        ADDED = "added", "Added"
        ALREADY_MEMBER = "already_member", "Was already a member"
        REMOVED = "removed", "Removed"
        NOT_A_MEMBER = "not_a_member", "Was not a member"
        KEPT = "kept", "Left in place"

    action = models.CharField(max_length=10, choices=Action.choices)
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="membership_changes")
    group = models.ForeignKey(IdpGroup, on_delete=models.PROTECT, related_name="membership_changes")
    # The grant this change serves. provisioning never reads it: it only hands it back when the
    # change settles (see provisioning.outbox).
    grant = models.ForeignKey(
        "governance.Grant", null=True, blank=True, on_delete=models.PROTECT, related_name="membership_changes"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    result = models.CharField(max_length=20, choices=Result.choices, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    maybe_applied = models.BooleanField(
        default=False,
        help_text="An earlier attempt failed in a way the provider may still have applied (timeout, 5xx).",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The sweep: due queued changes, and running changes whose lease ran out.
            models.Index(fields=["status", "next_attempt_at"], name="change_status_due"),
            models.Index(fields=["status", "claimed_at"], name="change_status_claimed"),
            models.Index(fields=["person", "group", "status"], name="change_person_group"),
        ]
        permissions = [("retry_change", "Can retry failed membership changes")]

    def __str__(self) -> str:
        return f"{self.action} {self.person.email} ↔ {self.group.name} [{self.status}]"


class FulfilmentTask(models.Model):
    """Manual provisioning: IT does the change by hand and marks it done in the admin."""

    class Action(models.TextChoices):
        GRANT = "grant", "Grant access"
        REMOVE = "remove", "Remove access"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        DONE = "done", "Done"
        CANCELLED = "cancelled", "Cancelled"

    action = models.CharField(max_length=10, choices=Action.choices)
    grant = models.ForeignKey("governance.Grant", on_delete=models.PROTECT, related_name="fulfilment_tasks")
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
        return f"{self.get_action_display()} #{self.grant_id} [{self.status}]"


class LocalMembership(models.Model):
    """The embedded `local` directory's own state: who is in which local group.

    This plays the identity provider when no external one is configured; Gatehouse's view of
    memberships (catalog.GroupMembership) is kept separately, as it is for real providers.
    """

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(IdpGroup, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "local directory membership"
        constraints = [models.UniqueConstraint(fields=["person", "group"], name="local_membership_unique")]

    def __str__(self) -> str:
        return f"{self.person.email} ∈ {self.group.name}"


class SyncRun(models.Model):
    """One directory/catalog sync from one connector, with what it changed."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    connector = models.CharField(max_length=40)
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
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
