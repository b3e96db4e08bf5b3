"""The admin home's dashboard: the metrics of a period as tables, with their charts' data for Chart.js."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django import template
from django.utils import timezone

from governance.evidence.charts import dashboard_charts
from governance.evidence.metrics import Period, compute_metrics
from governance.evidence.periods import parse_moment

register = template.Library()


def _period(params) -> tuple[Period, str]:
    end = parse_moment(params.get("to", ""), end=True) if params.get("to") else None
    start = parse_moment(params.get("from", ""), end=False) if params.get("from") else None
    error = ""
    if (params.get("to") and end is None) or (params.get("from") and start is None):
        error = "Use dates such as 2026-07-01 for the period; showing the last 30 days."
        start = end = None
    end = end or timezone.now()
    start = start or end - timedelta(days=30)
    if end <= start:
        error, start = (
            "The period's end is before its start; showing the 30 days before the end.",
            end - timedelta(days=30),
        )
    return Period(start, end), error


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    if seconds < 3600:
        return f"{seconds / 60:.0f} min"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86400:.1f} days"


@register.filter
def duration_text(seconds: float | None) -> str:
    return _hours(seconds)


@register.inclusion_tag("admin/governance/dashboard.html", takes_context=True)
def gatehouse_dashboard(context) -> dict[str, Any]:
    request = context["request"]
    if not request.user.has_perm("governance.view_accessrequest"):
        return {"allowed": False}
    period, error = _period(request.GET)
    metrics = compute_metrics(period)
    return {
        "allowed": True,
        "error": error,
        "period": period,
        "metrics": metrics,
        "charts": dashboard_charts(metrics),
    }
