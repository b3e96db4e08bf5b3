"""Each request's count of manual touches (people's decisions, fulfilment tasks of its grant), kept by
the services that record them, agrees with those rows after every kind of change; the automation
metrics read it, and the migration that adds it counts the rows already there the same way."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest
from django.apps import apps as installed_apps

from governance import services
from governance.evidence.metrics import automation, tally
from governance.models import AccessRequest, ApprovalDecision
from provisioning.models import FulfilmentTask
from provisioning.outbox.services import complete_fulfilment_task
from tests import company as c
from tests.test_metrics import BASE

R = AccessRequest.Status


def touches_in_rows(request: AccessRequest) -> int:
    decisions = ApprovalDecision.objects.filter(step__request=request).count()
    return decisions + FulfilmentTask.objects.filter(grants__request=request).count()


def counted(request: AccessRequest) -> int:
    request.refresh_from_db()
    assert request.manual_touches == touches_in_rows(request), request
    return request.manual_touches


@pytest.fixture
def payroll(company):
    """An application IT provisions by hand (fulfilment tasks), approved by two named people."""
    app = c.app("payroll", owner=company.alice, mode="manual")
    clerk = c.role(app, "clerk")
    c.policy("Payroll: both owners", "named_all", role=clerk, named=[company.alice, company.dana])
    return app


def test_a_decision_counts_whether_it_approves_or_denies(company, tasks):
    with tasks():
        approved = c.submit("IT-1")
        assert counted(approved) == 0
        c.decide(approved, company.alice)
        denied = c.submit("IT-2", requester=c.person("p@example.com", manager=company.alice).email)
        c.decide(denied, company.alice, approve=False)
    assert (counted(approved), counted(denied)) == (1, 1)
    assert AccessRequest.objects.get(pk=denied.pk).status == R.DENIED


def test_an_automatic_approval_and_a_cancellation_touch_nothing(company, tasks):
    c.policy("Readers: automatic", "automatic", role=company.reader)
    with tasks():
        automatic = c.submit("IT-1", role="reader", duration=None)
        cancelled = c.submit("IT-2")
        services.cancel_request(request=cancelled, actor=services.Actor.of_person(company.bob))
    assert (counted(automatic), counted(cancelled)) == (0, 0)
    assert AccessRequest.objects.get(pk=automatic.pk).status == R.FULFILLED


def test_each_partial_approval_and_each_fulfilment_task_counts(company, payroll, tasks, django_user_model):
    it = django_user_model.objects.create_user("it-dana")
    with tasks():
        request = c.submit("IT-1", application="payroll", role="clerk", duration=None)
        c.decide(request, company.alice)
        assert counted(request) == 1  # still waiting for dana
        c.decide(request, company.dana)
    assert counted(request) == 3  # two decisions and the task to grant by hand
    with tasks():
        complete_fulfilment_task(task=FulfilmentTask.objects.get(), user=it)
        services.revoke_grant(grant=c.grant_of(request), actor=services.Actor.of_person(company.alice), reason="x")
    assert counted(request) == 4  # and the task to remove by hand


def automated_and_by_hand(company, tasks) -> None:
    """One reader request approved automatically; one payroll request decided by two people."""
    c.policy("Readers: automatic", "automatic", role=company.reader)
    with tasks():
        c.submit("IT-1", role="reader", duration=None)
        request = c.submit("IT-2", application="payroll", role="clerk", duration=None)
        c.decide(request, company.alice)
        c.decide(request, company.dana)


def test_the_automation_metrics_read_the_counts(api, company, payroll, tasks):
    automated_and_by_hand(company, tasks)
    found = api.get(f"{BASE}/metrics/").json()["automation"]
    assert (found["requests"], found["granted"], found["automated"], found["manual_touches"]) == (2, 2, 1, 3)


def test_the_migration_counts_the_rows_already_there_as_the_services_do(company, payroll, tasks):
    automated_and_by_hand(company, tasks)
    with tasks():
        c.decide(c.submit("IT-3"), company.alice, approve=False)
    kept = dict(AccessRequest.objects.values_list("id", "manual_touches"))
    assert sorted(kept.values()) == [0, 1, 3]
    AccessRequest.objects.update(manual_touches=0)

    [path] = Path(__file__).parents[1].glob("governance/migrations/*_metrics1m_manual_touches.py")
    migration = importlib.import_module(f"governance.migrations.{path.stem}")
    migration.count_touches(installed_apps, None)

    assert dict(AccessRequest.objects.values_list("id", "manual_touches")) == kept


def test_the_tally_reads_the_requests_in_two_queries(company, tasks, django_assert_num_queries):
    from datetime import timedelta

    from django.utils import timezone

    from governance.evidence.metrics import Period

    with tasks():
        for n in range(3):
            c.decide(
                c.submit(f"IT-{n}", requester=c.person(f"p{n}@example.com", manager=company.alice).email), company.alice
            )
    now = timezone.now()
    with django_assert_num_queries(3):  # the requests counted, then the names of their applications and roles
        found = automation(tally(Period(now - timedelta(days=1), now + timedelta(seconds=1))))
    assert (found["requests"], found["automated"], found["manual_touches"]) == (3, 0, 3)
