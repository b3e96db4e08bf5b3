"""Count, median and 90th percentile of durations: by the database where it can (PostgreSQL's
`percentile_disc`, the nearest-rank rule), else from the values read; the numbers are the same."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Aggregate, Count, DurationField, QuerySet

#: one field's summaries: over every row ("all") and per value of the key ("by")
Summaries = dict[str, Any]

#: the fractions every summary reports, by name
FRACTIONS = {"median_seconds": 0.5, "p90_seconds": 0.9}


class NearestRank(Aggregate):
    """PostgreSQL's nearest-rank percentile of a duration (`fraction` is one of FRACTIONS)."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = DurationField()

    def __init__(self, expression: str, fraction: float) -> None:
        if fraction not in FRACTIONS.values():
            raise ValueError(f"unsupported fraction {fraction!r}")
        super().__init__(expression, fraction=repr(float(fraction)))


def percentile(values: list[float], fraction: float) -> float | None:
    """Nearest-rank percentile of sorted `values`; None for no values."""
    if not values:
        return None
    rank = max(math.ceil(fraction * len(values)), 1)
    return values[rank - 1]


def summary(durations: Iterable[timedelta | None]) -> dict[str, Any]:
    """Count, median and 90th percentile, in seconds, of the durations given."""
    seconds = sorted(d.total_seconds() for d in durations if d is not None)
    return {"count": len(seconds), **{name: percentile(seconds, f) for name, f in FRACTIONS.items()}}


def in_database() -> bool:
    return connection.vendor == "postgresql"


def _aggregates(field: str) -> dict[str, Aggregate]:
    return {"count": Count(field), **{name: NearestRank(field, f) for name, f in FRACTIONS.items()}}


def _seconds(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "count": row["count"],
        **{name: row[name].total_seconds() if row[name] is not None else None for name in FRACTIONS},
    }


def summarise(rows: QuerySet, field: str = "took") -> dict[str, Any]:
    """`summary` of the `field` durations of `rows` (an annotated queryset)."""
    if in_database():
        return _seconds(rows.aggregate(**_aggregates(field)))
    return summary(rows.values_list(field, flat=True))


def summarise_by(rows: QuerySet, key: str, field: str = "took") -> dict[str, dict[str, Any]]:
    """`summary` per value of `key` (sorted by it), of the `field` durations of `rows`."""
    if in_database():
        grouped = rows.values(key).annotate(**_aggregates(field)).order_by()
        return {row[key]: _seconds(row) for row in sorted(grouped, key=lambda row: row[key])}
    groups: dict[Any, list[timedelta | None]] = defaultdict(list)
    for value, took in rows.values_list(key, field):
        groups[value].append(took)
    return {value: summary(durations) for value, durations in sorted(groups.items())}


def _rollup(rows: QuerySet, key: str, fields: tuple[str, ...]) -> list[tuple]:
    """One PostgreSQL query: (is the total row, key, then count, median, p90 of each field) per value of
    `key` and once over every row (GROUP BY ROLLUP: the rows are read and joined once)."""
    try:
        sql, params = rows.values(key, *fields).order_by().query.sql_with_params()
    except EmptyResultSet:  # a filter no row can pass (e.g. `.none()`)
        return []
    quote = connection.ops.quote_name
    measures = []
    for field in fields:
        column = quote(field)
        measures.append(f"COUNT({column})")
        measures += [f"PERCENTILE_DISC({f!r}) WITHIN GROUP (ORDER BY {column})" for f in FRACTIONS.values()]
    grouped = f"SELECT GROUPING({quote(key)}), {quote(key)}, {', '.join(measures)} FROM ({sql}) AS measured"
    with connection.cursor() as cursor:
        cursor.execute(f"{grouped} GROUP BY ROLLUP ({quote(key)})", params)
        return cursor.fetchall()


def _from_rollup(found: list[tuple], fields: tuple[str, ...]) -> dict[str, Summaries]:
    width = 1 + len(FRACTIONS)
    result: dict[str, Summaries] = {field: {"all": summary([]), "by": {}} for field in fields}
    for total, value, *measures in sorted(found, key=lambda row: (row[0], row[1])):
        for n, field in enumerate(fields):
            count, *points = measures[n * width : (n + 1) * width]
            row = {"count": count, **dict(zip(FRACTIONS, points, strict=True))}
            if total:
                result[field]["all"] = _seconds(row)
            elif count:
                result[field]["by"][value] = _seconds(row)
    return result


def summarise_fields(rows: QuerySet, key: str, fields: tuple[str, ...]) -> dict[str, Summaries]:
    """For each of `fields` (durations annotated on `rows`): its `summary` over every row ("all") and per
    value of `key` ("by", sorted by it; a value with no duration of that field left out), from one
    reading of the rows."""
    if in_database():
        return _from_rollup(_rollup(rows, key, fields), fields)
    values: dict[str, list[timedelta | None]] = {field: [] for field in fields}
    groups: dict[str, dict[Any, list[timedelta | None]]] = {field: defaultdict(list) for field in fields}
    for value, *durations in rows.values_list(key, *fields):
        for field, took in zip(fields, durations, strict=True):
            values[field].append(took)
            if took is not None:
                groups[field][value].append(took)
    return {
        field: {
            "all": summary(values[field]),
            "by": {value: summary(found) for value, found in sorted(groups[field].items())},
        }
        for field in fields
    }
