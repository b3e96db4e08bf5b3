"""Medians and 90th percentiles of durations: the database's answer (PostgreSQL) is the nearest-rank
rule's, exactly as computed from the values read (SQLite, and the lifecycle and review sections)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.db.models import DurationField, ExpressionWrapper, F

from governance.evidence import durations
from governance.models import Grant
from tests import company as c

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


def test_the_nearest_rank_rule():
    values = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0]
    assert durations.percentile(values, 0.5) == 5.0
    assert durations.percentile(values, 0.9) == 9.0
    assert durations.percentile([7.0], 0.9) == 7.0
    assert durations.percentile([], 0.5) is None
    assert durations.summary([timedelta(seconds=3), None, timedelta(seconds=1)]) == {
        "count": 2,
        "median_seconds": 1.0,
        "p90_seconds": 3.0,
    }


@pytest.fixture
def grants(company):
    """Grants of two roles whose provisioning took 1 s, 2 s, … (one not yet started)."""
    other = c.role(c.app("crm", owner=company.alice), "user", c.group("crm-users"))
    people = [c.person(f"p{n}@example.com") for n in range(13)]
    made = []
    for n, person in enumerate(people):
        role = company.reader if n % 3 else other
        starts_at = None if n == 12 else T0 + timedelta(seconds=n + 1, microseconds=123457 * n)
        made.append(Grant(person=person, role=role, status="active", starts_at=starts_at))
    Grant.objects.bulk_create(made)
    Grant.objects.update(created_at=T0)
    took = ExpressionWrapper(F("starts_at") - F("created_at"), output_field=DurationField())
    return Grant.objects.annotate(took=took)


def from_values(rows, key=None):
    if key is None:
        return durations.summary(rows.values_list("took", flat=True))
    groups: dict = {}
    for value, took in rows.values_list(key, "took"):
        groups.setdefault(value, []).append(took)
    return {value: durations.summary(found) for value, found in sorted(groups.items())}


def test_the_summaries_are_the_same_whichever_side_computes_them(grants):
    overall = durations.summarise(grants)
    by_role = durations.summarise_by(grants, "role__slug")

    assert overall == from_values(grants) and overall["count"] == 12
    assert by_role == from_values(grants, "role__slug")
    assert list(by_role) == sorted(by_role)
    assert durations.summarise(grants.none()) == {"count": 0, "median_seconds": None, "p90_seconds": None}


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the percentile aggregate is PostgreSQL's")
def test_on_postgresql_the_database_computes_them_in_one_query(grants, django_assert_num_queries):
    with django_assert_num_queries(1):
        durations.summarise_by(grants, "role__slug")
