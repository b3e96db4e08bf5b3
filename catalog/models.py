"""What exists: people (the directory), applications, roles, identity-provider groups."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils import timezone

from catalog.durations import LONGEST, format_iso_duration, parse_iso_duration
from catalog.registries import connector_choices


class Person(models.Model):
    class Status(models.TextChoices):
        ACTIVE = "active", "Active"
        SUSPENDED = "suspended", "Suspended"
        DEPROVISIONED = "deprovisioned", "Deprovisioned"

    email = models.EmailField(max_length=254)
    name = models.CharField(max_length=200)
    manager = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="reports")
    department = models.CharField(max_length=120, blank=True)
    title = models.CharField(max_length=160, blank=True)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.ACTIVE)
    status_changed_at = models.DateTimeField(
        null=True, blank=True, help_text="When Gatehouse saw the status change (sync, or an edit here)."
    )
    directory_state = models.CharField(
        max_length=60,
        blank=True,
        help_text="The state the directory reported, in its own words (e.g. SUSPENDED, accountEnabled=false, deleted).",
    )
    is_contractor = models.BooleanField(default=False)
    last_login_at = models.DateTimeField(null=True, blank=True, help_text="Last sign-in seen at the identity provider.")
    directory = models.CharField(
        max_length=40, blank=True, help_text="The connector whose directory sync last reported this person."
    )
    external_id = models.CharField(max_length=200, blank=True, help_text="The person's id in that directory.")
    atlassian_account_id = models.CharField(
        max_length=128,
        blank=True,
        help_text="Their Atlassian account id, to match Jira approvals when Jira hides the email address.",
    )
    slack_user_id = models.CharField(
        max_length=32,
        blank=True,
        help_text="Their Slack user id, found by verified email (users.lookupByEmail); looked up again when it fails.",
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="person",
        help_text="The Django login of this person, for admin and approver pages.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["email"]
        constraints = [
            models.UniqueConstraint(Lower("email"), name="person_email_unique_ci"),
        ]
        indexes = [models.Index(fields=["status"])]

    def __str__(self) -> str:
        return f"{self.name} <{self.email}>"

    def save(self, *args, **kwargs) -> None:
        """Stamp `status_changed_at` when the status changes (bulk writes by sync stamp it themselves)."""
        loaded = Person.Status.ACTIVE if self._state.adding else self.__dict__.get("_loaded_status")
        if loaded is not None and "status" in self.__dict__ and self.status != loaded:
            self.status_changed_at = timezone.now()
            update_fields = kwargs.get("update_fields")
            if update_fields is not None and "status" in update_fields:
                kwargs["update_fields"] = {*update_fields, "status_changed_at"}
        super().save(*args, **kwargs)
        self._loaded_status = self.__dict__.get("status", loaded)

    @classmethod
    def from_db(cls, db, field_names, values):
        person = super().from_db(db, field_names, values)
        person._loaded_status = person.__dict__.get("status")  # None when deferred: then never stamped
        return person

    def clean(self) -> None:
        self.email = (self.email or "").strip().lower()
        if self.manager_id and self.manager_id == self.pk:
            raise ValidationError({"manager": "A person cannot be their own manager."})

    @property
    def is_active(self) -> bool:
        return self.status == self.Status.ACTIVE


class MoverPolicy(models.TextChoices):
    """What happens to a person's access when the directory says they moved (department, manager, title)."""

    REVIEW = "review", "Review by the new manager"
    REVOKE = "revoke", "Revoke the old department's birthright; review the rest"
    NOTHING = "nothing", "Nothing"


