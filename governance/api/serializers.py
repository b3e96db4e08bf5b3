"""API input and output shapes. Output serializers read only what selectors prefetched."""

from __future__ import annotations

from datetime import timedelta

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from catalog.durations import describe_duration_problem, format_iso_duration, parse_iso_duration
from governance.jira.catalog_field import resolve_choice

ISSUE_KEY = r"^[A-Za-z][A-Za-z0-9_]*-\d+$"


@extend_schema_field({"type": "string", "format": "duration", "example": "P7D"})
class IsoDurationField(serializers.Field):
    """An ISO-8601 duration such as PT6H, P7D or P2W, in both directions."""

    def to_internal_value(self, data) -> timedelta:
        parsed = parse_iso_duration(data)
        if parsed is None:
            raise serializers.ValidationError(describe_duration_problem(data), code="invalid")
        return parsed

    def to_representation(self, value: timedelta) -> str:
        return format_iso_duration(value)


class IssueKeyField(serializers.RegexField):
    """A Jira issue key, compared and stored upper-case (`ithelp-104` is `ITHELP-104`)."""

    def __init__(self, **kwargs):
        kwargs.setdefault("error_messages", {"invalid": "Use a Jira issue key such as ITHELP-123."})
        super().__init__(ISSUE_KEY, max_length=64, **kwargs)

    def to_internal_value(self, data) -> str:
        return super().to_internal_value(data).upper()


class _Input(serializers.Serializer):
    """Strict: a body must be a JSON object, and a field the endpoint does not know is a 400 naming it."""

    def to_internal_value(self, data):
        if isinstance(data, dict):
            # Names are echoed back: escape what JSON output cannot carry (lone surrogates).
            unknown = sorted(
                str(name).encode("utf-8", "backslashreplace").decode() for name in data if name not in self.fields
            )
            if unknown:
                raise serializers.ValidationError(
                    {name: [f"Unknown field; this endpoint accepts: {', '.join(self.fields)}."] for name in unknown}
                )
        return super().to_internal_value(data)

    def create(self, validated_data):  # pragma: no cover - inputs are never saved directly
        raise NotImplementedError

    def update(self, instance, validated_data):  # pragma: no cover
        raise NotImplementedError


class SubmitRequestInput(_Input):
    jira_issue_key = IssueKeyField()
    requester = serializers.EmailField()
    beneficiary = serializers.EmailField(required=False, allow_null=True)
    application = serializers.SlugField(required=False)
    role = serializers.SlugField(required=False)
    catalog_application = serializers.CharField(
        required=False,
        max_length=255,
        help_text="Instead of application: the request form's cascading field as Jira Automation sends it, "
        "{{issue.customfield_N.value}} (the option's label or id).",
    )
    catalog_role = serializers.CharField(
        required=False,
        max_length=255,
        help_text="Instead of role: {{issue.customfield_N.child.value}} (the child option's label or id).",
    )
    duration = IsoDurationField(required=False, allow_null=True)
    reason = serializers.CharField(max_length=5000, allow_blank=False, trim_whitespace=True)
    emergency = serializers.BooleanField(
        required=False, default=False, help_text="Break-glass: granted at once for the role's short window."
    )

    def validate(self, attrs: dict) -> dict:
        """Either application and role, or the cascading field's two values (mapped to them)."""
        parent, child = attrs.pop("catalog_application", None), attrs.pop("catalog_role", None)
        if parent is None and child is None:
            missing = {name: ["This field is required."] for name in ("application", "role") if name not in attrs}
            if missing:
                raise serializers.ValidationError(missing)
            return attrs
        if parent is None or child is None:
            absent = "catalog_application" if parent is None else "catalog_role"
            raise serializers.ValidationError({absent: ["Send both values of the cascading field."]})
        app_slug, role_or_field = resolve_choice(parent, child)
        if app_slug is None:
            what = "application" if role_or_field == "catalog_application" else "role"
            raise serializers.ValidationError({role_or_field: [f"No requestable {what} matches this option."]})
        for name, value in (("application", app_slug), ("role", role_or_field)):
            if attrs.get(name, value) != value:
                raise serializers.ValidationError({name: [f"Disagrees with the cascading field ({value})."]})
        return {**attrs, "application": app_slug, "role": role_or_field}


class ExtendInput(_Input):
    by = serializers.EmailField()
    duration = IsoDurationField(help_text="Time to add to the current end, e.g. P1D.")
    reason = serializers.CharField(max_length=5000, allow_blank=False)
    jira_issue_key = IssueKeyField(
        required=False,
        allow_null=True,
        help_text="Jira issue of the extension request, when it needs a new approval round.",
    )


class EmergencyReviewInput(_Input):
    approver = serializers.EmailField()
    decision = serializers.ChoiceField(choices=["confirm", "reject"])
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class DecisionInput(_Input):
    approver = serializers.EmailField()
    comment = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class CancelInput(_Input):
    by = serializers.EmailField()
    reason = serializers.CharField(max_length=5000, required=False, allow_blank=True, default="")


class RevokeInput(_Input):
    by = serializers.EmailField()
    reason = serializers.CharField(max_length=5000, allow_blank=False)


