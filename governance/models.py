"""What was asked and decided: requests, approval steps, grants, policies, audit, API tokens."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import models
from django.db.models import Q

from catalog.models import Application, Person, Role


class ApprovalPolicy(models.Model):
    """An ordered list of steps. The most specific active policy applies: role, then
    application, then the application's risk tier, then the global default (no scope)."""

    name = models.CharField(max_length=200)
    application = models.ForeignKey(
        Application, null=True, blank=True, on_delete=models.CASCADE, related_name="approval_policies"
    )
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.CASCADE, related_name="approval_policies")
    risk_tier = models.CharField(max_length=20, choices=Application.RiskTier.choices, blank=True)
    fallback_approvers = models.ManyToManyField(
        Person,
        blank=True,
        related_name="+",
        help_text="Who decides a step when its own approvers are missing, inactive or the requester.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    is_active = models.BooleanField(default=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "approval policies"
        constraints = [
            models.UniqueConstraint(
                fields=["role"], condition=Q(is_active=True, role__isnull=False), name="one_active_policy_per_role"
            ),
            models.UniqueConstraint(
                fields=["application"],
                condition=Q(is_active=True, role__isnull=True, application__isnull=False),
                name="one_active_policy_per_application",
            ),
            models.UniqueConstraint(
                fields=["risk_tier"],
                condition=Q(is_active=True, role__isnull=True, application__isnull=True) & ~Q(risk_tier=""),
                name="one_active_policy_per_risk_tier",
            ),
            models.UniqueConstraint(
                fields=["is_active"],
                condition=Q(is_active=True, role__isnull=True, application__isnull=True, risk_tier=""),
                name="one_active_global_policy",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    @property
    def scope_label(self) -> str:
        if self.role_id:
            return f"role {self.role}"
        if self.application_id:
            return f"application {self.application}"
        if self.risk_tier:
            return f"risk tier {self.risk_tier}"
        return "global default"


class StepKind(models.TextChoices):
    AUTOMATIC = "automatic", "Automatic"
    MANAGER = "manager", "Beneficiary's manager"
    SECOND_LEVEL_MANAGER = "second_level_manager", "Beneficiary's manager's manager"
    APP_OWNER = "app_owner", "Application owner"
    NAMED = "named", "Named people (any one)"
    NAMED_ALL = "named_all", "Named people (all of them)"


class PolicyStep(models.Model):
    policy = models.ForeignKey(ApprovalPolicy, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField(default=1)
    kind = models.CharField(max_length=20, choices=StepKind.choices)
    approvers = models.ManyToManyField(Person, blank=True, related_name="+", help_text="For named-people steps.")

    class Meta:
        ordering = ["order", "id"]
        constraints = [models.UniqueConstraint(fields=["policy", "order"], name="policy_step_order_unique")]

    def __str__(self) -> str:
        return f"{self.order}. {self.get_kind_display()}"


class AccessRequest(models.Model):
    class Status(models.TextChoices):
        PENDING_APPROVAL = "pending_approval", "Pending approval"
        APPROVED = "approved", "Approved"
        PROVISIONING = "provisioning", "Provisioning"
        FULFILLED = "fulfilled", "Fulfilled"
        DENIED = "denied", "Denied"
        CANCELLED = "cancelled", "Cancelled"
        EXPIRED = "expired", "Expired undecided"
        FAILED = "failed", "Failed"

    OPEN = (Status.PENDING_APPROVAL, Status.APPROVED, Status.PROVISIONING)
    TERMINAL = (Status.FULFILLED, Status.DENIED, Status.CANCELLED, Status.EXPIRED, Status.FAILED)

    jira_issue_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    requester = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="requests_made")
    beneficiary = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="access_requests")
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="access_requests")
    role = models.ForeignKey(Role, on_delete=models.PROTECT, related_name="access_requests")
    duration = models.DurationField(null=True, blank=True)
    reason = models.TextField()
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING_APPROVAL)
    status_reason = models.TextField(blank=True, help_text="Why the request ended as it did (failed, cancelled).")
    policy = models.ForeignKey(ApprovalPolicy, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    policy_version = models.PositiveIntegerField(null=True, blank=True)
    policy_label = models.CharField(max_length=300, blank=True, help_text="The route's policy, as it was.")
    auto_approval_rule = models.ForeignKey(
        "AutoApprovalRule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The rule that approved this request without a person, if any.",
    )
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Hash of the submitted body (idempotency).")
    extends_grant = models.ForeignKey(
        "Grant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="extension_requests",
        help_text="Set when this request asks to extend an existing grant rather than create one.",
    )
    is_emergency = models.BooleanField(default=False, help_text="Break-glass: granted at once, reviewed after.")
    source = models.CharField(max_length=20, default="api")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "created_at"]), models.Index(fields=["beneficiary", "status"])]
        permissions = [
            ("decide_any_step", "Can approve or deny any step (recorded as an override)"),
            ("decide_step", "Can approve or deny steps routed to them from the admin"),
        ]

    def __str__(self) -> str:
        return self.jira_issue_key or f"request #{self.pk}"


