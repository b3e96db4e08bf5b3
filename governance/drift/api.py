"""GET /api/v1/drift/: drift findings, filtered by status and kind (token-authenticated, thin)."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance.api.errors import ERRORS
from governance.drift.services import list_findings
from governance.models import DriftFinding
from governance.tokens.scopes import Scope

LIMIT = 500


class DriftQuery(serializers.Serializer):
    status = serializers.ChoiceField(choices=DriftFinding.Status.choices, required=False)
    kind = serializers.ChoiceField(choices=DriftFinding.Kind.choices, required=False)
    limit = serializers.IntegerField(min_value=1, max_value=LIMIT, default=100)


class DriftFindingOutput(serializers.ModelSerializer):
    person = serializers.EmailField(source="person.email")
    group = serializers.CharField(source="group.name")
    connector = serializers.CharField(source="group.connector")
    grant = serializers.IntegerField(source="grant_id", allow_null=True)

    class Meta:
        model = DriftFinding
        fields = [
            "id",
            "kind",
            "status",
            "person",
            "group",
            "connector",
            "grant",
            "detail",
            "detected_at",
            "resolved_at",
        ]


class DriftFindingCollection(APIView):
    required_scope = Scope.DRIFT_READ

    @extend_schema(
        operation_id="list_drift_findings",
        parameters=[DriftQuery],
        responses={200: DriftFindingOutput(many=True), **ERRORS},
        description="Differences between grants and provider memberships found after directory syncs, newest first.",
    )
    def get(self, request: Request) -> Response:
        query = DriftQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        params = query.validated_data
        findings = list_findings(status=params.get("status"), kind=params.get("kind"))[: params["limit"]]
        return Response(DriftFindingOutput(findings, many=True).data)
