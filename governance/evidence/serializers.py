"""Serializers of the evidence API: the trace, and the filters of the request and grant lists."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone
from rest_framework import serializers

from governance.api.serializers import GrantOutput, RequestOutput
from governance.evidence.periods import parse_moment
from governance.models import AccessRequest, Grant


class StrictQuery(serializers.Serializer):
    """Query parameters, validated: an unknown parameter is a 400 naming it, like an unknown value."""

    def to_internal_value(self, data):
        unknown = sorted(set(data) - set(self.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown query parameter."] for name in unknown})
        return super().to_internal_value(data)

    def create(self, validated_data):  # pragma: no cover - queries are never saved
        raise NotImplementedError

    def update(self, instance, validated_data):  # pragma: no cover
        raise NotImplementedError


class TraceQuery(StrictQuery):
    person = serializers.EmailField(required=False)
    application = serializers.SlugField(required=False)
    after = serializers.IntegerField(required=False, min_value=0, help_text="Events after this sequence number.")
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000, default=200)

    def validate(self, attrs):
        if not attrs.get("person") and not attrs.get("application"):
            raise serializers.ValidationError({"person": ["Give person, application, or both."]})
        return attrs


class MomentField(serializers.CharField):
    """A date (the whole day; an end date includes it) or an ISO-8601 date-time."""

    def __init__(self, *, end: bool, **kwargs):
        self.end = end
        super().__init__(**kwargs)

    def to_internal_value(self, data):
        moment = parse_moment(super().to_internal_value(data), end=self.end)
        if moment is None:
            raise serializers.ValidationError("Use a date (YYYY-MM-DD) or an ISO-8601 date-time.")
        return moment


class MetricsQuery(StrictQuery):
    """`from` and `to` (keywords in Python, so declared here rather than as attributes)."""

    def get_fields(self):
        return {
            "from": MomentField(end=False, required=False, help_text="First day (default: 30 days before `to`)."),
            "to": MomentField(end=True, required=False, help_text="Last day, included (default: today)."),
        }

    def validate(self, attrs):
        end = attrs.get("to") or timezone.now()
        start = attrs.get("from") or end - timedelta(days=30)
        if end <= start:
            raise serializers.ValidationError({"to": ["`to` must not be before `from`."]})
        return {"start": start, "end": end}


class _ListQuery(StrictQuery):
    person = serializers.EmailField(required=False, help_text="The beneficiary (requests) or holder (grants).")
    application = serializers.SlugField(required=False)
    role = serializers.SlugField(required=False, help_text="A role slug; with `application` to be exact.")
    created_after = serializers.DateTimeField(required=False)
    created_before = serializers.DateTimeField(required=False)
    cursor = serializers.CharField(required=False)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=500)


class RequestListQuery(_ListQuery):
    status = serializers.MultipleChoiceField(choices=AccessRequest.Status.choices, required=False)
    source = serializers.CharField(required=False, max_length=20)
    closed_after = serializers.DateTimeField(required=False)
    closed_before = serializers.DateTimeField(required=False)
    ordering = serializers.ChoiceField(
        choices=["created_at", "-created_at", "closed_at", "-closed_at"], required=False, default="-created_at"
    )


class GrantListQuery(_ListQuery):
    status = serializers.MultipleChoiceField(choices=Grant.Status.choices, required=False)
    source = serializers.CharField(required=False, max_length=20, help_text="The source of the grant's request.")
    ended_after = serializers.DateTimeField(required=False)
    ended_before = serializers.DateTimeField(required=False)
    ordering = serializers.ChoiceField(
        choices=["created_at", "-created_at", "ended_at", "-ended_at", "expires_at", "-expires_at"],
        required=False,
        default="-created_at",
    )


class DecisionOutput(serializers.Serializer):
    person = serializers.EmailField(source="person.email", allow_null=True, default=None)
    admin_user = serializers.CharField(source="user.username", allow_null=True, default=None)
    approved = serializers.BooleanField()
    decided_at = serializers.DateTimeField()
    channel = serializers.CharField()
    comment = serializers.CharField()
    on_behalf_of = serializers.EmailField(source="on_behalf_of.email", allow_null=True, default=None)


class TraceRequestOutput(RequestOutput):
    """A request with every decision of every step (who, when, channel, on whose behalf)."""

    decisions = serializers.SerializerMethodField()
    policy_version = serializers.IntegerField(
        allow_null=True, help_text="The policy's version when the request was routed."
    )
    auto_approval_rule = serializers.CharField(source="auto_approval_rule.name", allow_null=True, default=None)
    auto_approval_rule_version = serializers.IntegerField(
        allow_null=True, help_text="The rule's version when it approved the request."
    )

    def get_decisions(self, request) -> list[dict]:
        return [
            {"step": step.order, **DecisionOutput(decision).data}
            for step in request.steps.all()
            for decision in step.decisions.all()
        ]


class TraceMembershipOutput(serializers.Serializer):
    person = serializers.EmailField(source="person.email")
    group = serializers.CharField(source="group.name")
    connector = serializers.CharField(source="group.connector")
    origin = serializers.CharField()
    since = serializers.DateTimeField()
    explained_by_grant = serializers.SerializerMethodField()

    def get_explained_by_grant(self, membership) -> bool:
        return (membership.person_id, membership.group_id) in self.context["explained"]


class DriftOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    person = serializers.EmailField(source="person.email")
    group = serializers.CharField(source="group.name")
    detail = serializers.CharField()
    detected_at = serializers.DateTimeField()


class EventOutput(serializers.Serializer):
    seq = serializers.IntegerField()
    at = serializers.DateTimeField()
    action = serializers.CharField()
    actor = serializers.CharField()
    message = serializers.CharField()
    request = serializers.CharField(source="request.jira_issue_key", allow_null=True, default=None)
    grant = serializers.IntegerField(source="grant_id", allow_null=True)
    data = serializers.DictField()


class TraceOutput(serializers.Serializer):
    person = serializers.DictField(allow_null=True)
    application = serializers.DictField(allow_null=True)
    current = serializers.DictField()
    requests = TraceRequestOutput(many=True)
    events = EventOutput(many=True)
    next = serializers.CharField(allow_null=True)


__all__ = ["GrantListQuery", "GrantOutput", "RequestListQuery", "TraceOutput", "TraceQuery"]
