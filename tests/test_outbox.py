"""The outbox: idempotent execution, crash recovery, retries, and reference-counted removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from catalog.models import GroupMembership
from governance import services
from governance.models import AccessRequest, AuditEvent, Grant
from provisioning.connectors import PermanentError, RetryableError
from provisioning.models import LocalMembership, MembershipChange
from provisioning.outbox.services import execute_change, recover_changes, retry_failed_change
from tests import company as c

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
C = MembershipChange.Status
G = Grant.Status
R = AccessRequest.Status


@pytest.fixture
def vault(company, flaky):
    """An app whose one role maps to one group at the flaky provider."""
    app = c.app("vault", owner=company.alice)
    c.role(app, "user", c.group("vault-users", connector="flaky"))
    return app


def request_vault(company, key: str = "IT-1") -> AccessRequest:
    """bob asks for vault, alice approves: one add change is queued."""
    request = c.submit(key, application="vault", role="user", duration=None)
    c.decide(request, company.alice)
    return request


def member(person, group_name: str) -> bool:
    return LocalMembership.objects.filter(person=person, group__name=group_name).exists()


def revoke(grant: Grant, by, reason: str = "no longer needed") -> Grant:
    return services.revoke_grant(grant=grant, actor=services.Actor.of_person(by), reason=reason)


# Idempotent execution ------------------------------------------------------------------------


def test_it_executes_a_change_once_when_run_twice(company, vault, flaky):
    request = request_vault(company)  # its on-commit task never runs here: we run it by hand
    change = MembershipChange.objects.get()

    first = execute_change(change.pk)
    second = execute_change(change.pk)

    assert first.status == C.SUCCEEDED and first.result == MembershipChange.Result.ADDED
    assert second is None
    assert flaky.changes() == [("add", "vault-users", "bob@example.com")]
    assert c.grant_of(request).status == G.ACTIVE
    assert AuditEvent.objects.filter(action="membership.added").count() == 1


def test_it_recovers_a_change_whose_worker_died(company, vault, flaky, tasks, settings):
    lease = settings.GATEHOUSE["CHANGE_LEASE_SECONDS"]
    with time_machine.travel(T0, tick=False) as clock:
        request = request_vault(company)
        change = MembershipChange.objects.get()
        # A worker claimed the change and died before recording anything.
        MembershipChange.objects.filter(pk=change.pk).update(status=C.RUNNING, claimed_at=T0, attempts=1)

        clock.move_to(T0 + timedelta(seconds=lease - 1))
        assert recover_changes() == {"reclaimed": 0, "enqueued": 0}
        assert execute_change(change.pk) is None  # still leased to the dead worker

        clock.move_to(T0 + timedelta(seconds=lease + 1))
        with tasks():
            assert recover_changes() == {"reclaimed": 1, "enqueued": 1}

    change.refresh_from_db()
    assert (change.status, change.attempts) == (C.SUCCEEDED, 2)
    assert c.grant_of(request).status == G.ACTIVE
    assert member(company.bob, "vault-users")


def test_it_removes_a_membership_added_by_a_worker_that_died_before_recording_it(company, vault, flaky, tasks):
    """The provider made the change, then the worker died: the retry finds the person already in
    the group. That membership is still Gatehouse's, so it must go when the grant ends."""
    with time_machine.travel(T0, tick=False) as clock:
        request = request_vault(company)
        change = MembershipChange.objects.get()
        MembershipChange.objects.filter(pk=change.pk).update(status=C.RUNNING, claimed_at=T0, attempts=1)
        LocalMembership.objects.create(person=company.bob, group=change.group)  # done at the provider
        clock.move_to(T0 + timedelta(hours=1))
        with tasks():
            recover_changes()

        change.refresh_from_db()
        assert change.result == MembershipChange.Result.ALREADY_MEMBER
        assert GroupMembership.objects.get(person=company.bob).origin == GroupMembership.Origin.GATEHOUSE
        with tasks():
            revoke(c.grant_of(request), company.alice)

    assert not member(company.bob, "vault-users")


# Retries -------------------------------------------------------------------------------------


