"""Evidence endpoints: the trace of a person × application, and the request and grant lists."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from catalog.models import Application, Person
from governance.api.errors import ERRORS
from governance.api.serializers import GrantOutput, RequestOutput
from governance.evidence import trace as tracing
from governance.evidence.metrics import Period as MetricsPeriod
from governance.evidence.metrics import compute_metrics
from governance.evidence.serializers import (
    DriftOutput,
    EventOutput,
    GrantListQuery,
    MetricsQuery,
    RequestListQuery,
    TraceMembershipOutput,
    TraceOutput,
    TraceQuery,
    TraceRequestOutput,
)
from governance.grants import selectors
from governance.tokens.scopes import Scope


def _query(serializer_class: type[serializers.Serializer], request: Request) -> dict[str, Any]:
    query = serializer_class(data={key: _value(request, key) for key in request.query_params})
    query.is_valid(raise_exception=True)
    return query.validated_data


def _value(request: Request, key: str) -> Any:
    values = request.query_params.getlist(key)
    if key == "status":  # several statuses: ?status=active&status=pending or ?status=active,pending
        return [part for value in values for part in value.split(",") if part]
    return values[-1]


def _known(model, field: str, value: str | None, *, lookup: str = "iexact"):
    """The catalog row a filter names; a 400 naming the filter when there is none."""
    if value is None:
        return None
    column = {"person": "email", "application": "slug"}[field]
    found = model.objects.filter(**{f"{column}__{lookup}": value}).first()
    if found is None:
        raise serializers.ValidationError({field: [f"No {field} {value!r}."]})
    return found


class ListCursor(CursorPagination):
    """Cursor pagination whose ordering is the validated `ordering` filter, ids breaking ties."""

    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 500
    ordering = ("-created_at", "-id")

    def __init__(self, ordering: str) -> None:
        descending = ordering.startswith("-")
        self.ordering = (ordering, "-id" if descending else "id")

    def decode_cursor(self, request):
        try:
            return super().decode_cursor(request)
        except Exception as error:  # DRF answers an unreadable cursor with a 404; it is bad input
            raise serializers.ValidationError({"cursor": ["Invalid cursor."]}) from error


def _common_filters(items: QuerySet, query: dict[str, Any], *, person_field: str, app_field: str) -> QuerySet:
    person = _known(Person, "person", query.get("person"))
    application = _known(Application, "application", query.get("application"), lookup="exact")
    if person is not None:
        items = items.filter(**{person_field: person})
    if application is not None:
        items = items.filter(**{app_field: application})
    if query.get("role"):
        items = items.filter(role__slug=query["role"])
    if query.get("status"):
        items = items.filter(status__in=query["status"])
    return _in_range(items, query, "created")


def _in_range(items: QuerySet, query: dict[str, Any], name: str) -> QuerySet:
    """`<name>_after` (included) and `<name>_before` (excluded) bound the `<name>_at` column."""
    for bound, lookup in ((f"{name}_after", "gte"), (f"{name}_before", "lt")):
        if query.get(bound):
            items = items.filter(**{f"{name}_at__{lookup}": query[bound]})
    return items


def _paginate(request: Request, view: APIView, items: QuerySet, ordering: str, output) -> Response:
    paginator = ListCursor(ordering)
    page = paginator.paginate_queryset(items, request, view=view)
    return paginator.get_paginated_response(output(page, many=True).data)


def paginated(output, name: str):
    """The OpenAPI shape of a cursor page of `output` items."""
    return inline_serializer(
        name,
        {
            "next": serializers.URLField(allow_null=True),
            "previous": serializers.URLField(allow_null=True),
            "results": output(many=True),
        },
    )


LIST_PARAMETERS = [
    OpenApiParameter("person", str, description="Email of the beneficiary or holder."),
    OpenApiParameter("application", str, description="Application slug, e.g. `github`."),
    OpenApiParameter("role", str, description="Role slug, e.g. `maintainer`."),
    OpenApiParameter("status", str, description="One or more statuses, comma-separated."),
    OpenApiParameter("source", str, description="Where the request came from (`api`, `lifecycle`, …)."),
    OpenApiParameter("created_after", str, description="ISO-8601 date-time."),
    OpenApiParameter("created_before", str, description="ISO-8601 date-time."),
    OpenApiParameter("ordering", str),
    OpenApiParameter("cursor", str, description="The `next` or `previous` link's cursor."),
    OpenApiParameter("limit", int, description="Page size, 1–500 (default 100)."),
]


def list_access_requests(request: Request, view: APIView) -> Response:
    """GET /api/v1/access-requests/: filtered, ordered, cursor-paginated."""
    query = _query(RequestListQuery, request)
    items = _common_filters(
        selectors.requests_with_detail(), query, person_field="beneficiary", app_field="application"
    )
    if query.get("source"):
        items = items.filter(source=query["source"])
    return _paginate(request, view, _in_range(items, query, "closed"), query["ordering"], RequestOutput)


class GrantCollection(APIView):
    required_scope = Scope.GRANTS_READ

    @extend_schema(
        operation_id="list_grants",
        parameters=[
            *LIST_PARAMETERS,
            OpenApiParameter("ended_after", str, description="ISO-8601 date-time."),
            OpenApiParameter("ended_before", str, description="ISO-8601 date-time."),
        ],
        responses={200: paginated(GrantOutput, "GrantPage"), **ERRORS},
        description="Grants, filtered (person, application, role, status, created and ended ranges, source), "
        "ordered and cursor-paginated (`next`/`previous` links). An unknown filter or value is a 400 naming it.",
    )
    def get(self, request: Request) -> Response:
        query = _query(GrantListQuery, request)
        items = _common_filters(
            selectors.grants_with_detail(), query, person_field="person", app_field="role__application"
        )
        if query.get("source"):
            items = items.filter(request__source=query["source"])
        return _paginate(request, self, _in_range(items, query, "ended"), query["ordering"], GrantOutput)


def _application_summary(application: Application | None) -> dict | None:
    if application is None:
        return None
    return {
        "slug": application.slug,
        "name": application.name,
        "owner": application.owner.email if application.owner else None,
        "risk_tier": application.risk_tier,
        "provisioning_mode": application.provisioning_mode,
    }


def _person_summary(person: Person | None) -> dict | None:
    if person is None:
        return None
    return {
        "email": person.email,
        "name": person.name,
        "status": person.status,
        "department": person.department,
        "title": person.title,
        "manager": person.manager.email if person.manager else None,
        "is_contractor": person.is_contractor,
    }


def trace_body(query: dict[str, Any], next_link: Callable[[int], str]) -> dict[str, Any]:
    """The trace as JSON: shared by the API and the admin page (`next_link(seq)` builds the next page's URL)."""
    person = _known(Person, "person", query.get("person"))
    application = _known(Application, "application", query.get("application"), lookup="exact")
    if person is not None:
        person = Person.objects.select_related("manager").get(pk=person.pk)
    if application is not None:
        application = Application.objects.select_related("owner").get(pk=application.pk)
    found = tracing.build_trace(person=person, application=application)
    events = tracing.timeline(person=person, application=application)
    if query.get("after") is not None:
        events = events.filter(seq__gt=query["after"])
    page = list(events[: query["limit"] + 1])
    more = len(page) > query["limit"]
    page = page[: query["limit"]]
    next_url = next_link(page[-1].seq) if more else None
    context = {"explained": found.explained_group_ids}
    return {
        "person": _person_summary(person),
        "application": _application_summary(application),
        "current": {
            "grants": GrantOutput(found.live_grants, many=True).data,
            "memberships": TraceMembershipOutput(found.memberships, many=True, context=context).data,
            "open_drift": DriftOutput(found.open_drift, many=True).data,
        },
        "requests": TraceRequestOutput(found.requests, many=True).data,
        "events": EventOutput(page, many=True).data,
        "next": next_url,
    }


class Trace(APIView):
    required_scope = Scope.AUDIT_READ

    @extend_schema(
        operation_id="trace",
        parameters=[
            OpenApiParameter("person", str, description="Email, e.g. `alan@northwind.example`."),
            OpenApiParameter("application", str, description="Application slug, e.g. `github`."),
            OpenApiParameter("after", int, description="Only events after this sequence number (the `next` link)."),
            OpenApiParameter("limit", int, description="Events per page, 1–1000 (default 200)."),
        ],
        responses={200: TraceOutput, **ERRORS},
        description="Everything about a person × an application (either may be omitted, not both): the current "
        "state (live grants, memberships and whether a grant explains each, open drift), every request with its "
        "route, policy version, decisions and group changes with the provider's result, and the audit timeline "
        "in time order, paginated by sequence number.",
    )
    def get(self, request: Request) -> Response:
        def next_link(seq: int) -> str:
            params = request.query_params.copy()
            params["after"] = str(seq)
            return request.build_absolute_uri(f"{request.path}?{params.urlencode()}")

        return Response(trace_body(_query(TraceQuery, request), next_link))


class Metrics(APIView):
    required_scope = Scope.METRICS_READ

    @extend_schema(
        operation_id="metrics",
        parameters=[
            OpenApiParameter("from", str, description="First day (YYYY-MM-DD) or date-time; default 30 days ago."),
            OpenApiParameter("to", str, description="Last day, included; default today."),
        ],
        responses={200: OpenApiTypes.OBJECT, **ERRORS},
        description="The numbers of the admin dashboard for a period: request volume by application, approval and "
        "provisioning time (median, p90) by application and step kind, automation rate and manual touches, "
        "requests waiting and where they stall, auto-approval candidates, standing privileged access and its "
        "trend, reviews and Auto Reclaim.",
    )
    def get(self, request: Request) -> Response:
        query = _query(MetricsQuery, request)
        return Response(compute_metrics(MetricsPeriod(query["start"], query["end"])))


__all__ = ["GrantCollection", "Metrics", "Trace", "list_access_requests"]
