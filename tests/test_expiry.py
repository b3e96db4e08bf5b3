"""Expiry is exact to the second: scheduled at activation, executed by the task or the sweep."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django_q.models import Schedule

from catalog.models import GroupMembership
from governance import services
from governance import tasks as governance_tasks
from governance.models import AuditEvent, Grant
from provisioning.models import LocalMembership, MembershipChange
from tests import company as c

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
SIX_HOURS = timedelta(hours=6)
G = Grant.Status


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def grant(company, clock, tasks) -> Grant:
    """bob holds wiki editor (two groups) for PT6H from T0."""
    with tasks():
        request = c.submit(duration=SIX_HOURS)
        c.decide(request, company.alice)
    grant = c.grant_of(request)
    assert (grant.status, grant.starts_at, grant.expires_at) == (G.ACTIVE, T0, T0 + SIX_HOURS)
    assert LocalMembership.objects.filter(person=company.bob).count() == 2
    return grant


def test_it_announces_the_removal_and_leaves_it_to_the_timer_without_a_task_per_grant(grant):
    event = AuditEvent.objects.get(grant=grant, action="grant.expiry_scheduled")

    assert event.data["expires_at"] == (T0 + SIX_HOURS).isoformat().replace("+00:00", "Z")
    assert not Schedule.objects.filter(schedule_type=Schedule.ONCE).exists()


def test_it_does_nothing_a_second_before_expiry(grant, clock, tasks):
    clock.move_to(T0 + SIX_HOURS - timedelta(seconds=1))

    with tasks():
        assert services.expire_due_grants() == 0
        assert governance_tasks.expire_grant(grant.pk) == "not due"

    grant.refresh_from_db()
    assert grant.status == G.ACTIVE and grant.ended_at is None
    assert LocalMembership.objects.filter(person=grant.person).count() == 2
    assert not MembershipChange.objects.filter(action="remove").exists()


@pytest.mark.parametrize("late", [timedelta(0), timedelta(minutes=5)])
def test_it_expires_at_or_after_the_end_and_removes_the_membership(grant, clock, tasks, late):
    clock.move_to(T0 + SIX_HOURS + late)

    with tasks():
        assert services.expire_due_grants() == 1

    grant.refresh_from_db()
    assert grant.status == G.EXPIRED and grant.end_reason == "expired"
    assert grant.ended_at == grant.removed_at == T0 + SIX_HOURS + late
    assert not LocalMembership.objects.filter(person=grant.person).exists()
    assert not GroupMembership.objects.filter(person=grant.person).exists()
    assert MembershipChange.objects.filter(grants=grant, action="remove", status="succeeded").count() == 2
    assert AuditEvent.objects.filter(grant=grant, action="grant.expired").count() == 1
    assert AuditEvent.objects.filter(grant=grant, action="grant.removal_confirmed").count() == 1


def test_it_expires_through_the_scheduled_task(grant, clock, tasks):
    clock.move_to(T0 + SIX_HOURS)

    with tasks():
        assert governance_tasks.expire_grant(grant.pk) == "expired"
        assert governance_tasks.expire_grant(grant.pk) == "not due"  # a repeat does nothing
        assert services.expire_due_grants() == 0

    grant.refresh_from_db()
    assert grant.status == G.EXPIRED
    assert not LocalMembership.objects.filter(person=grant.person).exists()


def test_it_leaves_a_revoked_grant_alone_when_its_expiry_comes(company, grant, clock, tasks):
    with tasks():
        services.revoke_grant(grant=grant, actor=services.Actor.of_person(company.alice), reason="left team")
    clock.move_to(T0 + SIX_HOURS)

    with tasks():
        assert governance_tasks.expire_grant(grant.pk) == "not due"

    grant.refresh_from_db()
    assert grant.status == G.REVOKED and grant.end_reason == "left team"
    assert not AuditEvent.objects.filter(grant=grant, action="grant.expired").exists()


def test_it_does_not_schedule_a_grant_without_an_end(company, clock, tasks):
    with tasks():
        request = c.submit(role="reader", duration=None)
        c.decide(request, company.alice)

    grant = c.grant_of(request)
    assert grant.status == G.ACTIVE and grant.expires_at is None
    assert not Schedule.objects.exists()
    clock.move_to(T0 + timedelta(days=3650))
    assert services.expire_due_grants() == 0
