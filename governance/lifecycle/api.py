"""REST endpoints of lifecycle: the offboarding call (HR tickets) and application activity. Thin."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api import examples
from governance.api.serializers import _Input
from governance.api.views import ERRORS, _parse
from governance.audit.services import Actor
from governance.lifecycle import leavers
from governance.lifecycle.activity import ActivityRow, record_activity
from governance.lifecycle.services import request_offboarding
from governance.models import Offboarding
from governance.tokens.scopes import Scope

JIRA_KEY = r"^[A-Za-z][A-Za-z0-9_]*-\d+$"


class OffboardInput(_Input):
    by = serializers.EmailField(help_text="Who asks (e.g. the HR person on the Jira issue).")
    reason = serializers.CharField(max_length=5000, allow_blank=False)
    jira_issue_key = serializers.RegexField(
        JIRA_KEY,
        max_length=64,
        required=False,
        allow_blank=True,
        default="",
        error_messages={"invalid": "Use a Jira issue key such as HR-123."},
    )
    effective_at = serializers.DateTimeField(
        required=False, allow_null=True, default=None, help_text="Later than now: the offboarding is scheduled."
    )


class OffboardingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    person = serializers.EmailField(source="person.email")
    status = serializers.CharField()
    trigger = serializers.CharField()
    departure = serializers.CharField()
    requested_by = serializers.CharField()
    reason = serializers.CharField()
    jira_issue_key = serializers.CharField()
    effective_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField()
    last_removal_confirmed_at = serializers.DateTimeField()
    completed_at = serializers.DateTimeField()
    ended = serializers.JSONField()
    unexplained = serializers.JSONField()
    pending = serializers.SerializerMethodField()

    def get_pending(self, offboarding: Offboarding) -> dict:
        return leavers.progress(offboarding)


class LifecycleEventOutput(serializers.Serializer):
    kind = serializers.CharField()
    trigger = serializers.CharField()
    occurred_at = serializers.DateTimeField()
    changes = serializers.JSONField()
    outcome = serializers.JSONField()
    offboarding = serializers.IntegerField(source="offboarding_id", allow_null=True)


class OffboardPerson(APIView):
    required_scope = Scope.LIFECYCLE_OFFBOARD

    @extend_schema(
        operation_id="offboard_person",
        parameters=[examples.EMAIL_PARAMETER],
        request=OffboardInput,
        examples=[examples.body("HR offboards on the last day", examples.OFFBOARD)],
        responses={201: OffboardingOutput, 200: OffboardingOutput, **ERRORS},
        description="Offboard a person (an HR ticket): every grant revoked, memberships removed, open requests "
        "cancelled, approvals re-routed, delegations ended. A future `effective_at` schedules it. Idempotent on "
        "the person and `jira_issue_key`: a repeat answers 200 with the first record.",
    )
    def post(self, request: Request, email: str) -> Response:
        data = _parse(OffboardInput, request)
        offboarding, created = request_offboarding(email=email, **data)
        offboarding = Offboarding.objects.select_related("person").get(pk=offboarding.pk)
        code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
        return Response(OffboardingOutput(offboarding).data, status=code)


class ActivityRowInput(_Input):
    application = serializers.SlugField()
    person = serializers.EmailField()
    last_active_at = serializers.DateTimeField()


class ActivityInput(_Input):
    activity = ActivityRowInput(many=True, allow_empty=False)


class ActivityOutput(serializers.Serializer):
    received = serializers.IntegerField()
    created = serializers.IntegerField()
    updated = serializers.IntegerField()
    unchanged = serializers.IntegerField()


class ActivityCollection(APIView):
    required_scope = Scope.ACTIVITY_WRITE

    @extend_schema(
        operation_id="record_activity",
        examples=[examples.body("Last Salesforce sign-in", examples.ACTIVITY)],
        request=ActivityInput,
        responses={200: ActivityOutput, **ERRORS},
        description="When people last used applications (from application logs), for Auto Reclaim. Idempotent: "
        "a time only moves forward, so a replayed batch changes nothing. All rows or none.",
    )
    def post(self, request: Request) -> Response:
        data = _parse(ActivityInput, request)
        token = request.auth
        result = record_activity(
            rows=[ActivityRow(**row) for row in data["activity"]],
            source="api",
            actor=Actor.system(f"api:{getattr(token, 'name', 'token')}"),
        )
        return Response(ActivityOutput(result).data)
