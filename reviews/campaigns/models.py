"""Review campaigns: a snapshot of who has what, one reviewer decision per item, evidence."""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q

from catalog.models import Application, IdpGroup, Person, Role
from governance.models import Grant

__all__ = [
    "CampaignAppOverride",
    "Recurrence",
    "ReviewCampaign",
    "ReviewItem",
    "ReviewRules",
    "ReviewTemplate",
    "ReviewerStrategy",
    "UndecidedAction",
]


class ReviewerStrategy(models.TextChoices):
    MANAGER = "manager", "The person's manager"
    APP_OWNER = "app_owner", "The application owner"
    NAMED = "named", "A named reviewer"


class UndecidedAction(models.TextChoices):
    NOTHING = "nothing", "Nothing (left as they are)"
    REVOKE = "revoke", "Revoke"


class Recurrence(models.TextChoices):
    MONTHLY = "monthly", "Monthly"
    QUARTERLY = "quarterly", "Quarterly"
    SEMIANNUAL = "semiannual", "Every six months"
    ANNUAL = "annual", "Yearly"


class ReviewRules(models.Model):
    """Who reviews and by which rules: a campaign's, and the template's that launches campaigns."""

    reviewer_strategy = models.CharField(
        max_length=20, choices=ReviewerStrategy.choices, default=ReviewerStrategy.MANAGER
    )
    named_reviewer = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="For the named strategy."
    )
    fallback_reviewer = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Reviews items with no usable reviewer, self-reviews, and escalations.",
    )
    undecided_action = models.CharField(max_length=20, choices=UndecidedAction.choices, default=UndecidedAction.NOTHING)
    allow_self_review = models.BooleanField(
        default=False, help_text="If off, a reviewer's own access goes to the fallback reviewer."
    )
    inactivity_days = models.PositiveIntegerField(
        default=90, help_text="Recommend revoke when the last login is older than this many days."
    )
    reminder_every_days = models.PositiveIntegerField(
        default=3, help_text="Remind reviewers with pending items every N days (0: never)."
    )
    escalate_days_before_due = models.PositiveIntegerField(
        default=2, help_text="This many days before the due date, pending items move to the fallback reviewer."
    )

    class Meta:
        abstract = True


#: The rules a template hands to each campaign it launches (attribute names: ids for the reviewers).
REVIEW_RULES = tuple(field.attname for field in ReviewRules._meta.fields)


