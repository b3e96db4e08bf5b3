"""Grants and approval steps carry their request's creation time (`requested_at`, copied by the
services that create them), so the metrics select a period's rows without joining the requests; the
migration that added it copied it for the rows already there."""

from __future__ import annotations

import importlib
from pathlib import Path

from django.apps import apps as installed_apps

from governance.models import AccessRequest, ApprovalStep, Grant
from tests import company as c


def request_times(model) -> dict[int, object]:
    return dict(model.objects.values_list("id", "requested_at"))


def made(model) -> dict[int, object]:
    return dict(model.objects.values_list("id", "request__created_at"))


def test_grants_and_steps_carry_their_requests_creation_time(company, tasks):
    c.policy("Two steps", "manager", "app_owner", role=company.reader)
    with tasks():
        approved = c.submit("IT-1")
        c.decide(approved, company.alice)
        two_steps = c.submit("IT-2", role="reader", duration=None)
        c.decide(two_steps, company.alice)
    assert ApprovalStep.objects.filter(request=two_steps).count() == 2
    assert Grant.objects.count() == 1 and ApprovalStep.objects.count() == 3
    for model in (Grant, ApprovalStep):
        assert request_times(model) == made(model) and None not in request_times(model).values()
    assert AccessRequest.objects.get(pk=approved.pk).created_at == c.grant_of(approved).requested_at


def test_the_migration_copies_the_time_for_the_rows_already_there(company, tasks):
    with tasks():
        for n in range(3):
            request = c.submit(f"IT-{n}", requester=c.person(f"p{n}@example.com", manager=company.alice).email)
            c.decide(request, company.alice, approve=n != 1)
    kept = {model: request_times(model) for model in (Grant, ApprovalStep)}
    assert len(kept[Grant]) == 2 and len(kept[ApprovalStep]) == 3
    Grant.objects.update(requested_at=None)
    ApprovalStep.objects.update(requested_at=None)

    [path] = Path(__file__).parents[1].glob("governance/migrations/*_metrics1m_requested_at.py")
    importlib.import_module(f"governance.migrations.{path.stem}").copy_request_times(installed_apps, None)

    assert {model: request_times(model) for model in (Grant, ApprovalStep)} == kept
