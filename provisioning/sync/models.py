"""Directory sync runs."""

from __future__ import annotations

from django.db import models

from catalog.models import IdpGroup


class SyncRun(models.Model):
    """One directory/catalog sync from one connector, with what it changed."""

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    class Kind(models.TextChoices):
        FULL = "full", "Full (the whole directory)"
        INCREMENTAL = "incremental", "Incremental (what changed since the last run)"

    connector = models.CharField(max_length=40)
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.FULL)
    changes_since = models.DateTimeField(
        null=True, blank=True, help_text="Incremental runs: the provider was asked for changes after this time."
    )
    started_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True, blank=True, help_text="Last sign of life of a running sync; a stale one means it died."
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RUNNING)
    created = models.PositiveIntegerField(default=0, help_text="People created.")
    updated = models.PositiveIntegerField(default=0, help_text="People whose attributes changed.")
    deactivated = models.PositiveIntegerField(default=0, help_text="People marked deprovisioned.")
    suspended = models.PositiveIntegerField(default=0, help_text="People marked suspended.")
    users_listed = models.PositiveIntegerField(
        null=True, blank=True, help_text="Users the provider listed (the next run compares with it)."
    )
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


class SyncProblem(models.Model):
    """Something one sync run could not do, for one group or set of people; the rest went on."""

    class Kind(models.TextChoices):
        GROUP_MISSING = "group_missing", "Group deleted at the provider"
        GROUP_UNREADABLE = "group_unreadable", "Group members could not be read"
        GROUP_UNAVAILABLE = "group_unavailable", "Provider unavailable for this group (retries used up)"
        MEMBERS_SHRANK = "members_shrank", "Member listing shrank sharply (not applied)"
        NOT_WRITABLE_BOUND = "not_writable_bound", "A role is bound to a group the provider will not change"
        PEOPLE_UNCONFIRMED = "people_unconfirmed", "People not listed whose state could not be confirmed"
        LISTING_INCOMPLETE = "listing_incomplete", "The user listing left out people who exist"
        APPLICATIONS_UNREADABLE = "applications_unreadable", "Applications could not be read"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="problems")
    kind = models.CharField(max_length=40, choices=Kind.choices)
    group = models.ForeignKey(IdpGroup, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    subject = models.CharField(max_length=250, help_text="What it is about: a group's name, or which people.")
    message = models.TextField()

    class Meta:
        ordering = ["run", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.subject}"


class SyncCursor(models.Model):
    """Where the next incremental sync of one directory picks up: the mapped groups whose members
    are mirrored as of the last run (a group not among them is read whole, changed or not), and,
    for providers that hand out change cursors (Graph delta links), where each listing resumes.
    Written only when one of them changes, so an unchanged resync writes nothing here."""

    connector = models.CharField(max_length=40, unique=True)
    member_groups = models.JSONField(default=list, help_text="Provider ids of the groups whose members are mirrored.")
    change_cursor = models.JSONField(
        default=dict,
        blank=True,
        help_text="Where the provider's change listings resume, per collection (e.g. Graph delta links).",
    )

    def __str__(self) -> str:
        return f"sync cursor {self.connector}"
