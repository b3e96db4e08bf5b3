"""The evidence benchmark's data: N requests over the past year and 5 audit events each, written set-based.

Rows go to the database in batches (COPY on PostgreSQL, multi-row INSERT elsewhere), never one ORM
save at a time. The audit events are sealed into the hash chain by the chain's own `seal`, in time
order, so `verify_audit` holds over the generated log exactly as over one Gatehouse wrote.

Import after Django is set up (the benchmark and its smoke test both do).
"""

from __future__ import annotations

import heapq
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.management.color import no_style
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, models, transaction

from catalog.models import Application, GroupMembership, IdpGroup, Person, Role, RoleGroup
from governance.audit.chain import seal
from governance.models import AccessRequest, ApprovalDecision, ApprovalStep, AuditEvent, Grant, GrantMembershipChange
from provisioning.models import MembershipChange

EVENTS_PER_REQUEST = 5
CHUNK = 5000  # requests per transaction
EVENT_BATCH = 10_000
DAY = timedelta(days=1)
DURATIONS = (timedelta(hours=8), DAY, 7 * DAY, 30 * DAY, None)  # None: standing access


class TableWriter:
    """Appends rows of one model, given as tuples of `fields`; every other column takes its default."""

    def __init__(self, model: type[models.Model], fields: tuple[str, ...]) -> None:
        meta = model._meta
        self.table = meta.db_table
        self.given = [meta.get_field(name) for name in fields]
        given_names = {f.name for f in self.given}
        rest = [f for f in meta.concrete_fields if f.name not in given_names and not f.primary_key]
        for missing in rest:
            if (
                not missing.has_default()
                and not missing.null
                and not isinstance(missing, models.CharField | models.TextField)
            ):
                raise ValueError(f"{meta.label}.{missing.name} needs a value")
        self.rest_values = tuple(self._default(f) for f in rest)
        self.columns = ", ".join(connection.ops.quote_name(f.column) for f in (*self.given, *rest))
        self.preps = [self._prep(f) for f in self.given]
        self.rows: list[tuple] = []
        self.written = 0

    @staticmethod
    def _default(column: models.Field) -> Any:
        prep = TableWriter._prep(column)
        return prep(column.get_default()) if prep else column.get_default()

    @staticmethod
    def _prep(column: models.Field):
        """What the driver is handed for this column: PostgreSQL takes Python values (JSON as text);
        SQLite takes Django's stored forms (naive UTC text for times, microseconds for durations)."""
        if isinstance(column, models.JSONField):
            return lambda value: json.dumps(value, cls=DjangoJSONEncoder)
        if connection.vendor == "postgresql":
            return None
        if isinstance(column, models.DateTimeField):
            return lambda value: None if value is None else str(value.astimezone(UTC).replace(tzinfo=None))
        if isinstance(column, models.DurationField):
            return lambda value: None if value is None else value // timedelta(microseconds=1)
        return None

    def add(self, row: tuple) -> None:
        if any(self.preps):
            row = tuple(prep(value) if prep else value for prep, value in zip(self.preps, row, strict=True))
        self.rows.append(row + self.rest_values)

    def flush(self) -> None:
        if not self.rows:
            return
        with connection.cursor() as cursor:
            if connection.vendor == "postgresql":
                with cursor.cursor.copy(f"COPY {self.table} ({self.columns}) FROM STDIN") as copy:
                    for row in self.rows:
                        copy.write_row(row)
            else:
                marks = ", ".join(["%s"] * len(self.rows[0]))
                cursor.executemany(f"INSERT INTO {self.table} ({self.columns}) VALUES ({marks})", self.rows)
        self.written += len(self.rows)
        self.rows = []


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
        self.writers = {
            "requests": TableWriter(
                AccessRequest,
                (
                    "id",
                    "jira_issue_key",
                    "requester",
                    "beneficiary",
                    "application",
                    "role",
                    "duration",
                    "reason",
                    "status",
                    "policy_label",
                    "source",
                    "created_at",
                    "updated_at",
                    "closed_at",
                ),
            ),
            "steps": TableWriter(
                ApprovalStep,
                ("id", "request", "order", "kind", "status", "decided_by", "decided_at", "channel", "opened_at"),
            ),
            "decisions": TableWriter(ApprovalDecision, ("step", "person", "approved", "decided_at", "channel")),
            "grants": TableWriter(
                Grant,
                (
                    "id",
                    "request",
                    "person",
                    "role",
                    "status",
                    "duration",
                    "starts_at",
                    "expires_at",
                    "ended_at",
                    "removed_at",
                    "end_reason",
                    "created_at",
                ),
            ),
            "changes": TableWriter(
                MembershipChange,
                (
                    "id",
                    "action",
                    "person",
                    "group",
                    "status",
                    "result",
                    "attempts",
                    "next_attempt_at",
                    "finished_at",
                    "created_at",
                ),
            ),
            "links": TableWriter(GrantMembershipChange, ("grant", "change")),
            "memberships": TableWriter(GroupMembership, ("person", "group", "origin", "since")),
            "events": TableWriter(
                AuditEvent,
                (
                    "at",
                    "action",
                    "actor",
                    "actor_person",
                    "request",
                    "grant",
                    "subject",
                    "application",
                    "message",
                    "data",
                    "seq",
                    "prev_hash",
                    "refs",
                    "hash",
                ),
            ),
        }
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
        self.writers["requests"].add(
            (
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
                "api",
                created,
                closed or created,
                closed,
            )
        )
        self.writers["steps"].add(
            (
                step,
                req["id"],
                1,
                "manager",
                step_status,
                approver if made else None,
                decided if made else None,
                "link" if made else "",
                created,
            )
        )
        if made:
            self.writers["decisions"].add((step, approver, step_status == "approved", decided, "link"))
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
        self.writers["grants"].add(
            (
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
            )
        )
        add = self.change_id
        self.writers["changes"].add(
            (add, "add", req["beneficiary"], group_id, "succeeded", "added", 1, decided, provisioned, decided)
        )
        self.writers["links"].add((grant, add))
        self.change_id += 1
        events = [
            _event(decided, "step.approved", approver_email, req, "approved", actor_person_id=approver),
            _event(provisioned, "request.fulfilled", "system:provisioning", req, "in place", grant_id=grant),
        ]
        if ended:
            remove = self.change_id
            self.change_id += 1
            self.writers["changes"].add(
                (
                    remove,
                    "remove",
                    req["beneficiary"],
                    group_id,
                    "succeeded" if removed else "queued",
                    "removed" if removed else "",
                    1,
                    ended,
                    removed,
                    ended,
                )
            )
            self.writers["links"].add((grant, remove))
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
            self.writers["memberships"].add((req["beneficiary"], group_id, "gatehouse", provisioned))
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

    # --- writing ----------------------------------------------------------------------------------

    def _seal_ready(self, *, final: bool = False) -> None:
        while len(self.ready) >= EVENT_BATCH or (final and self.ready):
            batch, self.ready = self.ready[:EVENT_BATCH], self.ready[EVENT_BATCH:]
            seal(batch)
            writer = self.writers["events"]
            for e in batch:
                writer.add(
                    (
                        e.at,
                        e.action,
                        e.actor,
                        e.actor_person_id,
                        e.request_id,
                        e.grant_id,
                        e.subject_id,
                        e.application_id,
                        e.message,
                        e.data,
                        e.seq,
                        e.prev_hash,
                        e.refs,
                        e.hash,
                    )
                )
            writer.flush()
            self.result.events += len(batch)

    def _flush_rows(self) -> None:
        for name in ("requests", "steps", "decisions", "grants", "changes", "links", "memberships"):
            self.writers[name].flush()

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