class ApprovalStep(models.Model):
    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for earlier steps"
        PENDING = "pending", "Awaiting decision"
        APPROVED = "approved", "Approved"
        DENIED = "denied", "Denied"
        CANCELLED = "cancelled", "Cancelled"

    request = models.ForeignKey(AccessRequest, on_delete=models.CASCADE, related_name="steps")
    order = models.PositiveSmallIntegerField()
    kind = models.CharField(max_length=20, choices=StepKind.choices)
    approvers = models.ManyToManyField(Person, blank=True, related_name="approval_steps")
    route_note = models.TextField(blank=True, help_text="How the approvers were chosen (fallbacks, exclusions).")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.WAITING)
    decided_by = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_by_user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    channel = models.CharField(max_length=20, blank=True)
    comment = models.TextField(blank=True)
    opened_at = models.DateTimeField(null=True, blank=True, help_text="When the step started awaiting a decision.")
    delegated_from = models.JSONField(
        default=dict, blank=True, help_text="Delegate email → the approver they stand in for."
    )
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["order"]
        constraints = [models.UniqueConstraint(fields=["request", "order"], name="approval_step_order_unique")]
        # The follow-up sweep: pending steps by the time they opened.
        indexes = [models.Index(fields=["status", "opened_at"], name="step_status_opened")]

    def __str__(self) -> str:
        return f"{self.request} step {self.order} ({self.kind}, {self.status})"


class ApprovalDecision(models.Model):
    """One person's decision on a step (a step of kind "all of them" collects several)."""

    step = models.ForeignKey(ApprovalStep, on_delete=models.CASCADE, related_name="decisions")
    person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    approved = models.BooleanField()
    decided_at = models.DateTimeField()
    channel = models.CharField(max_length=20)
    comment = models.TextField(blank=True)
    on_behalf_of = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="The approver this person decided for as their delegate.",
    )

    class Meta:
        ordering = ["decided_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["step", "person"], condition=Q(person__isnull=False), name="one_decision_per_person_per_step"
            ),
        ]

    def __str__(self) -> str:
        verdict = "approved" if self.approved else "denied"
        return f"{self.person.email if self.person else 'admin'} {verdict} step {self.step_id}"


