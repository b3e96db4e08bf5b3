"""Several durations summarised from one reading of the rows (PostgreSQL: one ROLLUP query) give the
same numbers as each summarised on its own, overall and per key; and the metrics' query count is
bounded, the same at two sizes of data."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.db.models import DurationField, ExpressionWrapper, F
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from governance.evidence import durations
from governance.evidence.metrics import Period, compute_metrics
from governance.models import Grant
from tests import company as c
from tests.test_metric_durations import T0

MAX_METRICS_QUERIES = 21


@pytest.fixture
def grants(company):
    """Grants of three applications, approved 1 s, 2 s, … after creation; some never started."""
    apps = [c.app(f"app{n}", owner=company.alice) for n in range(3)]
    roles = [c.role(app, "user") for app in apps]
    made = []
    for n in range(17):
        starts_at = None if n % 5 == 4 else T0 + timedelta(seconds=n * 7 + 1, microseconds=98765 * n)
        made.append(
            Grant(person=c.person(f"p{n}@example.com"), role=roles[n % 3], status="active", starts_at=starts_at)
        )
    made.append(Grant(person=company.bob, role=roles[2], status="pending"))  # app2: one grant never started
    Grant.objects.bulk_create(made)
    Grant.objects.update(created_at=T0)
    Grant.objects.filter(role=roles[0]).update(created_at=T0 - timedelta(seconds=3))

    def elapsed(later: str, earlier: str) -> ExpressionWrapper:
        return ExpressionWrapper(F(later) - F(earlier), output_field=DurationField())

    return Grant.objects.annotate(
        provisioning=elapsed("starts_at", "created_at"), age=elapsed("created_at", "person__created_at")
    )


def test_the_fields_summarised_together_match_each_summarised_alone(grants):
    key = "role__application__slug"
    together = durations.summarise_fields(grants, key, ("provisioning", "age"))

    for field in ("provisioning", "age"):
        with_values = grants.filter(**{f"{field}__isnull": False})
        assert together[field]["all"] == durations.summarise(with_values, field)
        assert together[field]["by"] == durations.summarise_by(with_values, key, field)
    assert together["provisioning"]["all"]["count"] == 14
    assert list(together["provisioning"]["by"]) == ["app0", "app1", "app2"]


def test_no_rows_give_empty_summaries(grants):
    empty = {"count": 0, "median_seconds": None, "p90_seconds": None}
    assert durations.summarise_fields(grants.none(), "role__slug", ("provisioning",)) == {
        "provisioning": {"all": empty, "by": {}}
    }
    assert durations.summarise_fields(grants.filter(pk=-1), "role__slug", ("provisioning",)) == {
        "provisioning": {"all": empty, "by": {}}
    }


def test_long_durations_keep_every_microsecond(company):
    """Spans of days (PostgreSQL writes them as days and a time) come back exactly as Python counts them."""
    role = c.role(c.app("crm", owner=company.alice), "user")
    spans = [timedelta(days=n * 3, hours=n * 7, seconds=n * 11, microseconds=999_999 - 123_457 * n) for n in range(8)]
    Grant.objects.bulk_create(
        [Grant(person=c.person(f"s{n}@example.com"), role=role, starts_at=T0 + span) for n, span in enumerate(spans)]
    )
    Grant.objects.update(created_at=T0)
    took = ExpressionWrapper(F("starts_at") - F("created_at"), output_field=DurationField())
    rows = Grant.objects.annotate(took=took)

    expected = durations.summary(spans)
    assert durations.summarise(rows) == expected
    assert durations.summarise_fields(rows, "role__slug", ("took",))["took"]["all"] == expected
    assert durations.summarise_each(rows, "role__slug", ["user", "nobody"]) == {"user": expected}


def test_known_values_summarised_each_match_the_grouped_summaries(grants):
    by_app = durations.summarise_by(
        grants.filter(provisioning__isnull=False), "role__application__slug", "provisioning"
    )
    each = durations.summarise_each(grants, "role__application__slug", ["app2", "app0", "app1", "app9"], "provisioning")
    assert each == by_app and list(each) == ["app0", "app1", "app2"]


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the filtered aggregates are PostgreSQL's")
def test_on_postgresql_known_values_are_summarised_in_one_query(grants, django_assert_num_queries):
    with django_assert_num_queries(1):
        durations.summarise_each(grants, "role__application__slug", ["app0", "app1", "app2"], "provisioning")


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the ROLLUP query is PostgreSQL's")
def test_on_postgresql_the_fields_are_summarised_in_one_query(grants, django_assert_num_queries):
    with django_assert_num_queries(1):
        durations.summarise_fields(grants, "role__application__slug", ("provisioning", "age"))


def metrics_queries() -> int:
    now = timezone.now()
    with CaptureQueriesContext(connection) as captured:
        compute_metrics(Period(now - timedelta(days=30), now + timedelta(seconds=1)), now=now)
    return len(captured)


def requests(company, tasks, first: int, count: int) -> None:
    with tasks():
        for n in range(first, first + count):
            person = c.person(f"q{n}@example.com", manager=company.alice)
            request = c.submit(f"IT-{n}", requester=person.email)
            if n % 3:
                c.decide(request, company.alice, approve=n % 7 != 0)


def test_the_metrics_run_a_bounded_number_of_queries_whatever_the_size_of_the_data(company, tasks):
    requests(company, tasks, 0, 4)
    few = metrics_queries()
    requests(company, tasks, 4, 36)
    assert metrics_queries() == few <= MAX_METRICS_QUERIES


def test_the_longest_waits_are_the_ten_oldest_open_steps_in_order(company, tasks):
    from governance.evidence.metrics import waiting
    from governance.models import ApprovalStep

    with tasks():
        for n in range(12):
            c.submit(f"IT-{n}", requester=c.person(f"w{n}@example.com", manager=company.alice).email)
    now = timezone.now()
    for n, step in enumerate(ApprovalStep.objects.order_by("id")):
        ApprovalStep.objects.filter(pk=step.pk).update(opened_at=now - timedelta(hours=(n * 5) % 12 + 1))

    found = waiting(now)
    assert found["waiting"] == 12 and len(found["longest"]) == 10
    hours = [row["waiting_hours"] for row in found["longest"]]
    assert hours == sorted(hours, reverse=True) and hours[0] == 12.0 and hours[-1] == 3.0