def test_it_retries_retryable_errors_with_backoff(company, vault, flaky, tasks, settings):
    backoff = settings.GATEHOUSE["CHANGE_BACKOFF_SECONDS"]
    flaky.fail(2, RetryableError("503 Service Unavailable", status=503))
    with time_machine.travel(T0, tick=False) as clock:
        with tasks():
            request = request_vault(company)
        change = MembershipChange.objects.get()
        assert (change.status, change.attempts, change.last_error) == (C.QUEUED, 1, "503 Service Unavailable")
        assert change.next_attempt_at == T0 + timedelta(seconds=backoff)
        assert c.grant_of(request).status == G.PENDING

        clock.move_to(T0 + timedelta(seconds=backoff - 1))
        with tasks():
            assert recover_changes()["enqueued"] == 0
        clock.move_to(T0 + timedelta(seconds=backoff))
        with tasks():
            recover_changes()
        change.refresh_from_db()
        assert change.attempts == 2
        assert change.next_attempt_at == T0 + timedelta(seconds=backoff + 2 * backoff)  # doubled

        clock.move_to(change.next_attempt_at)
        with tasks():
            recover_changes()

    change.refresh_from_db()
    assert (change.status, change.attempts, change.last_error) == (C.SUCCEEDED, 3, "")
    assert len(flaky.changes("add")) == 3
    assert c.grant_of(request).status == G.ACTIVE


def test_it_waits_at_least_the_providers_retry_after(company, vault, flaky, tasks):
    flaky.fail(1, RetryableError("429 Too Many Requests", retry_after=120, status=429))
    with time_machine.travel(T0, tick=False), tasks():
        request_vault(company)

    assert MembershipChange.objects.get().next_attempt_at == T0 + timedelta(seconds=120)


def test_it_gives_up_after_the_last_attempt(company, vault, flaky, tasks, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "CHANGE_MAX_ATTEMPTS": 3}
    flaky.fail(10, RetryableError("503 Service Unavailable", status=503))
    with time_machine.travel(T0, tick=False) as clock:
        with tasks():
            request = request_vault(company)
        change = MembershipChange.objects.get()
        for _ in range(5):
            change.refresh_from_db()
            clock.move_to(change.next_attempt_at)
            with tasks():
                recover_changes()

    change.refresh_from_db()
    assert (change.status, change.attempts) == (C.FAILED, 3)
    assert change.last_error == "503 Service Unavailable (gave up after 3 attempts)"
    assert len(flaky.changes("add")) == 3
    grant = c.grant_of(request)
    request.refresh_from_db()
    assert grant.status == G.FAILED and grant.ended_at is not None
    assert request.status == R.FAILED
    reason = "Adding bob@example.com to vault-users failed: 503 Service Unavailable (gave up after 3 attempts)"
    assert (grant.end_reason, request.status_reason) == (reason, reason)


def test_it_fails_a_permanent_error_at_once(company, vault, flaky, tasks):
    flaky.fail(1, PermanentError("User not found", status=404))
    with tasks():
        request = request_vault(company)

    change = MembershipChange.objects.get()
    assert (change.status, change.attempts) == (C.FAILED, 1)
    assert change.last_error == "User not found (permanent: not retried)"
    request.refresh_from_db()
    assert request.status == R.FAILED
    reason = "Adding bob@example.com to vault-users failed: User not found (permanent: not retried)"
    assert request.status_reason == reason
    assert c.grant_of(request).status == G.FAILED


def test_it_undoes_the_groups_already_added_when_another_add_fails(company, flaky, tasks):
    app = c.app("vault", owner=company.alice)
    c.role(app, "user", c.group("vault-local"), c.group("vault-users", connector="flaky"))
    flaky.fail(1, PermanentError("Group is read-only", status=403))

    with tasks():
        request = request_vault(company)

    grant = c.grant_of(request)
    assert grant.status == G.FAILED and grant.removed_at is not None
    assert not LocalMembership.objects.filter(person=company.bob).exists()
    assert not GroupMembership.objects.filter(person=company.bob).exists()


# Reference-counted removal -------------------------------------------------------------------


