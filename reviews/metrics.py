"""The reviews' and Auto Reclaim's sections of governance's metrics."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F, Q

from governance.evidence.durations import summary
from governance.evidence.metrics import Period, register_section
from reviews.models import ReclaimCase, ReviewCampaign, ReviewItem


def review_metrics(period: Period) -> dict[str, Any]:
    in_progress = ReviewCampaign.objects.filter(launched_at__isnull=False, closed_at__isnull=True)
    items = ReviewItem.objects.filter(decided_at__gte=period.start, decided_at__lt=period.end)
    counts = items.aggregate(decided=Count("id"), revoked=Count("id", filter=Q(decision=ReviewItem.Decision.REVOKE)))
    took = ExpressionWrapper(F("decided_at") - F("campaign__launched_at"), output_field=DurationField())
    times = items.filter(campaign__launched_at__isnull=False).annotate(took=took).values_list("took", flat=True)
    return {
        "campaigns_in_progress": in_progress.count(),
        "items_open": ReviewItem.objects.filter(
            campaign__in=in_progress, decision=ReviewItem.Decision.UNDECIDED
        ).count(),
        "items_decided": counts["decided"],
        "items_revoked": counts["revoked"],
        "reviewer_decision_time": summary(times),
    }


def reclaim_metrics(period: Period) -> dict[str, Any]:
    closed = ReclaimCase.objects.filter(closed_at__gte=period.start, closed_at__lt=period.end)
    by_outcome = dict(closed.values_list("outcome").annotate(n=Count("id")).order_by())
    return {
        "open_cases": ReclaimCase.objects.filter(status__in=ReclaimCase.OPEN_STATUSES).count(),
        "closed_by_outcome": by_outcome,
        "reclaimed": by_outcome.get(ReclaimCase.Outcome.RECLAIMED, 0),
    }


def register() -> None:
    register_section("reviews", review_metrics)
    register_section("reclaim", reclaim_metrics)
