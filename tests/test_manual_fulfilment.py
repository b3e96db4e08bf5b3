"""Applications without a connector: IT does the change by hand, through fulfilment tasks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from governance import services
from governance.models import AccessRequest, AuditEvent, Grant
from provisioning.models import FulfilmentTask, MembershipChange
from provisioning.outbox.services import ProvisioningError, complete_fulfilment_task
from tests import company as c

G = Grant.Status
R = AccessRequest.Status
T = FulfilmentTask.Status


@pytest.fixture
def payroll(company):
    app = c.app("payroll", owner=company.alice, mode="manual")
    c.role(app, "clerk")  # no group: nothing to provision automatically
    return app


@pytest.fixture
def it_user(django_user_model):
    return django_user_model.objects.create_user("it-dana")


def approved(company, tasks) -> AccessRequest:
    with tasks():
        request = c.submit(application="payroll", role="clerk", duration=None)
        c.decide(request, company.alice)
    request.refresh_from_db()
    return request


def test_it_opens_a_fulfilment_task_on_approval(company, payroll, tasks):
    request = approved(company, tasks)

    grant = c.grant_of(request)
    assert (request.status, grant.status) == (R.PROVISIONING, G.PENDING)
    [task] = FulfilmentTask.objects.all()
    assert (task.action, task.status, task.grants.get()) == (FulfilmentTask.Action.GRANT, T.OPEN, grant)
    assert "bob@example.com" in task.instructions and "Clerk" in task.instructions
    assert not MembershipChange.objects.exists()


def test_it_activates_the_grant_when_it_completes_the_task(company, payroll, tasks, it_user):
    request = approved(company, tasks)
    task = FulfilmentTask.objects.get()

    with tasks():
        complete_fulfilment_task(task=task, user=it_user, note="done in the payroll UI")

    request.refresh_from_db()
    grant = c.grant_of(request)
    assert (request.status, grant.status) == (R.FULFILLED, G.ACTIVE)
    event = AuditEvent.objects.get(action="fulfilment.done")
    assert event.actor == "admin:it-dana" and "done in the payroll UI" in event.message
    with pytest.raises(ProvisioningError):
        complete_fulfilment_task(task=task, user=it_user)


def test_it_opens_a_removal_task_on_revocation(company, payroll, tasks, it_user):
    request = approved(company, tasks)
    complete_fulfilment_task(task=FulfilmentTask.objects.get(), user=it_user)

    with tasks():
        services.revoke_grant(
            grant=c.grant_of(request), actor=services.Actor.of_person(company.alice), reason="moved team"
        )

    grant = c.grant_of(request)
    assert grant.status == G.REVOKED and grant.removed_at is None
    removal = FulfilmentTask.objects.get(action=FulfilmentTask.Action.REMOVE)
    assert removal.status == T.OPEN
    assert "Remove the role" in removal.instructions

    complete_fulfilment_task(task=removal, user=it_user)

    grant.refresh_from_db()
    assert grant.removed_at is not None


def test_it_cancels_the_open_task_when_revoked_before_it_is_done(company, payroll, tasks):
    request = approved(company, tasks)

    with tasks():
        services.revoke_grant(grant=c.grant_of(request), actor=services.Actor.of_person(company.alice), reason="oops")

    request.refresh_from_db()
    grant = c.grant_of(request)
    assert (grant.status, request.status, request.status_reason) == (G.REVOKED, R.FAILED, "revoked: oops")
    assert grant.removed_at is not None  # nothing was ever done, so nothing to undo
    assert list(FulfilmentTask.objects.values_list("action", "status")) == [(FulfilmentTask.Action.GRANT, T.CANCELLED)]


def test_it_opens_a_removal_task_when_a_manual_grant_expires(company, payroll, tasks, it_user):
    start = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False) as clock:
        with tasks():
            request = c.submit(application="payroll", role="clerk", duration=timedelta(hours=6))
            c.decide(request, company.alice)
        with tasks():
            complete_fulfilment_task(task=FulfilmentTask.objects.get(), user=it_user)
        assert c.grant_of(request).expires_at == start + timedelta(hours=6)

        clock.move_to(start + timedelta(hours=6))
        with tasks():
            assert services.expire_due_grants() == 1

    grant = c.grant_of(request)
    assert grant.status == G.EXPIRED and grant.removed_at is None
    assert FulfilmentTask.objects.get(action=FulfilmentTask.Action.REMOVE).status == T.OPEN


def test_the_grant_admin_page_lists_its_tasks_and_changes(company, payroll, tasks, admin_client):
    request = approved(company, tasks)
    grant = c.grant_of(request)
    page = admin_client.get(f"/admin/governance/grant/{grant.pk}/change/")
    assert page.status_code == 200
    text = page.content.decode()
    assert "manual fulfilment task" in text.lower() and "Grant access" in text
