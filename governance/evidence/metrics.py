"""How access work is going, for IT: volumes, approval and provisioning times, automation, stalls.

Every number comes from aggregate queries (a fixed number whatever the data's size): the period's
requests are counted once (`tally`) for the volumes, the automation figures and the rule candidates,
automation from each request's own count of manual touches (`governance.requests.touches`); durations
are computed in the database, and so are their medians and 90th percentiles on PostgreSQL (on SQLite,
which has no percentile aggregate, from the values read: `governance.evidence.durations`).
Apps above governance add their own sections (reviews, Auto Reclaim) with `register_section`.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Min, Q, Subquery, Sum
from django.utils import timezone

from catalog.models import Application, Role
from governance.evidence.durations import summarise_each, summarise_fields
from governance.models import AccessRequest, ApprovalStep, AutoApprovalRule, Grant, StepKind

TOP_APPLICATIONS = 20
RULE_CANDIDATE_MIN_REQUESTS = 10
RULE_CANDIDATE_MIN_RATE = 0.95
TREND_POINTS = 8
APPROVED_OUTCOMES = (AccessRequest.Status.APPROVED, AccessRequest.Status.PROVISIONING, AccessRequest.Status.FULFILLED)


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime


_SECTIONS: dict[str, Callable[[Period], dict[str, Any]]] = {}


def register_section(name: str, compute: Callable[[Period], dict[str, Any]]) -> None:
    """Add a section to the metrics (apps register theirs when they are ready)."""
    _SECTIONS[name] = compute


def _elapsed(later: str, earlier: str) -> ExpressionWrapper:
    return ExpressionWrapper(F(later) - F(earlier), output_field=DurationField())


def _in_period(period: Period) -> Q:
    return Q(created_at__gte=period.start, created_at__lt=period.end)


@dataclass(frozen=True)
class Tally:
    """The period's requests counted in one scan: one row per application, role and status with how
    many requests, how many of them no person touched, and their manual touches."""

    rows: list[dict[str, Any]]
    applications: dict[int, tuple[str, str, str]]  # id -> (slug, name, risk tier)
    roles: dict[int, str]  # id -> slug

    def count(self, statuses: tuple[str, ...] | None = None, measure: str = "requests") -> int:
        return sum(row[measure] for row in self.rows if statuses is None or row["status"] in statuses)


def tally(period: Period) -> Tally:
    rows = list(
        AccessRequest.objects.filter(_in_period(period))
        .values("application_id", "role_id", "status")
        .annotate(
            # Counted by a column of the index (every request has one), so PostgreSQL reads only the index.
            requests=Count("created_at"),
            untouched=Count("created_at", filter=Q(manual_touches=0)),
            touches=Sum("manual_touches"),
        )
        .order_by()
    )
    found = Application.objects.filter(id__in={row["application_id"] for row in rows})
    applications = {
        pk: (slug, name, tier) for pk, slug, name, tier in found.values_list("id", "slug", "name", "risk_tier")
    }
    roles = dict(Role.objects.filter(id__in={row["role_id"] for row in rows}).values_list("id", "slug"))
    return Tally(rows, applications, roles)


def request_volume(counted: Tally) -> dict[str, Any]:
    by_status: dict[str, int] = defaultdict(int)
    by_app: dict[int, int] = defaultdict(int)
    for row in counted.rows:
        by_status[row["status"]] += row["requests"]
        by_app[row["application_id"]] += row["requests"]
    named = sorted(((counted.applications[pk], n) for pk, n in by_app.items()), key=lambda item: (-item[1], item[0][0]))
    return {
        "total": sum(by_status.values()),
        "by_status": dict(by_status),
        "by_application": [
            {"application": slug, "name": name, "requests": n} for (slug, name, _), n in named[:TOP_APPLICATIONS]
        ],
    }


def _named(by_id: dict[int, Any], names: dict[int, str]) -> dict[str, Any]:
    return dict(sorted(((names[pk], value) for pk, value in by_id.items()), key=lambda item: item[0]))


def timings(period: Period) -> dict[str, Any]:
    """Approval time (asked → approved) and provisioning time (approved → access in place)."""
    grants = (
        Grant.objects.filter(requested_at__gte=period.start, requested_at__lt=period.end)
        .exclude(request__isnull=True)
        .annotate(approval=_elapsed("created_at", "requested_at"), provisioning=_elapsed("starts_at", "created_at"))
    )
    steps = (
        ApprovalStep.objects.filter(requested_at__gte=period.start, requested_at__lt=period.end)
        .exclude(kind=StepKind.AUTOMATIC)
        .filter(decided_at__isnull=False, opened_at__isnull=False)
        .annotate(took=_elapsed("decided_at", "opened_at"))
    )
    # Grouped by the application's id (sorting integers is cheaper), then named.
    measured = summarise_fields(grants, "role__application_id", ("approval", "provisioning"))
    ids = {pk for found in measured.values() for pk in found["by"]}
    slugs = dict(Application.objects.filter(id__in=ids).values_list("id", "slug"))
    return {
        **{name: {**found["all"], "by_application": _named(found["by"], slugs)} for name, found in measured.items()},
        "step_decision_by_kind": summarise_each(steps, "kind", set(StepKind.values) - {StepKind.AUTOMATIC}),
    }


def automation(counted: Tally) -> dict[str, Any]:
    """Requests that reached access with no person touching them, and manual touches per request."""
    total, granted = counted.count(), counted.count(APPROVED_OUTCOMES)
    automated = counted.count(APPROVED_OUTCOMES, "untouched")
    touches = counted.count(measure="touches")
    return {
        "requests": total,
        "granted": granted,
        "automated": automated,
        "automation_rate": round(automated / granted, 4) if granted else None,
        "manual_touches": touches,
        "manual_touches_per_request": round(touches / total, 3) if total else None,
    }


def waiting(now: datetime) -> dict[str, Any]:
    """Requests waiting for a decision now, and the steps where they stall."""
    open_steps = ApprovalStep.objects.filter(
        status=ApprovalStep.Status.PENDING, request__status=AccessRequest.Status.PENDING_APPROVAL
    )
    by_kind = list(
        open_steps.values("kind").annotate(waiting=Count("id"), oldest=Min("opened_at")).order_by("-waiting")
    )
    # The ten steps first, then their names: joined to every waiting step, the names misled the planner.
    ten = open_steps.order_by("opened_at").values("id")[:10]
    longest = (
        ApprovalStep.objects.filter(id__in=Subquery(ten))
        .select_related("request__application", "request__role")
        .order_by("opened_at", "id")
    )
    return {
        "waiting": sum(row["waiting"] for row in by_kind),
        "by_step_kind": [
            {
                "kind": row["kind"],
                "waiting": row["waiting"],
                "oldest_hours": round((now - row["oldest"]).total_seconds() / 3600, 1) if row["oldest"] else None,
            }
            for row in by_kind
        ],
        "longest": [
            {
                "request": step.request.jira_issue_key,
                "application": step.request.application.slug,
                "role": step.request.role.slug,
                "step": step.order,
                "kind": step.kind,
                "waiting_hours": round((now - step.opened_at).total_seconds() / 3600, 1) if step.opened_at else None,
            }
            for step in longest
        ],
    }


def rule_candidates(counted: Tally) -> list[dict[str, Any]]:
    """Roles approved almost every time by a person: candidates for an auto-approval rule."""
    ruled = AutoApprovalRule.objects.values_list("role_id", "application_id")
    ruled_roles, ruled_apps = ({pair[n] for pair in ruled} for n in (0, 1))
    decided: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for row in counted.rows:
        app = row["application_id"]
        if row["role_id"] in ruled_roles or app in ruled_apps:
            continue
        if counted.applications[app][2] == Application.RiskTier.PRIVILEGED:
            continue
        if row["status"] in APPROVED_OUTCOMES:
            decided[(app, row["role_id"])][0] += row["requests"]
        elif row["status"] == AccessRequest.Status.DENIED:
            decided[(app, row["role_id"])][1] += row["requests"]
    chosen = {
        key: (approved, denied)
        for key, (approved, denied) in decided.items()
        if approved >= RULE_CANDIDATE_MIN_REQUESTS and approved / (approved + denied) >= RULE_CANDIDATE_MIN_RATE
    }
    candidates = [
        {
            "role_id": role,
            "application": counted.applications[app][0],
            "role": counted.roles[role],
            "approved": approved,
            "denied": denied,
            "approval_rate": round(approved / (approved + denied), 4),
        }
        for (app, role), (approved, denied) in chosen.items()
    ]
    return sorted(candidates, key=lambda row: (-row["approved"], row["application"], row["role"]))


def standing_privileged(period: Period, now: datetime) -> dict[str, Any]:
    """High and privileged grants without an end date, now and at evenly spaced points of the period."""
    privileged = Grant.objects.filter(
        role__application__risk_tier__in=(Application.RiskTier.HIGH, Application.RiskTier.PRIVILEGED),
        expires_at__isnull=True,
    )
    step = (period.end - period.start) / TREND_POINTS
    points = [min(period.start + step * (i + 1), now) for i in range(TREND_POINTS)]
    held_at = {
        f"p{i}": Count("id", filter=Q(created_at__lte=at) & (Q(ended_at__isnull=True) | Q(ended_at__gt=at)))
        for i, at in enumerate(points)
    }
    counts = privileged.aggregate(now=Count("id", filter=Q(status__in=Grant.LIVE)), **held_at)
    return {
        "now": counts["now"],
        "trend": [{"at": at.isoformat(), "grants": counts[f"p{i}"]} for i, at in enumerate(points)],
    }


def compute_metrics(period: Period, *, now: datetime | None = None) -> dict[str, Any]:
    now = now or timezone.now()
    counted = tally(period)
    metrics = {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "requests": request_volume(counted),
        "timings": timings(period),
        "automation": automation(counted),
        "waiting": waiting(now),
        "auto_approval_candidates": rule_candidates(counted),
        "standing_privileged_access": standing_privileged(period, now),
    }
    for name, compute in _SECTIONS.items():
        metrics[name] = compute(period)
    return metrics
