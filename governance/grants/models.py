"""Grants: access held for a time, its extensions, expiry warnings and emergency reviews."""

from __future__ import annotations

from django.db import models

from catalog.models import Person, Role


class Grant(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending provisioning"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"
        FAILED = "failed", "Failed"

    LIVE = (Status.PENDING, Status.ACTIVE)

    request = models.OneToOneField(
        "governance.AccessRequest", null=True, blank=True, on_delete=models.PROTECT, related_name="grant"
    )
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="grants")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="grants")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    duration = models.DurationField(null=True, blank=True)
    starts_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True, help_text="When the grant stopped being in force.")
    removed_at = models.DateTimeField(
        null=True, blank=True, help_text="When every membership removal was confirmed by the provider."
    )
    ended_by = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    end_reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    requested_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When its request was made (the request's creation time, copied when the grant was created): "
        "the metrics select a period's grants by it without joining the requests.",
    )
    # What provisioning does for this grant. governance owns these links: provisioning's rows know
    # nothing of grants.
    membership_changes = models.ManyToManyField(
        "provisioning.MembershipChange", through="governance.GrantMembershipChange", related_name="grants", blank=True
    )
    fulfilment_tasks = models.ManyToManyField(
        "provisioning.FulfilmentTask", through="governance.GrantFulfilmentTask", related_name="grants", blank=True
    )

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The expiry sweep: active grants whose time has come.
            models.Index(fields=["status", "expires_at"], name="grant_status_expires"),
            models.Index(fields=["person", "status"], name="grant_person_status"),
            # The metrics' period: grants by the time their request was made.
            models.Index(fields=["requested_at"], name="grant_requested"),
            # The metrics' standing access: grants without an end date (on PostgreSQL read from the index alone).
            models.Index(
                fields=["role"],
                include=["id", "created_at", "ended_at", "status"],
                condition=models.Q(expires_at__isnull=True),
                name="grant_standing",
            ),
        ]
        constraints = [
            # One live grant per person and role, enforced by the database (not only checked first).
            models.UniqueConstraint(
                fields=["person", "role"],
                condition=models.Q(status__in=("pending", "active")),
                name="one_live_grant_per_person_role",
            ),
        ]
        permissions = [("revoke_grant", "Can revoke grants now"), ("extend_grant", "Can extend grants")]

    def __str__(self) -> str:
        return f"grant #{self.pk} {self.person.email} → {self.role} [{self.status}]"


class GrantMembershipChange(models.Model):
    """The grant a membership change serves (one grant per change)."""

    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="change_links")
    change = models.OneToOneField("provisioning.MembershipChange", on_delete=models.CASCADE, related_name="grant_link")

    def __str__(self) -> str:
        return f"grant #{self.grant_id} ← change #{self.change_id}"


class GrantFulfilmentTask(models.Model):
    """The grant a manual fulfilment task serves (one grant per task)."""

    grant = models.ForeignKey(Grant, on_delete=models.PROTECT, related_name="task_links")
    task = models.OneToOneField("provisioning.FulfilmentTask", on_delete=models.CASCADE, related_name="grant_link")

    def __str__(self) -> str:
        return f"grant #{self.grant_id} ← task #{self.task_id}"


class GrantExtension(models.Model):
    """One extension of a grant: the grant keeps one history and its memberships stay in place."""

    grant = models.ForeignKey("governance.Grant", on_delete=models.CASCADE, related_name="extensions")
    requested_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    added = models.DurationField()
    previous_expires_at = models.DateTimeField()
    new_expires_at = models.DateTimeField()
    reason = models.TextField()
    request = models.ForeignKey(
        "governance.AccessRequest", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved_without_round = models.BooleanField(
        help_text="True when the role's policy allowed it without a new approval round."
    )
    exception_route = models.CharField(
        max_length=300,
        blank=True,
        help_text="Set when the extension passed the role's maximum: the exception policy that approved it.",
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"grant #{self.grant_id} extended to {self.new_expires_at:%Y-%m-%d %H:%M}"


class ExpiryWarning(models.Model):
    """A warning sent before expiry; the unique key makes a second sweep send nothing."""

    grant = models.ForeignKey("governance.Grant", on_delete=models.CASCADE, related_name="expiry_warnings")
    lead_seconds = models.PositiveIntegerField(help_text="How long before expiry this warning is for.")
    expires_at = models.DateTimeField(help_text="The expiry it warned about (an extension warns again).")
    sent_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["grant", "lead_seconds", "expires_at"], name="one_warning_per_lead")
        ]

    def __str__(self) -> str:
        return f"warning for grant #{self.grant_id} ({self.lead_seconds}s before)"


class EmergencyReview(models.Model):
    """The after-the-fact review a break-glass grant owes: confirm it, or reject (revokes at once)."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting review"
        CONFIRMED = "confirmed", "Confirmed"
        REJECTED = "rejected", "Rejected"
        EXPIRED = "expired", "Unanswered past the deadline"

    request = models.OneToOneField(
        "governance.AccessRequest", on_delete=models.CASCADE, related_name="emergency_review"
    )
    reviewers = models.ManyToManyField(Person, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="emergency_review_status")]
        permissions = [("review_emergency", "Can confirm or reject emergency access")]

    def __str__(self) -> str:
        return f"emergency review of {self.request} [{self.status}]"
