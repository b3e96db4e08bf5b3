"""REST API for Jira Automation and other clients. Thin: parse, call one service, render."""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from governance import services
from governance.api import examples
from governance.api.errors import ERROR, ERRORS
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
from governance.evidence.api import LIST_PARAMETERS, list_access_requests, paginated
from governance.grants import selectors
from governance.models import AccessRequest, Grant
from governance.requests import channels
from governance.requests.routing import active_policies, describe_route, pick_policy
from governance.tokens.scopes import Scope


def _parse(serializer_class, request: Request) -> dict:
    serializer = serializer_class(data=request.data)
    serializer.is_valid(raise_exception=True)
    return serializer.validated_data


def acting_as(request: Request, email: str, *, field: str, must_be_active: bool = False) -> services.Actor:
    """The person named in `field`, as an actor recording the token; 403 `actor_not_allowed`
    when the token may not speak for them."""
    services.check_actor(request.auth, email, field=field)
    person = services.find_person(email, field=field, must_be_active=must_be_active, with_managers=False)
    return services.Actor.of_person(person, via=request.auth.name)


def _request_or_404(key: str, *, detail: bool = True) -> AccessRequest:
    """The request of Jira issue `key`; with `detail`, with everything its rendering reads; without,
    only its id and key (a service that decides or cancels locks and reads the request itself)."""
    requests = selectors.requests_with_detail() if detail else AccessRequest.objects.only("id", "jira_issue_key")
    try:
        return requests.get(jira_issue_key=key.upper())
    except AccessRequest.DoesNotExist:
        raise Http404(f"No access request for Jira issue {key}.") from None


def _render_request(key: str, code: int = status.HTTP_200_OK) -> Response:
    return Response(RequestOutput(_request_or_404(key)).data, status=code)


def _render_decided(request: AccessRequest) -> Response:
    """The request a decision returned: its row as the decision left it, the rest read afresh."""
    return Response(RequestOutput(selectors.with_detail(request)).data)


class AccessRequestCollection(APIView):
    required_scope = {"get": Scope.REQUESTS_READ, "post": Scope.REQUESTS_SUBMIT}

    @extend_schema(
        operation_id="list_access_requests",
        parameters=LIST_PARAMETERS,
        responses={200: paginated(RequestOutput, "RequestPage"), **ERRORS},
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
        examples=[
            examples.body("Application and role", examples.SUBMIT, "Alan asks for GitHub maintainer for 7 days"),
            examples.body("From the request form's cascading field", examples.SUBMIT_FROM_FORM),
            examples.answer("Routed to Alan's manager", examples.REQUEST_ANSWER, "201"),
        ],
        description="Submit a request. Idempotent on jira_issue_key: the same key and body again answers 200 "
        "with the first request; the same key with a different body answers 409.",
    )
    def post(self, request: Request) -> Response:
        data = _parse(SubmitRequestInput, request)
        services.check_actor(request.auth, data["requester"], field="requester")
        access_request, created = services.submit_request(
            data=services.RequestInput(**data, api_token=request.auth.name)
        )
        return _render_request(
            access_request.jira_issue_key, status.HTTP_201_CREATED if created else status.HTTP_200_OK
        )


class AccessRequestDetail(APIView):
    required_scope = Scope.REQUESTS_READ

    @extend_schema(
        operation_id="get_access_request",
        parameters=[examples.ISSUE_KEY_PARAMETER],
        responses={200: RequestOutput, **ERRORS},
        examples=[examples.answer(f"{examples.KEY}, awaiting the manager", examples.REQUEST_ANSWER)],
    )
    def get(self, request: Request, key: str) -> Response:
        return _render_request(key)


class _Decision(APIView):
    required_scope = Scope.REQUESTS_DECIDE
    approve = True

    def post(self, request: Request, key: str) -> Response:
        data = _parse(DecisionInput, request)
        decided = services.decide_step(
            request=_request_or_404(key, detail=False),
            actor=acting_as(request, data["approver"], field="approver"),
            approve=self.approve,
            comment=data["comment"],
            channel=channels.API,
        )
        return _render_decided(decided)


@extend_schema_view(
    post=extend_schema(
        operation_id="approve_access_request",
        parameters=[examples.ISSUE_KEY_PARAMETER],
        request=DecisionInput,
        examples=[examples.body("The manager approves", examples.APPROVE)],
        responses={200: RequestOutput, **ERRORS, 503: OpenApiResponse(ERROR)},
        description="Approve the current step as `approver`: 403 unless they are one of its approvers, "
        "409 unless the request awaits a decision. With JIRA_VERIFY_APPROVALS, 409 `unverified_decision` "
        "unless Jira's approval record agrees, 503 `jira_unavailable` when Jira cannot be asked.",
    )
)
class ApproveAccessRequest(_Decision):
    approve = True


