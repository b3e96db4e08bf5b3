"""Auto Reclaim: models.

A policy per application says when access counts as unused; the sweep opens a case per piece of
access (a grant, or a provider membership no grant explains) and carries it to an outcome.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from catalog.models import Application, IdpGroup, Person
from governance.models import Grant

__all__ = ["ClosedReclaimCase", "OpenReclaimCase", "ReclaimCase", "ReclaimPolicy"]

DEFAULT_WARNING = (
    "You have not used {application} for {days} days. To keep your access, sign in to {application} "
    "before {revoke_after}; otherwise it will be removed. Ask IT if you still need it."
)


class ReclaimPolicy(models.Model):
    """When access to one application counts as unused, and what to do about it."""

    class Mode(models.TextChoices):
        DRY_RUN = "dry_run", "Dry run (report only)"
        ENFORCE = "enforce", "Enforce (warn, then remove)"

    class ActivitySource(models.TextChoices):
        PROVIDER_LOGIN = "provider_login", "Last sign-in at the identity provider"
        APP_ACTIVITY = "app_activity", "Last use of this application (where the connector reports it)"

    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="reclaim_policies")
    is_active = models.BooleanField(default=True)
    threshold_days = models.PositiveIntegerField(
        default=90,
        validators=[MinValueValidator(1)],
        help_text="Access unused for at least this many days is reclaimed.",
    )
    grace_days = models.PositiveIntegerField(
        default=14,
        validators=[MinValueValidator(1)],
        help_text="Days between the warning and the removal.",
    )
    warn = models.BooleanField(default=True, help_text="Email the person (and comment in Jira) before removal.")
    warning_text = models.TextField(
        blank=True,
        help_text="The warning's text. Placeholders: {name}, {application}, {days}, {revoke_after}. "
        "Empty: a standard text.",
    )
    excluded_groups = models.ManyToManyField(
        IdpGroup, blank=True, related_name="+", help_text="Members of these groups are never reclaimed."
    )
    excluded_people = models.ManyToManyField(Person, blank=True, related_name="+")
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.DRY_RUN)
    activity_source = models.CharField(
        max_length=20, choices=ActivitySource.choices, default=ActivitySource.PROVIDER_LOGIN
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "reclaim policy"
        verbose_name_plural = "reclaim policies"
        constraints = [
            models.UniqueConstraint(
                fields=["application"],
                condition=Q(is_active=True),
                name="one_active_reclaim_policy_per_app",
                violation_error_message="This application already has an active reclaim policy; deactivate it first.",
            ),
            models.CheckConstraint(
                condition=Q(threshold_days__gt=0) & Q(grace_days__gt=0),
                name="reclaim_days_positive",
                violation_error_message="The threshold and the grace period must be at least one day.",
            ),
        ]

    def __str__(self) -> str:
        state = "" if self.is_active else ", inactive"
        return f"Reclaim {self.application}: {self.threshold_days}d + {self.grace_days}d ({self.mode}{state})"

    @property
    def enforcing(self) -> bool:
        return self.mode == self.Mode.ENFORCE

    def clean(self) -> None:
        if self.warning_text:
            try:
                self.warning_text.format(name="", application="", days=0, revoke_after="")
            except (KeyError, IndexError, ValueError) as error:
                raise ValidationError(
                    {
                        "warning_text": f"Unknown placeholder {error}; use {{name}}, {{application}}, {{days}}, "
                        "{revoke_after}."
                    }
                ) from error


class ReclaimCase(models.Model):
    """One piece of unused access (a grant, or a membership no grant explains) on its way to an outcome."""

    class Status(models.TextChoices):
        OPEN = "open", "Open (not warned)"
        WARNED = "warned", "Warned"
        CLOSED = "closed", "Closed"

    OPEN_STATUSES = (Status.OPEN, Status.WARNED)

    class Outcome(models.TextChoices):
        RECLAIMED = "reclaimed", "Reclaimed"
        KEPT_ACTIVE_AGAIN = "kept_active_again", "Kept: active again"
        EXCLUDED = "excluded", "Excluded by the policy"
        POLICY_CHANGED = "policy_changed", "Policy changed"
        UNKNOWN_ACTIVITY = "unknown_activity", "Unknown last activity (IT to check)"
        DRY_RUN = "dry_run", "Dry run: would be reclaimed"
        ACCESS_GONE = "access_gone", "Access ended elsewhere"

    class TicketStatus(models.TextChoices):
        NONE = "", "None"
        TO_OPEN = "to_open", "To open in Jira"
        OPENED = "opened", "Opened"

    policy = models.ForeignKey(ReclaimPolicy, on_delete=models.PROTECT, related_name="cases")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="reclaim_cases")
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="reclaim_cases")
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.PROTECT, related_name="reclaim_cases")
    group = models.ForeignKey(
        IdpGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="For access found in the provider with no grant (drift).",
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    outcome = models.CharField(max_length=20, choices=Outcome.choices, blank=True)
    outcome_note = models.TextField(blank=True)
    last_activity_at = models.DateTimeField(null=True, blank=True, help_text="The last activity the sweep saw.")
    opened_at = models.DateTimeField()
    warned_at = models.DateTimeField(null=True, blank=True)
    revoke_after = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    removal_requested_at = models.DateTimeField(null=True, blank=True)
    removal_detail = models.CharField(max_length=300, blank=True, help_text="What the removal did (grant, change).")
    ticket_status = models.CharField(max_length=20, choices=TicketStatus.choices, blank=True)
    ticket_update = models.ForeignKey(
        "governance.JiraUpdate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The queued Jira call that creates the ticket (its key is copied once Jira answers).",
    )
    ticket_key = models.CharField(max_length=64, blank=True, help_text="The Jira issue opened for this case.")

    class Meta:
        ordering = ["-opened_at", "-id"]
        verbose_name = "reclaim case"
        constraints = [
            models.CheckConstraint(
                condition=Q(grant__isnull=False, group__isnull=True) | Q(grant__isnull=True, group__isnull=False),
                name="reclaim_case_grant_xor_group",
            ),
            # Safe to run twice: at most one open case per piece of access.
            models.UniqueConstraint(
                fields=["grant"],
                condition=Q(status__in=["open", "warned"], grant__isnull=False),
                name="one_open_reclaim_case_per_grant",
            ),
            models.UniqueConstraint(
                fields=["person", "group"],
                condition=Q(status__in=["open", "warned"], group__isnull=False),
                name="one_open_reclaim_case_per_membership",
            ),
        ]
        indexes = [
            # The sweep: open cases of an application, and those due for removal.
            models.Index(fields=["application", "status"], name="reclaim_case_app_status"),
            models.Index(fields=["status", "revoke_after"], name="reclaim_case_due"),
            # Admin counts per policy and outcome, and "reclaimed this month".
            models.Index(fields=["policy", "outcome", "closed_at"], name="reclaim_case_outcomes"),
        ]

    def __str__(self) -> str:
        what = f"grant #{self.grant_id}" if self.grant_id else f"group #{self.group_id}"
        return f"reclaim case #{self.pk}: {self.person.email} in {self.application} ({what}, {self.status})"


class OpenReclaimCase(ReclaimCase):
    class Meta:
        proxy = True
        verbose_name = "open reclaim case"


class ClosedReclaimCase(ReclaimCase):
    class Meta:
        proxy = True
        verbose_name = "closed reclaim case (history)"
        verbose_name_plural = "closed reclaim cases (history)"
