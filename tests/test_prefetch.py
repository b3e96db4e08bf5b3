"""lib.prefetch: rows a service has just written, kept on the instance as if prefetched."""

from __future__ import annotations

from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.models import AccessRequest
from lib.prefetch import keep_as_prefetched, kept_related
from tests import company as c


def submitted(company, key: str = "IT-1") -> AccessRequest:
    c.policy("Wiki", "manager", "app_owner", application=company.wiki)
    return AccessRequest.objects.get(pk=c.submit(key, application="wiki", role="reader").pk)


def test_kept_rows_are_read_without_a_query_on_either_kind_of_relation(company):
    request = submitted(company)
    steps = list(request.steps.order_by("order"))
    keep_as_prefetched(request, "steps", steps)  # a reverse foreign key
    keep_as_prefetched(steps[0], "approvers", [company.alice])  # a many-to-many

    with CaptureQueriesContext(connection) as captured:
        assert list(request.steps.all()) == steps
        assert list(steps[0].approvers.all()) == [company.alice]
        assert kept_related(request, "steps") == steps

    assert len(captured) == 0


def test_nothing_is_kept_until_a_service_keeps_it(company):
    request = submitted(company)

    assert kept_related(request, "steps") is None
    assert list(request.steps.all()) == list(request.steps.order_by("order"))
    assert kept_related(request, "steps") is None  # reading does not keep


def test_a_change_through_the_manager_drops_what_was_kept(company):
    request = submitted(company)
    step = request.steps.order_by("order").first()
    keep_as_prefetched(step, "approvers", [])

    step.approvers.add(company.dana)

    assert kept_related(step, "approvers") is None
    assert company.dana in step.approvers.all()


def test_keeping_again_replaces_what_was_kept(company):
    request = submitted(company)
    first, second = request.steps.order_by("order")
    keep_as_prefetched(request, "steps", [first])

    keep_as_prefetched(request, "steps", [first, second])

    assert list(request.steps.all()) == [first, second]
