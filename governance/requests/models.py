"""Access requests and how they are routed: policies, steps, decisions, delegations, auto-approval rules."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q

from catalog.models import Application, Person, Role
from governance.requests.channels import channel_choices


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

    class Separation(models.TextChoices):
        BY_RISK = "by_risk", "For high and privileged applications"
        ALWAYS = "always", "Always"
        NEVER = "never", "Never"

    distinct_approvers = models.CharField(
        max_length=10,
        choices=Separation.choices,
        default=Separation.BY_RISK,
        help_text="Separation of duties: whoever decided one step is not eligible for a later step "
        "(the step falls back as for a missing approver).",
    )
    exception_policy = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The exception route: extensions past the role's maximum duration are routed through this "
        "policy. Without one, the role's maximum is a hard limit.",
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

    def requires_distinct_approvers(self, application: Application) -> bool:
        """Whether a request for `application` routed by this policy needs a new person per step."""
        if self.distinct_approvers == self.Separation.BY_RISK:
            return application.risk_tier in (Application.RiskTier.HIGH, Application.RiskTier.PRIVILEGED)
        return self.distinct_approvers == self.Separation.ALWAYS

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
    auto_approval_rule_version = models.PositiveIntegerField(
        null=True, blank=True, help_text="The version of that rule when it approved the request."
    )
    fingerprint = models.CharField(max_length=64, blank=True, help_text="Hash of the submitted body (idempotency).")
    extends_grant = models.ForeignKey(
        "governance.Grant",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="extension_requests",
        help_text="Set when this request asks to extend an existing grant rather than create one.",
    )
    is_emergency = models.BooleanField(default=False, help_text="Break-glass: granted at once, reviewed after.")
    source = models.CharField(max_length=20, default="api")
    manual_touches = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="People's decisions on its steps and manual fulfilment tasks of its grant, so far "
        "(kept by the services that record them, in their transaction).",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["status", "created_at"]),
            models.Index(fields=["beneficiary", "status"]),
            # The dashboard's and the metrics API's period, whatever the status; on PostgreSQL the
            # metrics' count of the period's requests reads the index alone.
            models.Index(
                fields=["created_at"],
                include=["application", "role", "status", "manual_touches"],
                name="request_created_tally",
            ),
            # The metrics' count of requests of one source (birthright: "lifecycle") in a period.
            models.Index(fields=["source", "created_at"], name="request_source_created"),
        ]
        constraints = [
            # One open request per person and role (extension requests are per grant), in the database.
            models.UniqueConstraint(
                fields=["beneficiary", "role"],
                condition=Q(status__in=("pending_approval", "approved", "provisioning"), extends_grant__isnull=True),
                name="one_open_request_per_person_role",
            ),
            models.UniqueConstraint(
                fields=["extends_grant"],
                condition=Q(status__in=("pending_approval", "approved", "provisioning"), extends_grant__isnull=False),
                name="one_open_extension_per_grant",
            ),
        ]
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
    channel = models.CharField(max_length=20, blank=True, choices=channel_choices)
    comment = models.TextField(blank=True)
    opened_at = models.DateTimeField(null=True, blank=True, help_text="When the step started awaiting a decision.")
    delegated_from = models.JSONField(
        default=dict, blank=True, help_text="Delegate email → the approver they stand in for."
    )
    reminded_at = models.DateTimeField(null=True, blank=True)
    escalated_at = models.DateTimeField(null=True, blank=True)
    requested_at = models.DateTimeField(
        null=True,
        blank=True,
        editable=False,
        help_text="When its request was made (the request's creation time, copied when the step was created): "
        "the metrics select a period's steps by it without joining the requests.",
    )

    class Meta:
        ordering = ["order"]
        constraints = [models.UniqueConstraint(fields=["request", "order"], name="approval_step_order_unique")]
        # The follow-up sweep: pending steps by the time they opened.
        indexes = [
            models.Index(fields=["status", "opened_at"], name="step_status_opened"),
            # The metrics' period: steps by the time their request was made.
            models.Index(fields=["requested_at"], name="step_requested"),
        ]

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
    channel = models.CharField(max_length=20, choices=channel_choices)
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
    grant_on_join = models.BooleanField(
        default=False,
        help_text="Birthright: when a person joins (or moves into) one of these departments, Gatehouse requests "
        "and provisions this role for them itself. Needs a role.",
    )
    version = models.PositiveIntegerField(default=1, editable=False)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(application__isnull=False) | Q(role__isnull=False), name="auto_rule_names_app_or_role"
            ),
            models.CheckConstraint(
                condition=Q(grant_on_join=False) | Q(role__isnull=False), name="auto_rule_join_names_role"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} (v{self.version})"

    @property
    def scope_label(self) -> str:
        return f"role {self.role}" if self.role_id else f"any role of {self.application}"

    @property
    def summary(self) -> str:
        """What the rule approves, as a person reads it."""
        who = ", ".join(self.departments or []) or "nobody"
        parts = [f"people in {who}", "contractors too" if self.include_contractors else "not contractors"]
        if self.grant_on_join:
            parts.append("granted on join")
        if not self.is_active:
            parts.append("inactive")
        return "; ".join(parts)

    def clean(self) -> None:
        if self.grant_on_join and not self.role_id:
            raise ValidationError({"grant_on_join": "Granting on join needs a role: name the role to grant."})