@pytest.mark.parametrize("first", ["reader", "editor"])
def test_it_keeps_a_group_another_grant_still_needs(company, tasks, first):
    """editor maps to wiki-editors and wiki-readers, reader to wiki-readers: they share a group."""
    with tasks():
        editor_request = c.submit("IT-1", role="editor")
        c.decide(editor_request, company.alice)
        reader_request = c.submit("IT-2", role="reader", duration=None)
        c.decide(reader_request, company.alice)
    grants = {"editor": c.grant_of(editor_request), "reader": c.grant_of(reader_request)}
    assert {g.status for g in grants.values()} == {G.ACTIVE}
    ending, other = grants[first], grants["editor" if first == "reader" else "reader"]

    with tasks():
        revoke(ending, company.alice)

    kept = MembershipChange.objects.get(grants=ending, action="remove", group=company.readers)
    assert (kept.status, kept.result) == (C.SKIPPED, MembershipChange.Result.KEPT)
    assert kept.last_error == f"still granted by grant #{other.pk}"
    assert member(company.bob, "wiki-readers")
    assert member(company.bob, "wiki-editors") == (first == "reader")
    ending.refresh_from_db()
    assert ending.status == G.REVOKED and ending.removed_at is not None

    with tasks():
        revoke(other, company.alice)

    assert not LocalMembership.objects.filter(person=company.bob).exists()
    assert not GroupMembership.objects.filter(person=company.bob).exists()
    other.refresh_from_db()
    assert other.removed_at is not None


def test_it_never_removes_a_membership_that_existed_before_the_grant(company, tasks):
    LocalMembership.objects.create(person=company.bob, group=company.readers)
    with tasks():
        request = c.submit(role="reader", duration=None)
        c.decide(request, company.alice)

    add = MembershipChange.objects.get(action="add")
    assert add.result == MembershipChange.Result.ALREADY_MEMBER
    assert GroupMembership.objects.get(person=company.bob).origin == GroupMembership.Origin.EXTERNAL

    with tasks():
        revoke(c.grant_of(request), company.alice)

    kept = MembershipChange.objects.get(action="remove")
    assert (kept.status, kept.result) == (C.SKIPPED, MembershipChange.Result.KEPT)
    assert "existed before" in kept.last_error
    assert member(company.bob, "wiki-readers")


# Ordering and late outcomes --------------------------------------------------------------------


def test_it_removes_access_revoked_while_the_add_was_still_queued(company, vault, flaky, tasks):
    with time_machine.travel(T0, tick=False) as clock:
        request = request_vault(company)  # the add is queued, not yet run
        revoke(c.grant_of(request), company.alice)
        add, remove = MembershipChange.objects.order_by("id")
        assert (add.action, remove.action) == ("add", "remove")

        assert execute_change(remove.pk).status == C.QUEUED  # waits for the earlier add
        assert execute_change(add.pk).status == C.SUCCEEDED
        clock.move_to(T0 + timedelta(seconds=5))
        with tasks():
            recover_changes()

    remove.refresh_from_db()
    assert (remove.status, remove.result, remove.attempts) == (C.SUCCEEDED, MembershipChange.Result.REMOVED, 1)
    assert flaky.changes() == [("add", "vault-users", "bob@example.com"), ("remove", "vault-users", "bob@example.com")]
    assert not member(company.bob, "vault-users")
    grant = c.grant_of(request)
    assert grant.status == G.REVOKED and grant.removed_at is not None


def test_it_takes_back_an_add_that_succeeds_after_its_grant_failed(company, flaky, tasks):
    """IT retries a failed add (admin action) after the grant already failed: the access it
    creates has no live grant behind it, so it is removed again."""
    app = c.app("vault", owner=company.alice)
    c.role(app, "user", c.group("vault-users", connector="flaky"))
    flaky.fail(1, PermanentError("User not found", status=404))
    with tasks():
        request = request_vault(company)
    change = MembershipChange.objects.get()
    assert c.grant_of(request).status == G.FAILED

    with tasks():
        retry_failed_change(change=change)

    change.refresh_from_db()
    assert change.status == C.SUCCEEDED
    assert not member(company.bob, "vault-users")
    assert not GroupMembership.objects.filter(person=company.bob).exists()
    grant = c.grant_of(request)
    assert grant.status == G.FAILED and grant.removed_at is not None
    assert AuditEvent.objects.filter(grant=grant, action="membership.queued", message__contains="added after").exists()
