"""REST API for Jira Automation and other clients. Thin: parse, call one service, render."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import services
from governance.api.errors import ERRORS
from governance.api.serializers import (
    ApplicationOutput,
    CancelInput,
    DecisionInput,
    EmergencyReviewInput,
    ExtendInput,
    GrantOutput,
    PersonOutput,
    RequestOutput,
    RevokeInput,
    SubmitRequestInput,
)
from governance.evidence.api import LIST_PARAMETERS, list_access_requests
from governance.grants import selectors
from governance.models import AccessRequest, Grant
from governance.requests import channels
from governance.requests.routing import active_policies, describe_route, pick_policy


def _parse(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def _request_or_404(key: str) -> AccessRequest:
    found = selectors.requests_with_detail().filter(jira_issue_key=key).first()
    if found is None:
        raise Http404(f"No access request for Jira issue {key}.")
    return found


def _render_request(key: str, code: int = status.HTTP_200_OK) -> Response:
    return Response(RequestOutput(_request_or_404(key)).data, status=code)


class AccessRequestCollection(APIView):
    @extend_schema(
        operation_id="list_access_requests",
        parameters=LIST_PARAMETERS,
        responses={200: RequestOutput(many=True), **ERRORS},
        description="Requests, filtered (person = beneficiary, application, role, status, created and closed "
        "ranges, source), ordered and cursor-paginated (`next`/`previous` links). An unknown filter or value "
        "is a 400 naming it.",
    )
    def get(self, request: Request) -> Response:
        return list_access_requests(request, self)

    @extend_schema(
        operation_id="submit_access_request",
        request=SubmitRequestInput,
        responses={201: RequestOutput, 200: RequestOutput, **ERRORS},
        description="Submit a request. Idempotent on jira_issue_key: the same key and body again answers 200 "
        "with the first request; the same key with a different body answers 409.",
    )
    def post(self, request: Request) -> Response:
        data = _parse(SubmitRequestInput, request)
        access_request, created = services.submit_request(data=services.RequestInput(**data))
        return _render_request(
            access_request.jira_issue_key, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class AccessRequestDetail(APIView):
    @extend_schema(operation_id="get_access_request", responses={200: RequestOutput, **ERRORS})
    def get(self, request: Request, key: str) -> Response:
        return _render_request(key)


class _Decision(APIView):
    approve = True

    def post(self, request: Request, key: str) -> Response:
        data = _parse(DecisionInput, request)
        approver = services.find_person(data["approver"], field="approver", must_be_active=False)
        services.decide_step(
            request=_request_or_404(key),
            actor=services.Actor.of_person(approver),
            approve=self.approve,
            comment=data["comment"],
            channel=channels.API,
        )
        return _render_request(key)


@extend_schema(
    operation_id="approve_access_request",
    request=DecisionInput,
    responses={200: RequestOutput, **ERRORS},
    description="Approve the current step as `approver`: 403 unless they are one of its approvers, "
    "409 unless the request awaits a decision.",
)
class ApproveAccessRequest(_Decision):
    approve = True


@extend_schema(
    operation_id="deny_access_request",
    request=DecisionInput,
    responses={200: RequestOutput, **ERRORS},
    description="Deny the current step as `approver`; a denial ends the request.",
)
class DenyAccessRequest(_Decision):
    approve = False


class CancelAccessRequest(APIView):
    @extend_schema(operation_id="cancel_access_request", request=CancelInput, responses={200: RequestOutput, **ERRORS})
    def post(self, request: Request, key: str) -> Response:
        data = _parse(CancelInput, request)
        by = services.find_person(data["by"], field="by", must_be_active=False)
        services.cancel_request(request=_request_or_404(key), actor=services.Actor.of_person(by), reason=data["reason"])
        return _render_request(key)


class ApplicationCollection(APIView):
    @extend_schema(
        operation_id="list_applications",
        responses={200: ApplicationOutput(many=True), **ERRORS},
        description="The requestable catalog, with the approval route each role's requests take.",
    )
    def get(self, request: Request) -> Response:
        policies = active_policies()

        def route_for(role):
            return describe_route(role, pick_policy(role, policies))

        apps = selectors.requestable_applications()
        return Response(ApplicationOutput(apps, many=True, context={"route_for": route_for}).data)


class PersonDetail(APIView):
    @extend_schema(operation_id="get_person", responses={200: PersonOutput, **ERRORS})
    def get(self, request: Request, email: str) -> Response:
        person = selectors.person_with_access(email)
        if person is None:
            raise Http404(f"No person with email {email}.")
        return Response(PersonOutput(person).data)


def _grant_or_404(grant_id: int) -> Grant:
    grant = selectors.grants_with_detail().filter(pk=grant_id).first()
    if grant is None:
        raise Http404(f"No grant #{grant_id}.")
    return grant


class GrantDetail(APIView):
    @extend_schema(operation_id="get_grant", responses={200: GrantOutput, **ERRORS})
    def get(self, request: Request, grant_id: int) -> Response:
        return Response(GrantOutput(_grant_or_404(grant_id)).data)


class RevokeGrant(APIView):
    @extend_schema(
        operation_id="revoke_grant",
        request=RevokeInput,
        responses={200: GrantOutput, **ERRORS},
        description="Revoke now. `by` must be the holder, their manager, the application owner, or a "
        "fallback approver of the role's policy.",
    )
    def post(self, request: Request, grant_id: int) -> Response:
        data = _parse(RevokeInput, request)
        by = services.find_person(data["by"], field="by", must_be_active=False)
        services.revoke_grant(grant=_grant_or_404(grant_id), actor=services.Actor.of_person(by), reason=data["reason"])
        return Response(GrantOutput(_grant_or_404(grant_id)).data)


class ExtendGrant(APIView):
    @extend_schema(
        operation_id="extend_grant",
        request=ExtendInput,
        responses={200: GrantOutput, 202: RequestOutput, **ERRORS},
        description="Add time to an active grant. Within the role's policy (allowed durations, the total under "
        "the role's maximum) and when a person approved the original, it is extended at once: 200 with the "
        "grant. Otherwise an extension request is opened and routed like a new one: 202 with that request. "
        "The memberships stay in place either way.",
    )
    def post(self, request: Request, grant_id: int) -> Response:
        data = _parse(ExtendInput, request)
        by = services.find_person(data["by"], field="by")
        _, routed = services.extend_grant(
            grant=_grant_or_404(grant_id),
            actor=services.Actor.of_person(by),
            added=data["duration"],
            reason=data["reason"],
            jira_issue_key=data.get("jira_issue_key"),
        )
        if routed is not None:
            found = selectors.requests_with_detail().get(pk=routed.pk)
            return Response(RequestOutput(found).data, status=status.HTTP_202_ACCEPTED)
        return Response(GrantOutput(_grant_or_404(grant_id)).data)


class ReviewEmergency(APIView):
    @extend_schema(
        operation_id="review_emergency_access",
        request=EmergencyReviewInput,
        responses={200: RequestOutput, **ERRORS},
        description="The after-the-fact review of break-glass access: `confirm`, or `reject` (revokes at once).",
    )
    def post(self, request: Request, key: str) -> Response:
        data = _parse(EmergencyReviewInput, request)
        approver = services.find_person(data["approver"], field="approver", must_be_active=False)
        services.review_emergency(
            request=_request_or_404(key),
            actor=services.Actor.of_person(approver),
            confirm=data["decision"] == "confirm",
            comment=data["comment"],
        )
        return _render_request(key)