class ReviewTemplate(ReviewRules):
    """A campaign to launch on a schedule: its scope and settings, and when it recurs.

    `next_run_at` is kept by the launch service (from `starts_at` and the recurrence); each launch
    makes one campaign for one period (e.g. "2026-Q2"), unique per template."""

    name = models.CharField(max_length=160, unique=True, help_text='Campaigns are named "<name> <period>".')
    is_active = models.BooleanField(default=True, help_text="Inactive templates launch nothing.")
    applications = models.ManyToManyField(Application, blank=True, related_name="+", help_text="Every role of these.")
    roles = models.ManyToManyField(Role, blank=True, related_name="+", help_text="And/or these roles only.")
    privileged_applications = models.BooleanField(
        default=False, help_text="Also every high and privileged application, as classified at each launch."
    )
    recurrence = models.CharField(max_length=20, choices=Recurrence.choices, default=Recurrence.QUARTERLY)
    starts_at = models.DateTimeField(
        help_text="The first launch; later ones follow the recurrence from it (a month end stays a month end)."
    )
    duration_days = models.PositiveIntegerField(
        default=14, validators=[MinValueValidator(1)], help_text="Each campaign is due this many days after launch."
    )
    next_run_at = models.DateTimeField(null=True, blank=True, editable=False, help_text="The next launch.")
    last_launched_at = models.DateTimeField(null=True, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        verbose_name = "recurring review"
        indexes = [models.Index(fields=["is_active", "next_run_at"], name="review_template_due")]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        if self.reviewer_strategy == ReviewerStrategy.NAMED and not self.named_reviewer_id:
            raise ValidationError({"named_reviewer": "Name the reviewer of the named strategy."})
        if self.duration_days and self.escalate_days_before_due >= self.duration_days:
            raise ValidationError({"escalate_days_before_due": "Must be fewer than the campaign's duration in days."})


class ReviewCampaign(ReviewRules):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        ACTIVE = "active", "Active (reviewers deciding)"
        CLOSED = "closed", "Closed"

    UndecidedAction = UndecidedAction

    name = models.CharField(max_length=200)
    applications = models.ManyToManyField(Application, blank=True, related_name="+", help_text="Every role of these.")
    person = models.ForeignKey(
        Person,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Only this person's access (a mover review). Empty: everyone's.",
    )
    roles = models.ManyToManyField(Role, blank=True, related_name="+", help_text="And/or these roles only.")
    starts_at = models.DateTimeField()
    due_at = models.DateTimeField(help_text="Undecided items get the undecided rule at this time.")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.DRAFT, editable=False)
    launched_at = models.DateTimeField(null=True, blank=True, editable=False)
    closed_at = models.DateTimeField(null=True, blank=True, editable=False)
    snapshot_source = models.TextField(blank=True, editable=False, help_text="Where the population came from.")
    snapshot_size = models.PositiveIntegerField(default=0, editable=False)
    template = models.ForeignKey(
        ReviewTemplate,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="campaigns",
        editable=False,
        help_text="The recurring review that launched it.",
    )
    period = models.CharField(max_length=10, blank=True, editable=False, help_text='Of the template, e.g. "2026-Q2".')
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["status", "due_at"], name="campaign_status_due")]
        constraints = [
            models.CheckConstraint(condition=Q(due_at__gt=models.F("starts_at")), name="campaign_due_after_start"),
            # One campaign per template and period, however many workers run the schedule at once.
            models.UniqueConstraint(
                fields=["template", "period"], condition=Q(template__isnull=False), name="campaign_once_per_period"
            ),
        ]
        permissions = [("close_campaign", "Can close campaigns now")]

    def __str__(self) -> str:
        return self.name


class CampaignAppOverride(models.Model):
    """A different reviewer strategy for one application of the campaign."""

    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="overrides")
    application = models.ForeignKey(Application, on_delete=models.CASCADE, related_name="+")
    reviewer_strategy = models.CharField(max_length=20, choices=ReviewerStrategy.choices)
    named_reviewer = models.ForeignKey(Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+")

    class Meta:
        verbose_name = "per-application reviewer"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "application"], name="campaign_override_unique_app"),
        ]

    def __str__(self) -> str:
        return f"{self.application}: {self.get_reviewer_strategy_display()}"


