"""The evidence benchmark's data: N requests over the past year and 5 audit events each, written set-based.

Rows are made as plain tuples and go to the database in batches (bench/evidence_rows.py: one COPY
text stream per table on PostgreSQL, `lib.bulk.insert_rows` elsewhere), never one ORM save at a time;
rows that others refer to carry their ids. The audit events are sealed into the hash chain by the
chain's own `seal`, in time order, so `verify_audit` holds over the generated log exactly as over
one Gatehouse wrote.

Import after Django is set up (the benchmark and its smoke test both do).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db import models, transaction
from django.utils import timezone

from catalog.models import Application, GroupMembership, IdpGroup, Person, Role, RoleGroup
from governance.audit.chain import seal
from governance.models import AccessRequest, ApprovalDecision, ApprovalStep, AuditEvent, Grant, GrantMembershipChange
from provisioning.models import MembershipChange

from .evidence_rows import Table, check_references, reset_sequences, without_reference_triggers

EVENTS_PER_REQUEST = 5
CHUNK = 5000  # requests per transaction
EVENT_BATCH = 10_000
REQUEST_COLUMNS = (
    "id",
    "jira_issue_key",
    "requester_id",
    "beneficiary_id",
    "application_id",
    "role_id",
    "duration",
    "reason",
    "status",
    "policy_label",
    "manual_touches",
    "created_at",
    "updated_at",
    "closed_at",
)
STEP_COLUMNS = (
    "id",
    "request_id",
    "order",
    "kind",
    "status",
    "decided_by_id",
    "decided_at",
    "channel",
    "opened_at",
    "requested_at",
)
GRANT_COLUMNS = (
    "id",
    "request_id",
    "person_id",
    "role_id",
    "status",
    "duration",
    "starts_at",
    "expires_at",
    "ended_at",
    "removed_at",
    "end_reason",
    "created_at",
    "requested_at",
)
CHANGE_COLUMNS = (
    "id",
    "action",
    "person_id",
    "group_id",
    "status",
    "result",
    "attempts",
    "next_attempt_at",
    "finished_at",
    "created_at",
)
DAY = timedelta(days=1)
DURATIONS = (timedelta(hours=8), DAY, 7 * DAY, 30 * DAY, None)  # None: standing access


@dataclass
class Catalog:
    people: list[int]
    managers: dict[int, int]  # person id -> manager id
    emails: dict[int, str]
    roles: list[tuple[int, int, int]]  # (role id, application id, group id)
    it_person: int


@dataclass
class Generated:
    requests: int = 0
    grants: int = 0
    events: int = 0
    people: int = 0
    applications: int = 0
    sample_person: str = ""
    sample_application: str = ""
    first_request: datetime | None = None
    counts: dict[str, int] = field(default_factory=dict)


def build_catalog(requests: int) -> Catalog:
    """People (one manager per ten), applications with two roles each, one group per role."""
    people = max(requests // 20, 10)
    apps = max(10, min(200, requests // 5000))
    it = Person.objects.create(email="it@bench.example", name="IT", department="IT")
    Person.objects.bulk_create(
        [
            Person(
                email=f"p{i}@bench.example", name=f"Person {i}", department=("Engineering", "Sales", "Finance")[i % 3]
            )
            for i in range(people)
        ],
        batch_size=5000,
    )
    ids = list(
        Person.objects.filter(email__startswith="p", email__endswith="@bench.example")
        .order_by("id")
        .values_list("id", flat=True)
    )
    managers = {pid: ids[(n // 10) * 10] for n, pid in enumerate(ids) if n % 10}
    Person.objects.bulk_update(
        [Person(id=pid, manager_id=manager) for pid, manager in managers.items()], ["manager"], batch_size=5000
    )
    roles = []
    tiers = ("privileged", "high", "medium", "medium", "low")
    for a in range(apps):
        app = Application.objects.create(slug=f"app{a}", name=f"App {a}", status="approved", risk_tier=tiers[a % 5])
        for slug in ("user", "admin"):
            role = Role.objects.create(application=app, slug=slug, name=slug.title())
            group = IdpGroup.objects.create(connector="local", external_id=f"app{a}-{slug}", name=f"app{a}-{slug}")
            RoleGroup.objects.create(role=role, group=group)
            roles.append((role.pk, app.pk, group.pk))
    emails = dict(Person.objects.values_list("id", "email"))
    return Catalog(people=ids, managers=managers, emails=emails, roles=roles, it_person=it.pk)


def _next_ids(*model_types: type[models.Model]) -> list[int]:
    return [(model.objects.aggregate(top=models.Max("id"))["top"] or 0) + 1 for model in model_types]


class _Event:
    """An audit event as the generator makes it: the attributes `seal` reads and sets."""

    __slots__ = (
        "action",
        "actor",
        "actor_person_id",
        "application_id",
        "at",
        "data",
        "grant_id",
        "hash",
        "message",
        "prev_hash",
        "refs",
        "request_id",
        "seq",
        "subject_id",
    )

    def __init__(self, at: datetime, action: str, actor: str, req: dict, message: str, **links: int | None) -> None:
        self.at, self.action, self.actor, self.message = at, action, actor, message
        self.actor_person_id = links.get("actor_person_id")
        self.grant_id = links.get("grant_id")
        self.request_id, self.subject_id, self.application_id = req["id"], req["beneficiary"], req["application"]
        self.data = {"request": req["key"]}
        self.seq = self.prev_hash = self.refs = self.hash = None

    def values(self) -> tuple:
        return tuple(getattr(self, name) for name in self.__slots__)


_event = _Event


class _Timeline:
    """Audit events of many requests, released in time order once no earlier one can still come."""

    def __init__(self) -> None:
        self.heap: list[tuple[datetime, int, _Event]] = []
        self.counter = 0

    def push(self, event: _Event) -> None:
        self.counter += 1
        heapq.heappush(self.heap, (event.at, self.counter, event))

    def release(self, until: datetime | None) -> Iterator[_Event]:
        while self.heap and (until is None or self.heap[0][0] <= until):
            yield heapq.heappop(self.heap)[2]


class Generator:
    """Writes the requests, their steps, decisions, grants, membership changes and audit events."""

    def __init__(self, catalog: Catalog, requests: int, now: datetime, seed: int = 7) -> None:
        self.catalog = catalog
        self.total = requests
        self.now = now
        self.start = now - 365 * DAY
        self.random = random.Random(seed)
        self.request_id, self.step_id, self.grant_id, self.change_id = _next_ids(
            AccessRequest, ApprovalStep, Grant, MembershipChange
        )
        opened = timezone.now()
        # Rows waiting for their batch, written in this order (each refers only to the ones before it).
        self.requests = Table(AccessRequest, REQUEST_COLUMNS, opened)
        self.steps = Table(ApprovalStep, STEP_COLUMNS, opened)
        self.decisions = Table(ApprovalDecision, ("step_id", "person_id", "approved", "decided_at", "channel"), opened)
        self.grants = Table(Grant, GRANT_COLUMNS, opened)
        self.changes = Table(MembershipChange, CHANGE_COLUMNS, opened)
        self.change_links = Table(GrantMembershipChange, ("grant_id", "change_id"), opened)
        self.memberships = Table(GroupMembership, ("person_id", "group_id", "origin", "since"), opened)
        self.events = Table(AuditEvent, _Event.__slots__, opened)
        self.timeline = _Timeline()
        self.ready: list[_Event] = []
        self.result = Generated(people=len(catalog.people), applications=len(catalog.roles) // 2)

    # --- one request ------------------------------------------------------------------------------

    def _request(self, index: int) -> None:
        people, roles = self.catalog.people, self.catalog.roles
        person = people[index % len(people)]
        role_id, app_id, group_id = roles[(index // len(people) + (index % len(people)) * 7) % len(roles)]
        created = self.start + (index + 0.5) * (self.now - self.start) / self.total
        roll = self.random.random()
        duration = DURATIONS[index % len(DURATIONS)]
        req = {
            "id": self.request_id,
            "key": f"BENCH-{index + 1}",
            "beneficiary": person,
            "application": app_id,
            "created": created,
        }
        self.request_id += 1
        approver = self.catalog.managers.get(person, self.catalog.it_person)
        approver_email = self.catalog.emails[approver]
        decided = created + timedelta(minutes=self.random.uniform(2, 60 * 30))
        provisioned = decided + timedelta(seconds=self.random.uniform(5, 300))
        pending = provisioned > self.now or (self.now - created < 3 * DAY and index % 4 == 0)
        if pending:
            status, closed = "pending_approval", None
        elif roll < 0.05:
            status, closed = "denied", decided
        elif roll < 0.07:
            status, closed = "cancelled", decided
        else:
            status, closed = "fulfilled", None  # set when provisioned
        step_status = {"pending_approval": "pending", "denied": "denied", "cancelled": "cancelled"}.get(
            status, "approved"
        )
        step = self.step_id
        self.step_id += 1
        made = step_status in ("approved", "denied")
        if status == "fulfilled":
            closed = provisioned
        self.requests.add(
            req["id"],
            req["key"],
            person,
            person,
            app_id,
            role_id,
            duration,
            "benchmark work",
            status,
            "Default: manager",
            1 if made else 0,  # the manager's decision
            created,
            closed or created,
            closed,
        )
        self.steps.add(
            step,
            req["id"],
            1,
            "manager",
            step_status,
            approver if made else None,
            decided if made else None,
            "link" if made else "",
            created,
            created,  # requested_at: the request's creation time
        )
        if made:
            self.decisions.add(step, approver, step_status == "approved", decided, "link")
        submitted = _event(created, "request.submitted", "system:api", req, f"{req['key']} submitted")
        events = [submitted]
        if status == "fulfilled":
            events += self._grant(req, role_id, group_id, duration, decided, provisioned, approver, approver_email)
        elif status == "pending_approval":
            for hours, action in (
                (1, "step.pending"),
                (24, "step.reminded"),
                (48, "step.escalated"),
                (60, "step.reminded"),
            ):
                events.append(
                    _event(min(created + timedelta(hours=hours), self.now), action, "system:follow-up", req, action)
                )
        else:
            verb = "approved" if step_status == "approved" else step_status
            events.append(
                _event(created + (decided - created) / 2, "step.reminded", "system:follow-up", req, "reminded")
            )
            events.append(
                _event(
                    decided,
                    f"step.{'denied' if status == 'denied' else 'cancelled'}",
                    approver_email,
                    req,
                    verb,
                    actor_person_id=approver,
                )
            )
            events.append(_event(decided, f"request.{status}", approver_email, req, f"request {status}"))
            events.append(_event(decided + timedelta(seconds=1), "message.queued", "system:notifications", req, "told"))
        for event in events:
            self.timeline.push(event)
        self.result.requests += 1
        self.result.counts[status] = self.result.counts.get(status, 0) + 1

    def _grant(self, req, role_id, group_id, duration, decided, provisioned, approver, approver_email) -> list[_Event]:
        grant = self.grant_id
        self.grant_id += 1
        expires = provisioned + duration if duration else None
        ended = expires if expires and expires <= self.now else None
        removed = ended + timedelta(seconds=self.random.uniform(20, 120)) if ended else None
        if removed and removed > self.now:
            removed = None
        self.grants.add(
            grant,
            req["id"],
            req["beneficiary"],
            role_id,
            "expired" if ended else "active",
            duration,
            provisioned,
            expires,
            ended,
            removed,
            "expired" if ended else "",
            decided,
            req["created"],
        )
        self._change(grant, "add", req["beneficiary"], group_id, decided, provisioned)
        events = [
            _event(decided, "step.approved", approver_email, req, "approved", actor_person_id=approver),
            _event(provisioned, "request.fulfilled", "system:provisioning", req, "in place", grant_id=grant),
        ]
        if ended:
            self._change(grant, "remove", req["beneficiary"], group_id, ended, removed)
            events.append(_event(ended, "grant.expired", "system:expiry", req, "expired", grant_id=grant))
            events.append(
                _event(
                    removed or ended + timedelta(seconds=1),
                    "grant.removal_confirmed" if removed else "membership.queued",
                    "system:provisioning",
                    req,
                    "removed",
                    grant_id=grant,
                )
            )
        else:
            self.memberships.add(req["beneficiary"], group_id, "gatehouse", provisioned)
            when = expires - DAY if expires and expires - DAY > provisioned else provisioned + timedelta(seconds=1)
            events.append(
                _event(
                    provisioned,
                    "grant.expiry_scheduled" if expires else "grant.created",
                    "system:provisioning",
                    req,
                    "scheduled",
                    grant_id=grant,
                )
            )
            events.append(
                _event(
                    min(when, self.now),
                    "grant.expiry_warning" if expires else "message.queued",
                    "system:notifications",
                    req,
                    "warned",
                    grant_id=grant,
                )
            )
        self.result.grants += 1
        return events

    def _change(self, grant: int, action: str, person: int, group: int, at: datetime, done: datetime | None) -> None:
        """A membership change of the grant, done at `done` (None: still queued)."""
        change = self.change_id
        self.change_id += 1
        result = {"add": "added", "remove": "removed"}[action] if done else ""
        self.changes.add(change, action, person, group, "succeeded" if done else "queued", result, 1, at, done, at)
        self.change_links.add(grant, change)

    # --- writing ----------------------------------------------------------------------------------

    def _seal_ready(self, *, final: bool = False) -> None:
        while len(self.ready) >= EVENT_BATCH or (final and self.ready):
            batch, self.ready = self.ready[:EVENT_BATCH], self.ready[EVENT_BATCH:]
            seal(batch)
            for event in batch:
                self.events.add(*event.values())
            self.result.events += self.events.flush()

    def _flush_rows(self) -> None:
        tables = (self.requests, self.steps, self.decisions, self.grants, self.changes, self.change_links)
        for table in (*tables, self.memberships):
            table.flush()

    def run(self, progress: Callable[[int], None] | None = None) -> Generated:
        """Write everything; `progress` is told the number of requests written after each 100,000."""
        with without_reference_triggers():
            for first in range(0, self.total, CHUNK):
                with transaction.atomic():
                    for index in range(first, min(first + CHUNK, self.total)):
                        self._request(index)
                    self._flush_rows()
                    horizon = self.start + (min(first + CHUNK, self.total) + 0.5) * (self.now - self.start) / self.total
                    self.ready.extend(self.timeline.release(horizon))
                    self._seal_ready()
                if progress and (first + CHUNK) % 100_000 == 0:
                    progress(first + CHUNK)
            with transaction.atomic():
                self.ready.extend(self.timeline.release(None))
                self._seal_ready(final=True)
        written = (
            AccessRequest,
            ApprovalStep,
            ApprovalDecision,
            Grant,
            MembershipChange,
            GrantMembershipChange,
            GroupMembership,
            AuditEvent,
        )
        check_references(written)
        reset_sequences(written)
        return self.result


def generate(
    requests: int, *, now: datetime, seed: int = 7, progress: Callable[[int], None] | None = None
) -> Generated:
    """The whole data set: catalog, `requests` requests over the year before `now`, 5 events each."""
    catalog = build_catalog(requests)
    result = Generator(catalog, requests, now, seed).run(progress)
    sample = (
        AccessRequest.objects.filter(status="fulfilled")
        .order_by("-id")
        .values_list("beneficiary__email", "application__slug")
        .first()
    )
    result.sample_person, result.sample_application = sample or ("", "")
    result.first_request = now - 365 * DAY
    return result
