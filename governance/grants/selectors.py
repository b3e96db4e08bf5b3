"""Read-side queries shared by the API and the admin, with every relation prefetched."""

from __future__ import annotations

from django.db.models import Prefetch, QuerySet, prefetch_related_objects

from catalog.models import Application, GroupMembership, Person, Role
from governance.models import AccessRequest, ApprovalStep, Grant, LifecycleEvent, Offboarding
from provisioning.models import FulfilmentTask, MembershipChange


def _changes() -> Prefetch:
    return Prefetch("membership_changes", queryset=MembershipChange.objects.select_related("group").order_by("id"))


def grants_with_detail() -> QuerySet[Grant]:
    return Grant.objects.select_related("person", "role__application", "request").prefetch_related(
        _changes(), Prefetch("fulfilment_tasks", queryset=FulfilmentTask.objects.order_by("id")), "extensions"
    )


#: the relations a request's detail joins to its row (the rest it prefetches)
REQUEST_DETAIL_JOINS = ("requester", "beneficiary", "application", "role", "grant")


def request_steps() -> Prefetch:
    """A request's steps in order, with their approvers and who decided them (as rendered)."""
    steps = ApprovalStep.objects.select_related("decided_by", "decided_by_user").prefetch_related("approvers")
    return Prefetch("steps", queryset=steps.order_by("order"))


def _request_detail_prefetches() -> list[Prefetch | str]:
    return [
        request_steps(),
        Prefetch("grant__membership_changes", queryset=MembershipChange.objects.select_related("group").order_by("id")),
        Prefetch("grant__fulfilment_tasks", queryset=FulfilmentTask.objects.order_by("id")),
        "grant__extensions",
    ]


def requests_with_detail() -> QuerySet[AccessRequest]:
    return AccessRequest.objects.select_related(*REQUEST_DETAIL_JOINS).prefetch_related(*_request_detail_prefetches())


def with_detail(request: AccessRequest) -> AccessRequest:
    """`request` as a service returned it (its row, requester, beneficiary, application and role
    loaded, its steps and the grant it made with that grant's changes if it kept them), with the
    rest of its detail read."""
    prefetch_related_objects([request], *_request_detail_prefetches())
    return request


def requestable_applications() -> QuerySet[Application]:
    # No select_related("application"): the prefetch then sets each role's application to the
    # parent row, whose owner is already joined (the route shows the owner's email).
    roles = Role.objects.filter(requestable=True).order_by("name")
    return (
        Application.objects.filter(status=Application.Status.APPROVED)
        .select_related("owner")
        .prefetch_related(Prefetch("roles", queryset=roles, to_attr="requestable_roles"))
        .order_by("name")
    )


def person_with_access(email: str) -> Person | None:
    live = grants_with_detail().filter(status__in=Grant.LIVE).order_by("id")
    memberships = GroupMembership.objects.select_related("group").order_by("group__name")
    events = LifecycleEvent.objects.order_by("-occurred_at", "-id")
    offboardings = Offboarding.objects.select_related("person").order_by("-created_at", "-id")
    return (
        Person.objects.select_related("manager")
        .prefetch_related(
            Prefetch("grants", queryset=live, to_attr="live_grants"),
            Prefetch("memberships", queryset=memberships),
            Prefetch("lifecycle_events", queryset=events, to_attr="recent_lifecycle_events"),
            Prefetch("offboardings", queryset=offboardings, to_attr="recent_offboardings"),
        )
        .filter(email__iexact=email.strip())
        .first()
    )
