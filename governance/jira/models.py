"""The Jira write-back queue."""

from __future__ import annotations

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from lib.outbox.models import DeliveryStatus, OutboxRow, Priority


class JiraUpdate(OutboxRow):
    """One outbound call to Jira (the write-back queue), written in the transaction of its audit event
    and sent by a task after commit. Jira being down delays these rows; it never blocks a change."""

    class Kind(models.TextChoices):
        COMMENT = "comment", "Comment"
        PROPERTY = "property", "Issue property"
        TRANSITION = "transition", "Transition"
        CREATE_ISSUE = "create_issue", "Create issue"
        CREATE_REQUEST = "create_request", "Create service desk request"
        PUBLISH_CATALOG = "publish_catalog", "Publish the catalog to the request form"

    Status = DeliveryStatus

    OPEN = (Status.QUEUED, Status.SENDING)

    RUNNING = DeliveryStatus.SENDING
    DONE = DeliveryStatus.SENT

    kind = models.CharField(max_length=20, choices=Kind.choices)
    issue_key = models.CharField(max_length=64, blank=True, help_text="Empty for create_issue until Jira answers.")
    payload = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.QUEUED)
    priority = models.PositiveSmallIntegerField(choices=Priority.choices, default=Priority.NOTIFICATION)
    result = models.JSONField(default=dict, blank=True, help_text="What Jira answered (comment id, issue key).")
    audit_event = models.ForeignKey(
        "governance.AuditEvent", null=True, blank=True, on_delete=models.SET_NULL, related_name="jira_updates"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta(OutboxRow.Meta):
        indexes = [
            *OutboxRow.Meta.indexes,
            # Per-issue ordering and property coalescing.
            models.Index(fields=["issue_key", "kind", "status"], name="jira_update_issue"),
        ]
        permissions = [("retry_jira_update", "Can retry Jira updates now")]

    @property
    def sent_at(self):
        """When Jira accepted it (the engine's finished_at of a sent row)."""
        return self.finished_at if self.status == self.Status.SENT else None

    def __str__(self) -> str:
        return f"{self.get_kind_display()} → {self.issue_key or 'new issue'} [{self.status}]"


class JiraCatalogOption(models.Model):
    """Which option of the request form's cascading field stands for an application (parent) or
    one of its roles (child), so a rename updates the option instead of adding another."""

    application = models.ForeignKey("catalog.Application", on_delete=models.CASCADE, related_name="+")
    role = models.ForeignKey("catalog.Role", null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    field_id = models.CharField(max_length=60)
    context_id = models.CharField(max_length=30)
    option_id = models.CharField(max_length=30)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["field_id", "context_id", "option_id"], name="jira_catalog_option_unique"),
            models.UniqueConstraint(
                fields=["field_id", "context_id", "application"],
                condition=models.Q(role__isnull=True),
                name="jira_catalog_option_one_per_app",
            ),
            models.UniqueConstraint(
                fields=["field_id", "context_id", "role"],
                condition=models.Q(role__isnull=False),
                name="jira_catalog_option_one_per_role",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.field_id}/{self.context_id} option {self.option_id}"
