"""The lifecycle section of the metrics: joiners, movers, leavers, birthright, offboarding times."""

from __future__ import annotations

from typing import Any

from django.db.models import Count, DurationField, ExpressionWrapper, F

from governance.evidence.durations import summary
from governance.evidence.metrics import Period, register_section
from governance.models import AccessRequest, LifecycleEvent, Offboarding


def lifecycle_metrics(period: Period) -> dict[str, Any]:
    events = LifecycleEvent.objects.filter(occurred_at__gte=period.start, occurred_at__lt=period.end)
    completed = Offboarding.objects.filter(completed_at__gte=period.start, completed_at__lt=period.end)
    took = ExpressionWrapper(F("last_removal_confirmed_at") - F("started_at"), output_field=DurationField())
    times = completed.filter(started_at__isnull=False).annotate(took=took).values_list("took", flat=True)
    return {
        "events": dict(events.values_list("kind").annotate(n=Count("id")).order_by()),
        "birthright_requests": AccessRequest.objects.filter(
            source="lifecycle", created_at__gte=period.start, created_at__lt=period.end
        ).count(),
        "offboardings_open": Offboarding.objects.filter(status__in=Offboarding.OPEN).count(),
        "offboardings_completed": completed.count(),
        "time_to_last_removal": summary(times),
    }


def register() -> None:
    register_section("lifecycle", lifecycle_metrics)