class ReviewItem(models.Model):
    """One person's access to one application (a grant, a provider membership, or an imported account)."""

    class Source(models.TextChoices):
        GATEHOUSE_GRANT = "gatehouse_grant", "Granted through Gatehouse"
        PROVIDER_MEMBERSHIP = "provider_membership", "Found in the provider (no grant)"
        CSV_IMPORT = "csv_import", "Imported account list"

    class Decision(models.TextChoices):
        UNDECIDED = "undecided", "Undecided"
        KEEP = "keep", "Keep"
        REVOKE = "revoke", "Revoke"

    class Recommendation(models.TextChoices):
        KEEP = "keep", "Keep"
        REVOKE = "revoke", "Revoke"

    class TicketStatus(models.TextChoices):
        NONE = "", "None"
        TO_OPEN = "to_open", "To open"
        OPEN = "open", "Open"
        TO_RESOLVE = "to_resolve", "To resolve"
        RESOLVED = "resolved", "Resolved"

    # No index of its own: the reviewer and pending indexes below lead with the campaign.
    campaign = models.ForeignKey(ReviewCampaign, on_delete=models.CASCADE, related_name="items", db_index=False)
    person = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+", help_text="Empty: not in directory."
    )
    account_email = models.CharField(max_length=254, help_text="As snapshotted (or imported).")
    account_name = models.CharField(max_length=200, blank=True)
    application = models.ForeignKey(Application, on_delete=models.PROTECT, related_name="+")
    role = models.ForeignKey(Role, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    role_label = models.CharField(
        max_length=200, blank=True, help_text="Role as shown (imported roles may be free text)."
    )
    grant = models.ForeignKey(Grant, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    group = models.ForeignKey(
        IdpGroup,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="For provider drift.",
        db_index=False,  # a partial index (Meta): most items have none
    )
    groups_label = models.CharField(max_length=500, blank=True)
    source = models.CharField(max_length=30, choices=Source.choices)
    # Context as it was at the snapshot (evidence; also keeps the reviewer page to a few queries).
    status_at_snapshot = models.CharField(max_length=20, blank=True)
    department = models.CharField(max_length=120, blank=True)
    department_at_grant = models.CharField(max_length=120, blank=True, help_text="Empty: not recorded.")
    title = models.CharField(max_length=160, blank=True)
    last_login_at = models.DateTimeField(null=True, blank=True)
    granted_via = models.CharField(max_length=300, blank=True, help_text="Request key and approvers.")
    granted_at = models.DateTimeField(null=True, blank=True)
    # Routing.
    reviewer = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="review_items")
    routing_note = models.CharField(max_length=300, blank=True)
    escalated_from = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    escalated_at = models.DateTimeField(null=True, blank=True)
    reminded_at = models.DateTimeField(null=True, blank=True)
    # Recommendation and decision.
    recommendation = models.CharField(max_length=10, choices=Recommendation.choices)
    recommendation_reason = models.CharField(max_length=500)
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.UNDECIDED)
    decided_at = models.DateTimeField(null=True, blank=True)
    decided_by = models.ForeignKey(
        Person, null=True, blank=True, on_delete=models.PROTECT, related_name="+", db_index=False
    )
    reason = models.TextField(blank=True)
    submitted_at = models.DateTimeField(null=True, blank=True, help_text="Decision final from then on.")
    # Execution of a revoke.
    executed_at = models.DateTimeField(null=True, blank=True)
    execution_note = models.CharField(max_length=500, blank=True)
    removal_confirmed_at = models.DateTimeField(null=True, blank=True)
    ticket_key = models.CharField(max_length=64, blank=True)
    ticket_status = models.CharField(max_length=20, choices=TicketStatus.choices, blank=True, default="")
    ticket_update = models.ForeignKey(
        "governance.JiraUpdate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text="The queued Jira call that creates the ticket (its key is copied once Jira answers).",
        db_index=False,
    )

    class Meta:
        ordering = ["application__name", "account_name", "id"]
        indexes = [
            # The reviewer page: one reviewer's items of one campaign, filtered.
            models.Index(fields=["campaign", "reviewer", "decision"], name="review_item_reviewer"),
            # Follow-through sweeps: pending items per campaign; removals awaiting confirmation.
            models.Index(fields=["campaign", "submitted_at"], name="review_item_pending"),
            models.Index(
                fields=["executed_at", "removal_confirmed_at"],
                name="review_item_removal",
                condition=models.Q(executed_at__isnull=False),
            ),
            models.Index(fields=["ticket_status"], name="review_item_ticket"),
            # References that most items leave empty are indexed where set only: a launch writes
            # hundreds of thousands of items, and every index costs each of them an insertion.
            *(
                models.Index(
                    fields=[name], name=f"review_item_{name}", condition=models.Q(**{f"{name}__isnull": False})
                )
                for name in ("group", "escalated_from", "decided_by", "ticket_update")
            ),
        ]
        permissions = [("confirm_removal", "Can confirm manual removals")]

    def __str__(self) -> str:
        return f"{self.account_email} → {self.application.name} {self.role_label} [{self.decision}]"

    @property
    def is_final(self) -> bool:
        return self.submitted_at is not None