class Application(models.Model):
    class Status(models.TextChoices):
        APPROVED = "approved", "Approved"
        DRAFT = "draft", "Draft"
        RETIRED = "retired", "Retired"

    class RiskTier(models.TextChoices):
        LOW = "low", "Low"
        MEDIUM = "medium", "Medium"
        HIGH = "high", "High"
        PRIVILEGED = "privileged", "Privileged"

    class ProvisioningMode(models.TextChoices):
        AUTOMATIC = "automatic", "Automatic (identity-provider groups)"
        MANUAL = "manual", "Manual (fulfilment task for IT)"

    slug = models.SlugField(max_length=80, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    owner = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.SET_NULL, related_name="owned_applications"
    )
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT)
    risk_tier = models.CharField(max_length=20, choices=RiskTier.choices, default=RiskTier.MEDIUM)
    provisioning_mode = models.CharField(
        max_length=20, choices=ProvisioningMode.choices, default=ProvisioningMode.AUTOMATIC
    )
    mover_policy = models.CharField(
        max_length=20,
        choices=MoverPolicy.choices,
        blank=True,
        help_text="When a holder moves. Empty: GATEHOUSE_MOVER_POLICY.",
    )
    external_ref = models.CharField(
        max_length=250,
        null=True,
        blank=True,
        unique=True,
        help_text='"<connector>:<id>" of the provider application this entry was proposed from by sync.',
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    @property
    def is_requestable(self) -> bool:
        return self.status == self.Status.APPROVED


def validate_iso_durations(value: object) -> None:
    """Allowed durations are a list of positive ISO-8601 durations such as "PT6H" or "P7D"."""
    if not isinstance(value, list):
        raise ValidationError('Enter a list of ISO-8601 durations, e.g. ["PT1H", "P1D"].')
    for item in value:
        parsed = parse_iso_duration(item)
        if parsed is not None and parsed > LONGEST:
            raise ValidationError(f"{item!r} is longer than ten years.")
        if parsed is None:
            raise ValidationError(f"{item!r} is not a positive ISO-8601 duration (e.g. PT6H, P7D).")


class Role(models.Model):
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="roles")
    slug = models.SlugField(max_length=80)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    requestable = models.BooleanField(default=True)
    allowed_durations = models.JSONField(
        default=list,
        blank=True,
        validators=[validate_iso_durations],
        help_text='ISO-8601 durations a requester may choose, e.g. ["PT1H", "PT6H", "P1D"]. Empty: any.',
    )
    default_duration = models.DurationField(
        null=True, blank=True, help_text="Used when a request names no duration (and none is required)."
    )
    max_duration = models.DurationField(null=True, blank=True, help_text="Longest grant allowed, extensions included.")
    duration_required = models.BooleanField(
        null=True,
        blank=True,
        help_text="Whether a request must name a duration. Unset: required for high and privileged applications.",
    )
    break_glass_allowed = models.BooleanField(
        default=False, help_text="Emergency access: granted at once for a short window, reviewed afterwards."
    )
    break_glass_max_duration = models.DurationField(
        null=True, blank=True, help_text="Longest emergency window (default one hour)."
    )
    mover_policy = models.CharField(
        max_length=20,
        choices=MoverPolicy.choices,
        blank=True,
        help_text="When a holder moves. Empty: the application's, then GATEHOUSE_MOVER_POLICY.",
    )
    groups = models.ManyToManyField("IdpGroup", through="RoleGroup", related_name="roles", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["application__name", "name"]
        constraints = [
            models.UniqueConstraint(fields=["application", "slug"], name="role_slug_unique_in_app"),
        ]

    def __str__(self) -> str:
        return f"{self.application.name} / {self.name}"

    @property
    def requires_duration(self) -> bool:
        if self.duration_required is not None:
            return self.duration_required
        return self.application.risk_tier in (Application.RiskTier.HIGH, Application.RiskTier.PRIVILEGED)

    def allowed_timedeltas(self) -> list[timedelta]:
        return [parse_iso_duration(d) for d in self.allowed_durations]

    def clean(self) -> None:
        """Every duration field positive; choices and default within the maximum; default a choice."""
        errors: dict[str, str] = {}
        for name in ("default_duration", "max_duration", "break_glass_max_duration"):
            value = getattr(self, name)
            if value is not None and value <= timedelta(0):
                errors[name] = "Must be positive."
            elif value is not None and value > LONGEST:
                errors[name] = "Must be at most ten years."
        allowed = (
            [parse_iso_duration(d) for d in self.allowed_durations] if isinstance(self.allowed_durations, list) else []
        )
        if self.max_duration and self.max_duration > timedelta(0):
            too_long = [
                d for d, p in zip(self.allowed_durations or [], allowed, strict=False) if p and p > self.max_duration
            ]
            if too_long:
                errors["allowed_durations"] = (
                    f"{', '.join(too_long)} exceed the maximum {format_iso_duration(self.max_duration)}."
                )
            if self.default_duration and self.default_duration > self.max_duration:
                errors["default_duration"] = "The default exceeds the maximum."
        if self.default_duration and allowed and None not in allowed and self.default_duration not in allowed:
            errors["default_duration"] = "The default must be one of the allowed durations."
        if self.break_glass_max_duration and not self.break_glass_allowed:
            errors["break_glass_max_duration"] = "Set only when emergency access is allowed."
        if errors:
            raise ValidationError(errors)

    @property
    def break_glass_window(self) -> timedelta:
        return self.break_glass_max_duration or timedelta(hours=1)


class IdpGroup(models.Model):
    """A group in an identity provider. `connector` names the provider (see provisioning)."""

    connector = models.CharField(max_length=40, default="local", choices=connector_choices)
    external_id = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True)
    writable = models.BooleanField(
        default=True, help_text="Whether the provider lets Gatehouse change this group's members (set by sync)."
    )
    not_writable_reason = models.TextField(blank=True, help_text="Why the provider will not change its members.")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["connector", "name"]
        verbose_name = "identity-provider group"
        constraints = [
            models.UniqueConstraint(fields=["connector", "external_id"], name="idp_group_unique_external_id"),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.connector})"