class ChangeOutput(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    group = serializers.CharField(source="group.name")
    connector = serializers.CharField(source="group.connector")
    status = serializers.CharField()
    result = serializers.CharField()
    attempts = serializers.IntegerField()
    error = serializers.CharField(source="last_error")
    created_at = serializers.DateTimeField()
    finished_at = serializers.DateTimeField(allow_null=True)


class FulfilmentTaskOutput(serializers.Serializer):
    id = serializers.IntegerField()
    action = serializers.CharField()
    status = serializers.CharField()
    instructions = serializers.CharField()
    done_at = serializers.DateTimeField(allow_null=True)


class GrantOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.CharField()
    person = serializers.EmailField(source="person.email")
    application = serializers.CharField(source="role.application.slug")
    role = serializers.CharField(source="role.slug")
    request = serializers.CharField(source="request.jira_issue_key", allow_null=True, default=None)
    duration = IsoDurationField(allow_null=True)
    starts_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    ended_at = serializers.DateTimeField(allow_null=True)
    removed_at = serializers.DateTimeField(allow_null=True)
    end_reason = serializers.CharField()
    extensions = serializers.SerializerMethodField()
    changes = ChangeOutput(source="membership_changes.all", many=True)
    fulfilment_tasks = FulfilmentTaskOutput(source="fulfilment_tasks.all", many=True)

    def get_extensions(self, grant) -> list[dict]:
        return [
            {
                "added": format_iso_duration(e.added),
                "previous_expires_at": e.previous_expires_at,
                "new_expires_at": e.new_expires_at,
                "reason": e.reason,
                "approved_without_round": e.approved_without_round,
            }
            for e in grant.extensions.all()
        ]


class RequestGrantOutput(GrantOutput):
    """A grant inside its request's detail, which names the person, application and role already."""

    person = None
    application = None
    role = None
    request = None


class StepOutput(serializers.Serializer):
    order = serializers.IntegerField()
    kind = serializers.CharField()
    status = serializers.CharField()
    approvers = serializers.SerializerMethodField()
    route_note = serializers.CharField()
    decided_by = serializers.SerializerMethodField()
    decided_at = serializers.DateTimeField(allow_null=True)
    channel = serializers.CharField()
    comment = serializers.CharField()

    def get_approvers(self, step) -> list[str]:
        return [p.email for p in step.approvers.all()]

    def get_decided_by(self, step) -> str | None:
        if step.decided_by:
            return step.decided_by.email
        if step.decided_by_user:
            return f"admin:{step.decided_by_user.get_username()}"
        return "policy" if step.status == "approved" else None


class RequestOutput(serializers.Serializer):
    id = serializers.IntegerField()
    jira_issue_key = serializers.CharField()
    status = serializers.CharField()
    status_reason = serializers.CharField()
    requester = serializers.EmailField(source="requester.email")
    beneficiary = serializers.EmailField(source="beneficiary.email")
    application = serializers.CharField(source="application.slug")
    role = serializers.CharField(source="role.slug")
    duration = IsoDurationField(allow_null=True)
    reason = serializers.CharField()
    emergency = serializers.BooleanField(source="is_emergency")
    extends_grant = serializers.IntegerField(source="extends_grant_id", allow_null=True)
    policy = serializers.CharField(source="policy_label")
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(allow_null=True)
    steps = StepOutput(many=True, source="steps.all")
    grant = serializers.SerializerMethodField()

    def get_grant(self, request) -> dict | None:
        grant = getattr(request, "grant", None)
        if grant is None:
            return None
        return RequestGrantOutput(grant).data


class RoleOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    allowed_durations = serializers.ListField(child=serializers.CharField())
    default_duration = IsoDurationField(allow_null=True)
    max_duration = IsoDurationField(allow_null=True)
    duration_required = serializers.BooleanField(source="requires_duration")
    break_glass_allowed = serializers.BooleanField()
    break_glass_window = IsoDurationField(allow_null=True, source="break_glass_max_duration")
    approval_route = serializers.SerializerMethodField()

    def get_approval_route(self, role) -> list[dict]:
        return self.context["route_for"](role)


class ApplicationOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    owner = serializers.EmailField(source="owner.email", allow_null=True, default=None)
    risk_tier = serializers.CharField()
    provisioning_mode = serializers.CharField()
    roles = RoleOutput(many=True, source="requestable_roles")


class MembershipOutput(serializers.Serializer):
    group = serializers.CharField(source="group.name")
    connector = serializers.CharField(source="group.connector")
    origin = serializers.CharField()
    since = serializers.DateTimeField()


class PersonOutput(serializers.Serializer):
    email = serializers.EmailField()
    name = serializers.CharField()
    status = serializers.CharField()
    department = serializers.CharField()
    title = serializers.CharField()
    manager = serializers.EmailField(source="manager.email", allow_null=True, default=None)
    is_contractor = serializers.BooleanField()
    last_login_at = serializers.DateTimeField(allow_null=True)
    active_grants = GrantOutput(many=True, source="live_grants")
    memberships = MembershipOutput(many=True, source="memberships.all")
    lifecycle_events = serializers.SerializerMethodField()
    offboardings = serializers.SerializerMethodField()

    def get_lifecycle_events(self, person) -> list[dict]:
        from governance.lifecycle.api import LifecycleEventOutput

        return LifecycleEventOutput(person.recent_lifecycle_events, many=True).data

    def get_offboardings(self, person) -> list[dict]:
        from governance.lifecycle.api import OffboardingOutput

        return OffboardingOutput(person.recent_offboardings, many=True).data
