"""The evidence benchmark's data: N requests over the past year and 5 audit events each, written set-based.

Rows go to the database in batches through `lib.bulk.insert_rows` (COPY on PostgreSQL, one prepared
statement elsewhere), never one ORM save at a time; rows that others refer to carry their ids. The
audit events are sealed into the hash chain by the chain's own `seal`, in time order, so
`verify_audit` holds over the generated log exactly as over one Gatehouse wrote.

Import after Django is set up (the benchmark and its smoke test both do).
"""

from __future__ import annotations

import heapq
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.core.management.color import no_style
from django.db import connection, models, transaction

from catalog.models import Application, GroupMembership, IdpGroup, Person, Role, RoleGroup
from governance.audit.chain import seal
from governance.models import AccessRequest, ApprovalDecision, ApprovalStep, AuditEvent, Grant, GrantMembershipChange
from lib.bulk import insert_rows
from provisioning.models import MembershipChange

EVENTS_PER_REQUEST = 5
CHUNK = 5000  # requests per transaction
EVENT_BATCH = 10_000
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


@dataclass(order=True)
class _Pending:
    at: datetime
    order: int
    event: AuditEvent = field(compare=False)


class _Timeline:
    """Audit events of many requests, released in time order once no earlier one can still come."""

    def __init__(self) -> None:
        self.heap: list[_Pending] = []
        self.counter = 0

    def push(self, event: AuditEvent) -> None:
        self.counter += 1
        heapq.heappush(self.heap, _Pending(event.at, self.counter, event))

    def release(self, until: datetime | None) -> Iterator[AuditEvent]:
        while self.heap and (until is None or self.heap[0].at <= until):
            yield heapq.heappop(self.heap).event


