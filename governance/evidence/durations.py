"""Count, median and 90th percentile of durations: by the database where it can (PostgreSQL's
`percentile_disc`, the nearest-rank rule), else from the values read; the numbers are the same.

PostgreSQL sorts the durations as seconds in double precision (`date_part('epoch', …)`: a plain
number sorts several times faster than an interval). That keeps their order, since durations a
microsecond apart stay apart as doubles for any span shorter than a century, so the value picked is
the same one; it is read back to the microsecond it stands for, exactly as `timedelta.total_seconds`
gives it.
"""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from django.core.exceptions import EmptyResultSet
from django.db import connection
from django.db.models import Aggregate, Count, FloatField, Q, QuerySet

#: one field's summaries: over every row ("all") and per value of the key ("by")
Summaries = dict[str, Any]

#: the fractions every summary reports, by name
FRACTIONS = {"median_seconds": 0.5, "p90_seconds": 0.9}


class NearestRank(Aggregate):
    """PostgreSQL's nearest-rank percentile of a duration, in seconds (`fraction` is one of FRACTIONS)."""

    function = "PERCENTILE_DISC"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY DATE_PART('epoch', %(expressions)s))"
    output_field = FloatField()

    def __init__(self, expression: str, fraction: float, **extra: Any) -> None:
        if fraction not in FRACTIONS.values():
            raise ValueError(f"unsupported fraction {fraction!r}")
        super().__init__(expression, fraction=repr(float(fraction)), **extra)


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


def _exact(seconds: float | None) -> float | None:
    """The database's seconds as `timedelta.total_seconds` gives them: to the microsecond."""
    return None if seconds is None else round(seconds * 1_000_000) / 1_000_000


def _seconds(row: dict[str, Any]) -> dict[str, Any]:
    return {"count": row["count"], **{name: _exact(row[name]) for name in FRACTIONS}}


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


def summarise_each(rows: QuerySet, key: str, values: Iterable[Any], field: str = "took") -> dict[Any, dict[str, Any]]:
    """`summarise_by` for a key of known `values` (a field's choices): values with no duration are left
    out, and so are rows of other values. On PostgreSQL one pass with a filtered aggregate per value,
    with no sort of every row by the key first."""
    values = sorted(values)
    if not in_database():
        return summarise_by(rows.filter(**{f"{key}__in": values}), key, field)
    aggregates: dict[str, Aggregate] = {}
    for n, value in enumerate(values):
        only = Q(**{key: value})
        aggregates[f"count_{n}"] = Count(field, filter=only)
        aggregates.update({f"{name}_{n}": NearestRank(field, f, filter=only) for name, f in FRACTIONS.items()})
    found = rows.aggregate(**aggregates)
    result = {}
    for n, value in enumerate(values):
        row = {"count": found[f"count_{n}"], **{name: found[f"{name}_{n}"] for name in FRACTIONS}}
        if row["count"]:
            result[value] = _seconds(row)
    return result


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
        ordered = f"DATE_PART('epoch', {column})"
        measures += [f"PERCENTILE_DISC({f!r}) WITHIN GROUP (ORDER BY {ordered})" for f in FRACTIONS.values()]
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