class RoleGroup(models.Model):
    """Granting the role makes the person a member of this group."""

    role = models.ForeignKey(Role, on_delete=models.CASCADE, related_name="group_mappings")
    group = models.ForeignKey(IdpGroup, on_delete=models.PROTECT, related_name="role_mappings")

    class Meta:
        verbose_name = "role → group mapping"
        constraints = [models.UniqueConstraint(fields=["role", "group"], name="role_group_unique")]

    def __str__(self) -> str:
        return f"{self.role} → {self.group}"

    def clean(self) -> None:
        """A role is never newly bound to a group the provider will not change (an existing binding
        to a group that became read-only is reported by sync, not made uneditable here)."""
        if self.pk and RoleGroup.objects.filter(pk=self.pk, group_id=self.group_id).exists():
            return
        group = IdpGroup.objects.filter(pk=self.group_id).only("writable", "not_writable_reason", "name").first()
        if group is not None and not group.writable:
            reason = group.not_writable_reason or "the provider does not accept membership changes to it"
            raise ValidationError({"group": f"{group.name} cannot be changed by Gatehouse: {reason}"})


class GroupMembership(models.Model):
    """What Gatehouse knows of a membership in the provider (kept by provisioning and sync).

    `origin` says whether Gatehouse put the person there or found them there: a membership
    that existed before any grant is never silently removed when a grant ends.
    """

    class Origin(models.TextChoices):
        GATEHOUSE = "gatehouse", "Added by Gatehouse"
        EXTERNAL = "external", "Found in the provider"

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="memberships")
    group = models.ForeignKey(IdpGroup, on_delete=models.CASCADE, related_name="memberships")
    origin = models.CharField(max_length=20, choices=Origin.choices)
    since = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["person", "group"], name="group_membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.person.email} ∈ {self.group.name}"


class AppActivity(models.Model):
    """When a person last used one application, where the provider reports it (for Auto Reclaim)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="app_activity")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="activity")
    last_activity_at = models.DateTimeField()
    source = models.CharField(max_length=40, help_text="Where the figure came from, e.g. the connector's name.")

    class Meta:
        verbose_name = "application activity"
        verbose_name_plural = "application activity"
        constraints = [
            models.UniqueConstraint(fields=["person", "application"], name="app_activity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.person.email} last used {self.application.name} at {self.last_activity_at:%Y-%m-%d %H:%M}"
