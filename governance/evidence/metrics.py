"""How access work is going, for IT: volumes, approval and provisioning times, automation, stalls.

Every number comes from aggregate queries (a fixed number whatever the data's size); durations are
computed in the database, and so are their medians and 90th percentiles on PostgreSQL (on SQLite,
which has no percentile aggregate, from the values read: `governance.evidence.durations`).
Apps above governance add their own sections (reviews, Auto Reclaim) with `register_section`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, DurationField, Exists, ExpressionWrapper, F, Min, OuterRef, Q
from django.utils import timezone

from catalog.models import Application
from governance.evidence.durations import summarise, summarise_by
from governance.models import AccessRequest, ApprovalDecision, ApprovalStep, AutoApprovalRule, Grant, StepKind
from provisioning.models import FulfilmentTask

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


def request_volume(period: Period) -> dict[str, Any]:
    requests = AccessRequest.objects.filter(_in_period(period))
    by_app = (
        requests.values("application__slug", "application__name")
        .annotate(requests=Count("id"))
        .order_by("-requests", "application__slug")[:TOP_APPLICATIONS]
    )
    by_status = dict(requests.values_list("status").annotate(n=Count("id")).order_by())
    return {
        "total": sum(by_status.values()),
        "by_status": by_status,
        "by_application": [
            {"application": row["application__slug"], "name": row["application__name"], "requests": row["requests"]}
            for row in by_app
        ],
    }


def timings(period: Period) -> dict[str, Any]:
    """Approval time (asked → approved) and provisioning time (approved → access in place)."""
    grants = Grant.objects.filter(request__created_at__gte=period.start, request__created_at__lt=period.end).exclude(
        request__isnull=True
    )
    approval = grants.annotate(took=_elapsed("created_at", "request__created_at"))
    provisioning = grants.filter(starts_at__isnull=False).annotate(took=_elapsed("starts_at", "created_at"))
    steps = (
        ApprovalStep.objects.filter(request__created_at__gte=period.start, request__created_at__lt=period.end)
        .exclude(kind=StepKind.AUTOMATIC)
        .filter(decided_at__isnull=False, opened_at__isnull=False)
        .annotate(took=_elapsed("decided_at", "opened_at"))
    )
    application = "role__application__slug"
    return {
        "approval": {**summarise(approval), "by_application": summarise_by(approval, application)},
        "provisioning": {**summarise(provisioning), "by_application": summarise_by(provisioning, application)},
        "step_decision_by_kind": summarise_by(steps, "kind"),
    }


def automation(period: Period) -> dict[str, Any]:
    """Requests that reached access with no person touching them, and manual touches per request."""
    requests = AccessRequest.objects.filter(_in_period(period))
    decided_by_someone = ApprovalDecision.objects.filter(step__request=OuterRef("pk"))
    done_by_hand = FulfilmentTask.objects.filter(grants__request=OuterRef("pk"))
    counts = requests.aggregate(
        total=Count("id"),
        granted=Count("id", filter=Q(status__in=APPROVED_OUTCOMES)),
        automated=Count(
            "id",
            filter=Q(status__in=APPROVED_OUTCOMES) & ~Q(Exists(decided_by_someone)) & ~Q(Exists(done_by_hand)),
        ),
    )
    decisions = ApprovalDecision.objects.filter(
        step__request__created_at__gte=period.start, step__request__created_at__lt=period.end
    ).count()
    tasks = FulfilmentTask.objects.filter(
        grants__request__created_at__gte=period.start, grants__request__created_at__lt=period.end
    ).count()
    total, granted = counts["total"], counts["granted"]
    return {
        "requests": total,
        "granted": granted,
        "automated": counts["automated"],
        "automation_rate": round(counts["automated"] / granted, 4) if granted else None,
        "manual_touches": decisions + tasks,
        "manual_touches_per_request": round((decisions + tasks) / total, 3) if total else None,
    }


def waiting(now: datetime) -> dict[str, Any]:
    """Requests waiting for a decision now, and the steps where they stall."""
    open_steps = ApprovalStep.objects.filter(
        status=ApprovalStep.Status.PENDING, request__status=AccessRequest.Status.PENDING_APPROVAL
    )
    by_kind = open_steps.values("kind").annotate(waiting=Count("id"), oldest=Min("opened_at")).order_by("-waiting")
    longest = open_steps.select_related("request__application", "request__role").order_by("opened_at")[:10]
    return {
        "waiting": open_steps.count(),
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


def rule_candidates(period: Period) -> list[dict[str, Any]]:
    """Roles approved almost every time by a person: candidates for an auto-approval rule."""
    has_rule = AutoApprovalRule.objects.filter(Q(role=OuterRef("role")) | Q(application=OuterRef("application")))
    rows = (
        AccessRequest.objects.filter(_in_period(period))
        .exclude(Exists(has_rule))
        .exclude(application__risk_tier=Application.RiskTier.PRIVILEGED)
        .values("role_id", "role__slug", "application__slug")
        .annotate(
            approved=Count("id", filter=Q(status__in=APPROVED_OUTCOMES)),
            denied=Count("id", filter=Q(status=AccessRequest.Status.DENIED)),
        )
        .filter(approved__gte=RULE_CANDIDATE_MIN_REQUESTS)
        .order_by("-approved")
    )
    candidates = []
    for row in rows:
        decided = row["approved"] + row["denied"]
        rate = row["approved"] / decided
        if rate >= RULE_CANDIDATE_MIN_RATE:
            candidates.append(
                {
                    "role_id": row["role_id"],
                    "application": row["application__slug"],
                    "role": row["role__slug"],
                    "approved": row["approved"],
                    "denied": row["denied"],
                    "approval_rate": round(rate, 4),
                }
            )
    return candidates


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
    metrics = {
        "period": {"from": period.start.isoformat(), "to": period.end.isoformat()},
        "requests": request_volume(period),
        "timings": timings(period),
        "automation": automation(period),
        "waiting": waiting(now),
        "auto_approval_candidates": rule_candidates(period),
        "standing_privileged_access": standing_privileged(period, now),
    }
    for name, compute in _SECTIONS.items():
        metrics[name] = compute(period)
    return metrics
