"""The outbox of membership changes: one row per add or remove, executed by a task after commit."""

from __future__ import annotations

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
