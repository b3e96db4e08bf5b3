"""Leavers: the directory (local) or an HR call ends everything a person holds, with one record."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import GroupMembership, Person
from governance.lifecycle.services import run_lifecycle
from governance.models import (
    AccessRequest,
    AuditEvent,
    Delegation,
    Grant,
    GrantMembershipChange,
    LifecycleEvent,
    Offboarding,
)
from provisioning.models import FulfilmentTask, LocalMembership, MembershipChange
from tests import company as c


def granted(company, tasks, key: str, *, role: str = "editor", beneficiary: str = "bob@example.com"):
    """A grant made the normal way: submitted, approved by alice, provisioned by the local connector."""
    with tasks():
        request = c.submit(key, requester=beneficiary, role=role)
        c.decide(request, company.alice)
    grant = c.grant_of(request)
    assert grant.status == "active"
    return grant


def leave(person: Person, status: str = "deprovisioned") -> None:
    Person.objects.filter(pk=person.pk).update(status=status)


@pytest.fixture
def watched(company):
    """Lifecycle has seen everyone once (so later differences are events)."""
    run_lifecycle()
    return company


def test_it_ends_every_grant_of_a_person_deprovisioned_in_the_local_directory(watched, tasks):
    company = watched
    editor = granted(company, tasks, "IT-1")
    leave(company.bob)
    with tasks():
        report = run_lifecycle()
    assert report.leavers == 1
    editor.refresh_from_db()
    assert editor.status == "revoked" and editor.removed_at is not None
    assert not LocalMembership.objects.filter(person=company.bob).exists()
    assert not GroupMembership.objects.filter(person=company.bob).exists()
    offboarding = Offboarding.objects.get(person=company.bob)
    assert offboarding.trigger == "sync" and offboarding.departure == "deprovisioned"
    assert offboarding.grant_ids == [editor.pk]
    assert [g["id"] for g in offboarding.ended["grants"]] == [editor.pk]
    # Removals are confirmed by the outbox after commit; the next pass completes the record.
    run_lifecycle()
    offboarding.refresh_from_db()
    assert offboarding.status == "completed"
    assert offboarding.last_removal_confirmed_at == Grant.objects.get(pk=editor.pk).removed_at
    actions = set(AuditEvent.objects.filter(subject=company.bob).values_list("action", flat=True))
    assert {"lifecycle.leaver", "offboarding.started", "grant.revoked", "offboarding.completed"} <= actions
    assert LifecycleEvent.objects.get(person=company.bob, kind="leaver").offboarding == offboarding


def test_it_offboards_only_once_per_departure(watched, tasks):
    granted(watched, tasks, "IT-1")
    leave(watched.bob)
    with tasks():
        run_lifecycle()
        run_lifecycle()
    assert Offboarding.objects.filter(person=watched.bob).count() == 1


def test_it_respects_reference_counting_and_pre_existing_memberships(watched, tasks):
    company = watched
    editor = granted(company, tasks, "IT-1")  # wiki-editors and wiki-readers
    # bob was in a group before Gatehouse granted anything: kept, and listed for IT.
    other = c.group("crm-users")
    crm = c.role(c.app("crm", owner=company.alice), "user", other)
    GroupMembership.objects.create(person=company.bob, group=other, origin="external", since=timezone.now())
    LocalMembership.objects.create(person=company.bob, group=other)
    crm_grant = Grant.objects.create(person=company.bob, role=crm, status="active", starts_at=timezone.now())
    change = MembershipChange.objects.create(
        action="add",
        person=company.bob,
        group=other,
        status="succeeded",
        result="already_member",
        next_attempt_at=timezone.now(),
    )
    GrantMembershipChange.objects.create(grant=crm_grant, change=change)
    leave(company.bob)
    with tasks():
        run_lifecycle()
    assert LocalMembership.objects.filter(person=company.bob, group=other).exists()
    assert not LocalMembership.objects.filter(person=company.bob).exclude(group=other).exists()
    offboarding = Offboarding.objects.get(person=company.bob)
    assert [u["group"] for u in offboarding.unexplained] == ["crm-users"]
    assert offboarding.unexplained[0]["change"] is None
    assert set(offboarding.grant_ids) == {editor.pk, crm_grant.pk}
    run_lifecycle()
    offboarding.refresh_from_db()
    assert offboarding.status == "in_progress"  # IT has to look at crm-users


def test_it_removes_unexplained_memberships_when_the_policy_says_so(watched, tasks, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "LEAVER_REMOVE_UNEXPLAINED": True}
    standing = c.group("legacy")
    c.role(c.app("legacy"), "user", standing)
    GroupMembership.objects.create(person=watched.bob, group=standing, origin="external", since=timezone.now())
    LocalMembership.objects.create(person=watched.bob, group=standing)
    leave(watched.bob)
    with tasks():
        run_lifecycle()
    assert not LocalMembership.objects.filter(person=watched.bob).exists()
    run_lifecycle()
    offboarding = Offboarding.objects.get(person=watched.bob)
    assert offboarding.unexplained[0]["change"] is not None
    assert offboarding.status == "completed"


def test_it_cancels_their_requests_reroutes_their_steps_and_ends_their_delegations(watched, tasks):
    company = watched
    # bob asked for something (pending alice); alice is the leaver and decides charlie's request too.
    asked = c.submit("IT-2", requester="bob@example.com", role="reader")
    charlie = company.charlie
    Person.objects.filter(pk=charlie.pk).update(manager=company.alice)
    for_charlie = c.submit("IT-3", requester="charlie@example.com", role="reader")
    now = timezone.now()
    Delegation.objects.create(
        person=company.alice, delegate=company.dana, starts_at=now - timedelta(days=1), ends_at=now + timedelta(days=5)
    )
    Delegation.objects.create(
        person=company.alice, delegate=company.dana, starts_at=now + timedelta(days=9), ends_at=now + timedelta(days=12)
    )
    leave(company.bob)
    leave(company.alice, "suspended")
    with tasks():
        run_lifecycle()
    asked.refresh_from_db()
    assert asked.status == "cancelled"
    step = for_charlie.steps.get()
    approvers = set(step.approvers.values_list("email", flat=True))
    assert "alice@example.com" not in approvers and approvers  # the fallback chain: dana (IT)
    assert approvers == {"dana@example.com"}
    assert "taken off" in step.route_note
    assert not Delegation.objects.filter(person=company.alice, ends_at__gt=timezone.now()).exists()
    assert AuditEvent.objects.filter(action="step.rerouted", request=for_charlie).exists()


def test_it_opens_a_removal_task_for_manual_applications(watched, tasks):
    company = watched
    payroll = c.app("payroll", owner=company.alice, mode="manual")
    c.role(payroll, "clerk")
    with tasks():
        request = c.submit("IT-4", requester="bob@example.com", application="payroll", role="clerk")
        c.decide(request, company.alice)
    task = FulfilmentTask.objects.get(grant_link__grant__request=request, action="grant")
    from provisioning.outbox.services import complete_fulfilment_task

    admin = _admin()
    complete_fulfilment_task(task=task, user=admin)
    leave(company.bob)
    with tasks():
        run_lifecycle()
    offboarding = Offboarding.objects.get(person=company.bob)
    removal = FulfilmentTask.objects.get(grant_link__grant__request=request, action="remove", status="open")
    assert offboarding.ended["manual_tasks"] == [
        {"task": removal.pk, "grant": removal.grant_link.grant_id, "application": "Payroll"}
    ]
    run_lifecycle()
    offboarding.refresh_from_db()
    assert offboarding.status == "in_progress"
    from governance.lifecycle.leavers import confirm_manual_removal

    confirm_manual_removal(offboarding=offboarding, user=admin)
    offboarding.refresh_from_db()
    removal.refresh_from_db()
    assert removal.status == "done" and offboarding.status == "completed"
    assert offboarding.manual_confirmed_by == admin.get_username()


def _admin():
    from django.contrib.auth import get_user_model

    return get_user_model().objects.create_superuser("it-admin", "it@example.com", "pw")


def test_it_stops_and_reports_when_a_run_would_offboard_more_than_the_cap(watched, tasks, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "LEAVER_MAX_PER_RUN": 2}
    granted(watched, tasks, "IT-1")
    for person in (watched.bob, watched.charlie, watched.dana):
        leave(person)
    with tasks():
        report = run_lifecycle()
    assert report.stopped_at_cap and sorted(report.held_leavers) == [
        "bob@example.com",
        "charlie@example.com",
        "dana@example.com",
    ]
    assert not Offboarding.objects.exists()
    assert Grant.objects.get(person=watched.bob).status == "active"
    assert AuditEvent.objects.filter(action="lifecycle.stopped_at_cap").count() == 1
    with tasks():  # the held leavers are found again, and offboarded once the run is allowed
        report = run_lifecycle(allow_over_cap=True)
    assert report.leavers == 3 and Offboarding.objects.count() == 3


def test_it_waits_for_the_suspended_grace_and_spares_who_comes_back(watched, tasks, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SUSPENDED_GRACE": "P14D"}
    editor = granted(watched, tasks, "IT-1")
    leave(watched.bob, "suspended")
    with tasks():
        run_lifecycle()
    offboarding = Offboarding.objects.get(person=watched.bob)
    assert offboarding.status == "scheduled"
    assert Grant.objects.get(pk=editor.pk).status == "active"
    with time_machine.travel(timezone.now() + timedelta(days=15)), tasks():
        run_lifecycle()
    offboarding.refresh_from_db()
    assert offboarding.status in ("in_progress", "completed")
    assert Grant.objects.get(pk=editor.pk).status == "revoked"


def test_a_suspended_person_back_at_work_keeps_their_access(watched, tasks, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SUSPENDED_GRACE": "P14D"}
    editor = granted(watched, tasks, "IT-1")
    leave(watched.bob, "suspended")
    run_lifecycle()
    Person.objects.filter(pk=watched.bob.pk).update(status="active")
    with tasks():
        run_lifecycle()
    with time_machine.travel(timezone.now() + timedelta(days=15)), tasks():
        run_lifecycle()
    assert Offboarding.objects.get(person=watched.bob).status == "cancelled"
    assert Grant.objects.get(pk=editor.pk).status == "active"
    assert LifecycleEvent.objects.filter(person=watched.bob, kind="returned").exists()


def test_a_suspension_that_becomes_a_deprovisioning_ends_access_at_once(watched, tasks, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SUSPENDED_GRACE": "P14D"}
    editor = granted(watched, tasks, "IT-1")
    leave(watched.bob, "suspended")
    run_lifecycle()
    leave(watched.bob, "deprovisioned")
    with tasks():
        run_lifecycle()
    assert Offboarding.objects.get(person=watched.bob).status in ("in_progress", "completed")
    assert Grant.objects.get(pk=editor.pk).status == "revoked"


def test_without_grace_a_suspension_revokes_at_once(watched, tasks):
    editor = granted(watched, tasks, "IT-1")
    leave(watched.bob, "suspended")
    with tasks():
        run_lifecycle()
    assert Grant.objects.get(pk=editor.pk).status == "revoked"


def test_a_first_run_offboards_departed_people_who_still_hold_access(company, tasks):
    editor = granted(company, tasks, "IT-1")
    leave(company.bob)
    with tasks():
        report = run_lifecycle()
    assert report.baseline and report.leavers == 1
    assert Grant.objects.get(pk=editor.pk).status == "revoked"
    assert not LifecycleEvent.objects.filter(kind="joiner").exists()


def _offboard_queries(company, count: int, prefix: str) -> int:
    from governance.audit.services import Actor
    from governance.lifecycle.leavers import offboard
    from tests.test_bulk_expiry import active_grant

    person = c.person(f"{prefix}@example.com", manager=company.alice, department="Engineering")
    for i in range(count):
        group = c.group(f"{prefix}-g{i}")
        role = c.role(company.wiki, f"{prefix}-r{i}", group)
        active_grant(person, role, 100, group)
    with CaptureQueriesContext(connection) as queries:
        offboard(person=person, trigger="api", actor=Actor.system("tests"), reason="left")
    assert Grant.objects.filter(person=person, status="revoked").count() == count
    return len(queries)


def test_an_offboarding_takes_a_fixed_number_of_queries_whatever_the_number_of_grants(company):
    assert _offboard_queries(company, 3, "few") == _offboard_queries(company, 15, "many")


def test_pending_requests_only_for_live_people_remain_untouched(watched, tasks):
    kept = c.submit("IT-9", requester="charlie@example.com", beneficiary="charlie@example.com", role="reader")
    leave(watched.bob)
    with tasks():
        run_lifecycle()
    kept.refresh_from_db()
    assert kept.status == AccessRequest.Status.PENDING_APPROVAL