class Delegation(models.Model):
    """While away, `person` hands their approvals to `delegate` for a date range."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="delegations")
    delegate = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="delegations_received")
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField()
    reason = models.CharField(max_length=300, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-starts_at"]
        indexes = [models.Index(fields=["person", "starts_at", "ends_at"], name="delegation_window")]
        constraints = [
            models.CheckConstraint(condition=Q(ends_at__gt=models.F("starts_at")), name="delegation_ends_after_start"),
            models.CheckConstraint(condition=~Q(delegate=models.F("person")), name="delegation_not_to_self"),
        ]

    def __str__(self) -> str:
        return f"{self.person.email} → {self.delegate.email} ({self.starts_at:%Y-%m-%d} – {self.ends_at:%Y-%m-%d})"


def validate_departments(value: object) -> None:
    """A list of department names, e.g. ["Engineering", "IT"]."""
    if not isinstance(value, list) or not value or not all(isinstance(d, str) and d.strip() for d in value):
        raise ValidationError('Enter a list of department names, e.g. ["Engineering", "IT"].')


class AutoApprovalRule(models.Model):
    """Approve without a person: "this role (or any role of this application) for people in
    these departments" (birthright access). Each auto-approved request records its rule."""

    name = models.CharField(max_length=200)
    application = models.ForeignKey(Application, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    departments = models.JSONField(
        default=list,
        validators=[validate_departments],
        help_text='Departments whose people qualify, e.g. ["Engineering"].',
    )
    include_contractors = models.BooleanField(default=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(application__isnull=False) | Q(role__isnull=False), name="auto_rule_names_app_or_role"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Grant(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending provisioning"
        ACTIVE = "active", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"
        FAILED = "failed", "Failed"

    LIVE = (Status.PENDING, Status.ACTIVE)

    request = models.OneToOneField(AccessRequest, null=True, blank=True, on_delete=models.PROTECT, related_name="grant")
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

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            # The expiry sweep: active grants whose time has come.
            models.Index(fields=["status", "expires_at"], name="grant_status_expires"),
            models.Index(fields=["person", "status"], name="grant_person_status"),
        ]
        permissions = [("revoke_grant", "Can revoke grants now"), ("extend_grant", "Can extend grants")]

    def __str__(self) -> str:
        return f"grant #{self.pk} {self.person.email} → {self.role} [{self.status}]"


class GrantExtension(models.Model):
    """One extension of a grant: the grant keeps one history and its memberships stay in place."""

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="extensions")
    requested_by = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="+")
    added = models.DurationField()
    previous_expires_at = models.DateTimeField()
    new_expires_at = models.DateTimeField()
    reason = models.TextField()
    request = models.ForeignKey(AccessRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    approved_without_round = models.BooleanField(
        help_text="True when the role's policy allowed it without a new approval round."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"grant #{self.grant_id} extended to {self.new_expires_at:%Y-%m-%d %H:%M}"


class ExpiryWarning(models.Model):
    """A warning sent before expiry; the unique key makes a second sweep send nothing."""

    grant = models.ForeignKey(Grant, on_delete=models.CASCADE, related_name="expiry_warnings")
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

    request = models.OneToOneField(AccessRequest, on_delete=models.CASCADE, related_name="emergency_review")
    reviewers = models.ManyToManyField(Person, related_name="+")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    decided_by = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    comment = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["status", "created_at"], name="emergency_review_status")]
        permissions = [("review_emergency", "Can confirm or reject emergency access")]

    def __str__(self) -> str:
        return f"emergency review of {self.request} [{self.status}]"


class AuditEvent(models.Model):
    """Append-only evidence. One row per state change, written in the same transaction."""

    at = models.DateTimeField(auto_now_add=True, db_index=True)
    action = models.CharField(max_length=60, db_index=True)
    actor = models.CharField(
        max_length=254, help_text='Who did it: a person\'s email, "admin:<user>", or "system:<what>".'
    )
    actor_person = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    request = models.ForeignKey(
        AccessRequest, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events"
    )
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.SET_NULL, related_name="audit_events")
    subject = models.ForeignKey(Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    message = models.TextField()
    data = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)

    class Meta:
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.at:%Y-%m-%d %H:%M:%S} {self.action}: {self.message}"


class ApiToken(models.Model):
    """A bearer token for the REST API. Only a SHA-256 hash of the secret is stored."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part, to find the token.")
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        permissions = [("revoke_token", "Can revoke API tokens")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class JiraUpdate(models.Model):
    """One outbound call to Jira (the write-back queue), written in the transaction of its audit event
    and sent by a task after commit. Jira being down delays these rows; it never blocks a change."""

    class Kind(models.TextChoices):
        COMMENT = "comment", "Comment"
        PROPERTY = "property", "Issue property"
        TRANSITION = "transition", "Transition"
        CREATE_ISSUE = "create_issue", "Create issue"

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        SENDING = "sending", "Sending"
        SENT = "sent", "Sent"
        FAILED = "failed", "Failed"

    OPEN = (Status.QUEUED, Status.SENDING)

    kind = models.CharField(max_length=20, choices=Kind.choices)
    issue_key = models.CharField(max_length=64, blank=True, help_text="Empty for create_issue until Jira answers.")
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    result = models.JSONField(default=dict, blank=True, help_text="What Jira answered (comment id, issue key).")
    audit_event = models.ForeignKey(
        AuditEvent, null=True, blank=True, on_delete=models.SET_NULL, related_name="jira_updates"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["created_at", "id"]
        indexes = [
            # The sweep: due queued rows, and sending rows whose lease ran out.
            models.Index(fields=["status", "next_attempt_at"], name="jira_update_status_due"),
            models.Index(fields=["status", "claimed_at"], name="jira_update_status_claimed"),
            # Per-issue ordering and property coalescing.
            models.Index(fields=["issue_key", "kind", "status"], name="jira_update_issue"),
        ]
        permissions = [("retry_jira_update", "Can retry Jira updates now")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.issue_key or 'new issue'} [{self.status}]"


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
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.SET_NULL, related_name="drift_findings")
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