def _event(at: datetime, action: str, actor: str, req: dict, message: str, **extra: Any) -> AuditEvent:
    return AuditEvent(
        at=at,
        action=action,
        actor=actor,
        actor_person_id=extra.pop("actor_person_id", None),
        request_id=req["id"],
        grant_id=extra.pop("grant_id", None),
        subject_id=req["beneficiary"],
        application_id=req["application"],
        message=message,
        data={"request": req["key"], **extra},
    )


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
        # Rows waiting for their batch, written in this order (each refers only to the ones before it).
        self.rows: dict[type[models.Model], list[models.Model]] = {
            model: [] for model in (AccessRequest, ApprovalStep, ApprovalDecision, Grant, MembershipChange)
        }
        self.rows.update({GrantMembershipChange: [], GroupMembership: []})
        self.timeline = _Timeline()
        self.ready: list[AuditEvent] = []
        self.result = Generated(people=len(catalog.people), applications=len(catalog.roles) // 2)

    # --- one request ------------------------------------------------------------------------------

    def _request(self, index: int) -> None:
        people, roles = self.catalog.people, self.catalog.roles
        person = people[index % len(people)]
        role_id, app_id, group_id = roles[(index // len(people) + (index % len(people)) * 7) % len(roles)]
        created = self.start + (index + 0.5) * (self.now - self.start) / self.total
        roll = self.random.random()
        duration = DURATIONS[index % len(DURATIONS)]
        req = {"id": self.request_id, "key": f"BENCH-{index + 1}", "beneficiary": person, "application": app_id}
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
        self.rows[AccessRequest].append(
            AccessRequest(
                id=req["id"],
                jira_issue_key=req["key"],
                requester_id=person,
                beneficiary_id=person,
                application_id=app_id,
                role_id=role_id,
                duration=duration,
                reason="benchmark work",
                status=status,
                policy_label="Default: manager",
                created_at=created,
                updated_at=closed or created,
                closed_at=closed,
            )
        )
        self.rows[ApprovalStep].append(
            ApprovalStep(
                id=step,
                request_id=req["id"],
                order=1,
                kind="manager",
                status=step_status,
                decided_by_id=approver if made else None,
                decided_at=decided if made else None,
                channel="link" if made else "",
                opened_at=created,
            )
        )
        if made:
            self.rows[ApprovalDecision].append(
                ApprovalDecision(
                    step_id=step,
                    person_id=approver,
                    approved=step_status == "approved",
                    decided_at=decided,
                    channel="link",
                )
            )
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

    def _grant(
        self, req, role_id, group_id, duration, decided, provisioned, approver, approver_email
    ) -> list[AuditEvent]:
        grant = self.grant_id
        self.grant_id += 1
        expires = provisioned + duration if duration else None
        ended = expires if expires and expires <= self.now else None
        removed = ended + timedelta(seconds=self.random.uniform(20, 120)) if ended else None
        if removed and removed > self.now:
            removed = None
        self.rows[Grant].append(
            Grant(
                id=grant,
                request_id=req["id"],
                person_id=req["beneficiary"],
                role_id=role_id,
                status="expired" if ended else "active",
                duration=duration,
                starts_at=provisioned,
                expires_at=expires,
                ended_at=ended,
                removed_at=removed,
                end_reason="expired" if ended else "",
                created_at=decided,
            )
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
            self.rows[GroupMembership].append(
                GroupMembership(person_id=req["beneficiary"], group_id=group_id, origin="gatehouse", since=provisioned)
            )
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
        self.rows[MembershipChange].append(
            MembershipChange(
                id=change,
                action=action,
                person_id=person,
                group_id=group,
                status="succeeded" if done else "queued",
                result=result,
                attempts=1,
                next_attempt_at=at,
                finished_at=done,
                created_at=at,
            )
        )
        self.rows[GrantMembershipChange].append(GrantMembershipChange(grant_id=grant, change_id=change))

    # --- writing ----------------------------------------------------------------------------------

    def _seal_ready(self, *, final: bool = False) -> None:
        while len(self.ready) >= EVENT_BATCH or (final and self.ready):
            batch, self.ready = self.ready[:EVENT_BATCH], self.ready[EVENT_BATCH:]
            seal(batch)
            insert_rows(AuditEvent, batch, batch_size=EVENT_BATCH)
            self.result.events += len(batch)

    def _flush_rows(self) -> None:
        for model, rows in self.rows.items():
            with_ids = model not in (ApprovalDecision, GrantMembershipChange, GroupMembership)
            insert_rows(model, rows, batch_size=CHUNK * 2, with_ids=with_ids)
            rows.clear()

    def run(self) -> Generated:
        for first in range(0, self.total, CHUNK):
            with transaction.atomic():
                for index in range(first, min(first + CHUNK, self.total)):
                    self._request(index)
                self._flush_rows()
                horizon = self.start + (min(first + CHUNK, self.total) + 0.5) * (self.now - self.start) / self.total
                self.ready.extend(self.timeline.release(horizon))
                self._seal_ready()
        with transaction.atomic():
            self.ready.extend(self.timeline.release(None))
            self._seal_ready(final=True)
        reset_sequences(
            (
                AccessRequest,
                ApprovalStep,
                ApprovalDecision,
                Grant,
                MembershipChange,
                GrantMembershipChange,
                GroupMembership,
                AuditEvent,
            )
        )
        return self.result


def reset_sequences(model_types: Iterable[type[models.Model]]) -> None:
    """After rows were written with their ids, the next id the database hands out follows them."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(model_types))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)


def generate(requests: int, *, now: datetime, seed: int = 7) -> Generated:
    """The whole data set: catalog, `requests` requests over the year before `now`, 5 events each."""
    catalog = build_catalog(requests)
    result = Generator(catalog, requests, now, seed).run()
    sample = (
        AccessRequest.objects.filter(status="fulfilled")
        .order_by("-id")
        .values_list("beneficiary__email", "application__slug")
        .first()
    )
    result.sample_person, result.sample_application = sample or ("", "")
    result.first_request = now - 365 * DAY
    return result
