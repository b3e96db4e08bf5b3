"""What the admin dashboard's charts plot, taken from the metrics of a period.

Each chart is plain data (labels and named series of numbers) that the page emits with `json_script`
beside the table of the same numbers; governance/static/governance/dashboard-charts.js draws it with
the vendored Chart.js. Without JavaScript the tables are the dashboard.
"""

from __future__ import annotations

from typing import Any

HOUR = 3600


def chart(key: str, *, kind: str, unit: str, labels: list[str], series: dict[str, list[Any]]) -> dict[str, Any]:
    """One chart: `kind` is "bars" (horizontal, one row per label) or "line" (labels along the x axis)."""
    return {
        "id": f"chart-{key}",
        "kind": kind,
        "unit": unit,
        "labels": labels,
        "series": [{"label": name, "values": values} for name, values in series.items()],
    }


def hours(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds / HOUR, 2)


def duration_chart(key: str, summaries: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """Median and p90, in hours, of each group of a `summary` (by application, by step kind)."""
    return chart(
        key,
        kind="bars",
        unit="hours",
        labels=list(summaries),
        series={
            "Median": [hours(times["median_seconds"]) for times in summaries.values()],
            "p90": [hours(times["p90_seconds"]) for times in summaries.values()],
        },
    )


def count_chart(key: str, rows: list[dict[str, Any]], *, label: str, value: str, unit: str) -> dict[str, Any]:
    """One bar per row: the row's `label` field against its `value` field."""
    series = {unit.capitalize(): [row[value] for row in rows]}
    return chart(key, kind="bars", unit=unit, labels=[row[label] for row in rows], series=series)


def dashboard_charts(metrics: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The dashboard's charts by name, in the order the page shows them."""
    volume = metrics["requests"]["by_application"]
    stalls = metrics["waiting"]["by_step_kind"]
    trend = metrics["standing_privileged_access"]["trend"]
    return {
        "volume": count_chart("volume", volume, label="application", value="requests", unit="requests"),
        "approval": duration_chart("approval", metrics["timings"]["approval"]["by_application"]),
        "provisioning": duration_chart("provisioning", metrics["timings"]["provisioning"]["by_application"]),
        "steps": duration_chart("steps", metrics["timings"]["step_decision_by_kind"]),
        "stalls": count_chart("stalls", stalls, label="kind", value="waiting", unit="requests waiting"),
        "standing": chart(
            "standing",
            kind="line",
            unit="grants",
            labels=[point["at"][:10] for point in trend],
            series={"Grants": [point["grants"] for point in trend]},
        ),
    }
