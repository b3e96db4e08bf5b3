"""The outbox of membership changes: one row per add or remove."""

from __future__ import annotations

from django.db import models

from catalog.models import IdpGroup, Person
from lib.outbox.models import OutboxRow
from lib.ratelimit.models import RateBucketRow


class MembershipChange(OutboxRow):
    """One add or remove of a person in a provider group, executed by the outbox engine after
    commit. What the change is for (a grant) is recorded by the app that queued it, not here."""

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
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    result = models.CharField(max_length=20, choices=Result.choices, blank=True)

    class Meta(OutboxRow.Meta):
        indexes = [
            *OutboxRow.Meta.indexes,
            # Per-membership ordering.
            models.Index(fields=["person", "group", "status"], name="change_person_group"),
        ]
        permissions = [("retry_change", "Can retry failed membership changes")]

    def __str__(self) -> str:
        return f"{self.action} {self.person.email} ↔ {self.group.name} [{self.status}]"


class RateBucket(RateBucketRow):
    """A provider bucket's rate budget, shared by every worker (used when Redis is not set)."""

    class Meta(RateBucketRow.Meta):
        pass
