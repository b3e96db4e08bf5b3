"""Everything about one person × one application, in time order, from the record Gatehouse keeps.

The timeline is the audit log (every state change writes one event, tagged with its application);
the current state and each request's story (decisions, group changes with the provider's result,
extensions, expiry) come from the models themselves. A fixed number of queries whatever the size.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Prefetch, Q, QuerySet

from catalog.models import Application, GroupMembership, Person
from governance.grants import selectors
from governance.models import AccessRequest, ApprovalDecision, AuditEvent, DriftFinding, Grant

#: Requests shown in full on one trace; older ones are in the timeline and the request list API.
REQUESTS_SHOWN = 100


@dataclass
class Trace:
    person: Person | None
    application: Application | None
    live_grants: list[Grant] = field(default_factory=list)
    memberships: list[GroupMembership] = field(default_factory=list)
    explained_group_ids: set[tuple[int, int]] = field(default_factory=set)
    requests: list[AccessRequest] = field(default_factory=list)
    open_drift: list[DriftFinding] = field(default_factory=list)


def _scope(person: Person | None, application: Application | None, *, person_field: str, app_field: str) -> Q:
    condition = Q()
    if person is not None:
        condition &= Q(**{person_field: person})
    if application is not None:
        condition &= Q(**{app_field: application})
    return condition


def _requests(person: Person | None, application: Application | None) -> list[AccessRequest]:
    decisions = ApprovalDecision.objects.select_related("person", "user", "on_behalf_of").order_by("decided_at", "id")
    scope = Q(application=application) if application is not None else Q()
    if person is not None:
        scope &= Q(beneficiary=person) | Q(requester=person)
    found = (
        selectors.requests_with_detail()
        .prefetch_related(Prefetch("steps__decisions", queryset=decisions), "policy", "auto_approval_rule")
        .filter(scope)
        .order_by("-created_at", "-id")[:REQUESTS_SHOWN]
    )
    return list(found)


def _memberships(person: Person | None, application: Application | None) -> list[GroupMembership]:
    memberships = GroupMembership.objects.select_related("person", "group").order_by("group__name", "person__email")
    if person is not None:
        memberships = memberships.filter(person=person)
    if application is not None:
        memberships = memberships.filter(group__roles__application=application).distinct()
    return list(memberships[:1000])


def build_trace(*, person: Person | None, application: Application | None) -> Trace:
    """The current state and the requests of `person` (and/or) `application`."""
    live = (
        selectors.grants_with_detail()
        .filter(_scope(person, application, person_field="person", app_field="role__application"))
        .filter(status__in=Grant.LIVE)
        .prefetch_related("role__group_mappings")
        .order_by("id")
    )
    trace = Trace(person=person, application=application, live_grants=list(live))
    trace.memberships = _memberships(person, application)
    trace.explained_group_ids = {
        (grant.person_id, mapping.group_id)
        for grant in trace.live_grants
        for mapping in grant.role.group_mappings.all()
    }
    trace.requests = _requests(person, application)
    drift = DriftFinding.objects.select_related("person", "group").filter(status=DriftFinding.Status.OPEN)
    if person is not None:
        drift = drift.filter(person=person)
    if application is not None:
        drift = drift.filter(group__roles__application=application).distinct()
    trace.open_drift = list(drift.order_by("-id")[:200])
    return trace


def timeline(*, person: Person | None, application: Application | None) -> QuerySet[AuditEvent]:
    """Audit events about the person (as subject or actor) and/or the application, oldest first."""
    events = AuditEvent.objects.select_related("request", "grant")
    if person is not None:
        events = events.filter(Q(subject=person) | Q(actor_person=person))
    if application is not None:
        events = events.filter(application=application)
    return events.order_by("seq")