@extend_schema_view(
    post=extend_schema(
        operation_id="deny_access_request",
        parameters=[examples.ISSUE_KEY_PARAMETER],
        request=DecisionInput,
        examples=[examples.body("The manager denies", examples.DENY)],
        responses={200: RequestOutput, **ERRORS, 503: OpenApiResponse(ERROR)},
        description="Deny the current step as `approver`; a denial ends the request (verified against Jira "
        "like an approval).",
    )
)
class DenyAccessRequest(_Decision):
    approve = False


class CancelAccessRequest(APIView):
    required_scope = Scope.REQUESTS_SUBMIT

    @extend_schema(
        operation_id="cancel_access_request",
        parameters=[examples.ISSUE_KEY_PARAMETER],
        request=CancelInput,
        responses={200: RequestOutput, **ERRORS},
        examples=[examples.body("The requester cancels", examples.CANCEL)],
    )
    def post(self, request: Request, key: str) -> Response:
        data = _parse(CancelInput, request)
        actor = acting_as(request, data["by"], field="by")
        services.cancel_request(request=_request_or_404(key, detail=False), actor=actor, reason=data["reason"])
        return _render_request(key)


class ApplicationCollection(APIView):
    required_scope = Scope.REQUESTS_READ

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
    required_scope = Scope.PEOPLE_READ

    @extend_schema(
        operation_id="get_person", parameters=[examples.EMAIL_PARAMETER], responses={200: PersonOutput, **ERRORS}
    )
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
    required_scope = Scope.GRANTS_READ

    @extend_schema(
        operation_id="get_grant",
        parameters=[examples.GRANT_ID_PARAMETER],
        responses={200: GrantOutput, **ERRORS},
        examples=[examples.answer("Extended once", examples.GRANT_ANSWER)],
    )
    def get(self, request: Request, grant_id: int) -> Response:
        return Response(GrantOutput(_grant_or_404(grant_id)).data)


class RevokeGrant(APIView):
    required_scope = Scope.GRANTS_REVOKE

    @extend_schema(
        operation_id="revoke_grant",
        parameters=[examples.GRANT_ID_PARAMETER],
        request=RevokeInput,
        responses={200: GrantOutput, **ERRORS},
        examples=[examples.body("The manager revokes", examples.REVOKE)],
        description="Revoke now. `by` must be the holder, their manager, the application owner, or a "
        "fallback approver of the role's policy.",
    )
    def post(self, request: Request, grant_id: int) -> Response:
        data = _parse(RevokeInput, request)
        actor = acting_as(request, data["by"], field="by")
        services.revoke_grant(grant=_grant_or_404(grant_id), actor=actor, reason=data["reason"])
        return Response(GrantOutput(_grant_or_404(grant_id)).data)


class ExtendGrant(APIView):
    required_scope = Scope.GRANTS_EXTEND

    @extend_schema(
        operation_id="extend_grant",
        parameters=[examples.GRANT_ID_PARAMETER],
        request=ExtendInput,
        responses={200: GrantOutput, 202: RequestOutput, **ERRORS},
        examples=[
            examples.body("A week more, within the role's policy", examples.EXTEND),
            examples.body("Past the policy: a new approval round on its own issue", examples.EXTEND_NEW_ROUND),
            examples.answer("Extended at once", examples.GRANT_ANSWER),
        ],
        description="Add time to an active grant. Within the role's policy (allowed durations, the total under "
        "the role's maximum) and when a person approved the original, it is extended at once: 200 with the "
        "grant. Otherwise an extension request is opened and routed like a new one: 202 with that request. "
        "The memberships stay in place either way.",
    )
    def post(self, request: Request, grant_id: int) -> Response:
        data = _parse(ExtendInput, request)
        _, routed = services.extend_grant(
            grant=_grant_or_404(grant_id),
            actor=acting_as(request, data["by"], field="by", must_be_active=True),
            added=data["duration"],
            reason=data["reason"],
            jira_issue_key=data.get("jira_issue_key"),
        )
        if routed is not None:
            found = selectors.requests_with_detail().get(pk=routed.pk)
            return Response(RequestOutput(found).data, status=status.HTTP_202_ACCEPTED)
        return Response(GrantOutput(_grant_or_404(grant_id)).data)


class ReviewEmergency(APIView):
    required_scope = Scope.REQUESTS_DECIDE

    @extend_schema(
        operation_id="review_emergency_access",
        parameters=[examples.ISSUE_KEY_PARAMETER],
        request=EmergencyReviewInput,
        examples=[examples.body("Security confirms the break-glass access", examples.EMERGENCY_REVIEW)],
        responses={200: RequestOutput, **ERRORS},
        description="The after-the-fact review of break-glass access: `confirm`, or `reject` (revokes at once).",
    )
    def post(self, request: Request, key: str) -> Response:
        data = _parse(EmergencyReviewInput, request)
        services.review_emergency(
            request=_request_or_404(key),
            actor=acting_as(request, data["approver"], field="approver"),
            confirm=data["decision"] == "confirm",
            comment=data["comment"],
        )
        return _render_request(key)
