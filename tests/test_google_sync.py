"""Google Workspace end to end: sync, the outbox, expiry and drift on Google groups, through the
registry and settings exactly as in production (the emulator is the only stand-in, at the wire)."""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import GroupMembership, IdpGroup, Person
from governance import services as governance
from governance.drift.services import detect_drift
from governance.models import DriftFinding, Grant
from provisioning.models import MembershipChange, SyncRun
from provisioning.outbox import services
from provisioning.sync.services import sync_directory
from tests import company as c
from tests.connectors import run_until_settled
from tests.emulators.google import GoogleDirectoryEmulator
from tests.google_workspace import configure
from tests.test_sync import WRITES, writes

EDITORS = "wiki-editors@example.com"
T0 = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def google(settings, tmp_path):
    with GoogleDirectoryEmulator() as emulator:
        configure(settings, emulator, tmp_path)
        yield emulator


@pytest.fixture
def workspace(google):
    """alice manages bob; bob is in wiki-editors; charlie is suspended; dora archived; all-staff is unmapped."""
    ids = SimpleNamespace(
        alice=google.add_user(
            "alice@example.com",
            "Alice",
            "Owner",
            department="Engineering",
            title="Manager",
            last_login="2026-11-01T09:30:00.000Z",
        ),
        bob=google.add_user("bob@example.com", "Bob", "Builder", manager="alice@example.com", department="Engineering"),
        charlie=google.add_user("charlie@example.com", "Charlie", "Outsider", suspended=True),
        dora=google.add_user("dora@example.com", "Dora", "Gone", archived=True),
    )
    ids.editors = google.add_group(EDITORS, "Wiki editors")
    ids.staff = google.add_group("all-staff@example.com", "All staff")
    google.add_member(ids.editors, ids.bob)
    for user in (ids.alice, ids.bob, ids.charlie):
        google.add_member(ids.staff, user)
    return ids


def map_editors(durations: tuple[str, ...] = ("PT6H",)) -> IdpGroup:
    group, _ = IdpGroup.objects.get_or_create(
        connector="google", external_id=EDITORS, defaults={"name": "Wiki editors"}
    )
    alice = Person.objects.filter(email="alice@example.com").first()
    wiki = c.app("wiki", owner=alice)
    c.role(wiki, "editor", group, durations=list(durations))
    return group


# -- sync ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_the_first_sync_mirrors_people_groups_and_mapped_members(workspace):
    run = sync_directory("google")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.created, run.groups, run.errors) == (4, 2, 0)
    people = {p.email: p for p in Person.objects.select_related("manager")}
    alice, bob = people["alice@example.com"], people["bob@example.com"]
    assert (alice.name, alice.department, alice.title) == ("Alice Owner", "Engineering", "Manager")
    assert alice.last_login_at == datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    assert (bob.manager, bob.last_login_at, bob.directory, bob.external_id) == (alice, None, "google", workspace.bob)
    assert people["charlie@example.com"].status == Person.Status.SUSPENDED
    assert people["dora@example.com"].status == Person.Status.DEPROVISIONED
    assert set(IdpGroup.objects.filter(connector="google").values_list("external_id", "name")) == {
        (EDITORS, "Wiki editors"),
        ("all-staff@example.com", "All staff"),
    }

    map_editors()
    run = sync_directory("google")
    assert run.memberships == 1
    assert list(GroupMembership.objects.values_list("person__email", "group__external_id", "origin")) == [
        ("bob@example.com", EDITORS, "external")
    ]


@pytest.mark.django_db
def test_the_sync_command_takes_google_by_name(workspace):
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("sync_directory", "--provider", "google", stdout=out)

    assert "google: succeeded — created 4, updated 0, deactivated 0, suspended 0, groups 2" in out.getvalue()


@pytest.mark.django_db
def test_a_second_unchanged_sync_writes_nothing(workspace):
    sync_directory("google")
    map_editors()
    sync_directory("google")

    with CaptureQueriesContext(connection) as ctx:
        run = sync_directory("google")

    assert writes(ctx) == []
    assert (run.created, run.updated, run.deactivated, run.groups, run.memberships) == (0, 0, 0, 0, 0)


@pytest.mark.django_db
def test_suspension_archiving_and_deletion_reach_the_catalog(google, workspace):
    sync_directory("google")
    google.users[workspace.alice]["suspended"] = True
    google.users[workspace.bob]["archived"] = True
    del google.users[workspace.charlie]  # deleted in the Admin console: no longer listed

    run = sync_directory("google")

    assert (run.deactivated, run.suspended) == (2, 1)  # archived and deleted; suspended
    assert dict(Person.objects.values_list("email", "status")) == {
        "alice@example.com": "suspended",
        "bob@example.com": "deprovisioned",
        "charlie@example.com": "deprovisioned",
        "dora@example.com": "deprovisioned",
    }


@pytest.mark.django_db
def test_a_nested_group_is_counted_and_logged_not_flattened(google, workspace, caplog):
    sync_directory("google")
    map_editors()
    google.add_member(workspace.editors, workspace.staff)

    with caplog.at_level(logging.WARNING):
        run = sync_directory("google")

    assert run.status == SyncRun.Status.SUCCEEDED and run.errors == 1
    assert list(GroupMembership.objects.values_list("person__email", flat=True)) == ["bob@example.com"]
    assert "has a GROUP member all-staff@example.com" in caplog.text


@pytest.mark.django_db
def test_a_failed_listing_fails_the_run_with_googles_reason(google, workspace, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_RETRY_MAX_WAIT_SECONDS": 0}
    google.fail(50, 503)  # more than the connector's and the run's retries

    run = sync_directory("google")

    assert run.status == SyncRun.Status.FAILED and "HTTP 503 backendError" in run.error
    assert not Person.objects.exists()


def _sync_queries(google: GoogleDirectoryEmulator, users: int) -> tuple[int, int]:
    google.users.clear()
    google.page_cap = 50
    for n in range(users):
        google.add_user(f"u{n}@example.com", manager=f"u{n // 10}@example.com", title=f"T{n}")
    with CaptureQueriesContext(connection) as ctx:
        run = sync_directory("google")
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == users
    statements = [q["sql"].lstrip().upper() for q in ctx.captured_queries]
    Person.objects.all().delete()
    return sum(s.startswith("SELECT") for s in statements), sum(s.startswith(WRITES) for s in statements)


@pytest.mark.django_db
def test_sync_query_count_does_not_grow_with_the_number_of_users(google):
    small, large = _sync_queries(google, 20), _sync_queries(google, 400)

    assert large[0] == small[0]
    assert large[1] <= small[1] + 400 // 50  # bulk batches only (SQLite caps statement parameters)


# -- the outbox ----------------------------------------------------------------------------
def queue(email: str, action: str = "add", group_key: str = EDITORS) -> MembershipChange:
    person = Person.objects.get_or_create(email=email, defaults={"name": email})[0]
    group = IdpGroup.objects.get_or_create(connector="google", external_id=group_key, defaults={"name": group_key})[0]
    return services.queue_change(action=action, person=person, group=group)


@pytest.mark.django_db
def test_outbox_changes_are_idempotent_and_record_who_added_them(google, workspace):
    added, already, absent = (
        services.execute_change(queue(email, action).pk)
        for email, action in (
            ("alice@example.com", "add"),
            ("bob@example.com", "add"),
            ("charlie@example.com", "remove"),
        )
    )

    assert [added.result, already.result, absent.result] == ["added", "already_member", "not_a_member"]
    assert google.member_ids(workspace.editors) == [workspace.bob, workspace.alice]
    origins = dict(GroupMembership.objects.values_list("person__email", "origin"))
    assert origins == {"alice@example.com": "gatehouse", "bob@example.com": "external"}


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("email", "group_key", "reason"),
    [
        ("zed@example.com", EDITORS, "No Google Workspace user has the email or alias zed@example.com."),
        ("bob@example.com", "nope@example.com", "HTTP 404 notFound: Resource Not Found: groupKey"),
    ],
)
def test_outbox_fails_unknown_users_and_groups_with_the_reason(google, workspace, email, group_key, reason):
    change = services.execute_change(queue(email, group_key=group_key).pk)

    assert change.status == MembershipChange.Status.FAILED and change.attempts == 1
    assert reason in change.last_error and change.last_error.endswith("(permanent: not retried)")


@pytest.mark.django_db
def test_outbox_waits_for_googles_retry_after_and_loses_nothing(google, workspace):
    google.throttle_status, google.throttle_reason, google.retry_after = 429, "rateLimitExceeded", "40"
    with time_machine.travel(T0, tick=False) as traveller:
        change = queue("alice@example.com")
        google.throttle(2)  # the user look-up and the first insert
        services.execute_change(change.pk)
        change.refresh_from_db()
        assert change.status == MembershipChange.Status.QUEUED
        assert change.next_attempt_at >= T0 + timedelta(seconds=40)
        assert "HTTP 429 rateLimitExceeded" in change.last_error
        assert services.execute_change(change.pk) is None  # not due yet

        change = run_until_settled(change, traveller)

    assert (change.status, change.result) == ("succeeded", "added")
    assert google.member_ids(workspace.editors) == [workspace.bob, workspace.alice]


@pytest.mark.django_db
def test_outbox_survives_rate_limit_403s_and_5xx(google, workspace):
    with time_machine.travel(T0, tick=False) as traveller:
        change = queue("bob@example.com", action="remove")
        google.throttle(1)  # 403 userRateLimitExceeded
        services.execute_change(change.pk)
        google.fail(2, 503)
        change = run_until_settled(change, traveller)

    # The rate-limit 403 was handed back, not counted: the two 503s and the success are.
    assert (change.status, change.result, change.attempts) == ("succeeded", "removed", 3)
    assert google.member_ids(workspace.editors) == []


# -- expiry and drift on a Google group ----------------------------------------------------
def grant_bob(google, workspace, tasks, duration: timedelta | None) -> Grant:
    """After a sync, alice approves bob's request for wiki editor on the (emptied) Google group."""
    sync_directory("google")
    map_editors(("PT6H",) if duration else ())
    google.members[workspace.editors].clear()
    sync_directory("google")
    c.policy("Default", "manager")
    with tasks():
        request = c.submit(duration=duration)
        c.decide(request, Person.objects.get(email="alice@example.com"))
    return c.grant_of(request)


@pytest.fixture
def granted(google, workspace, tasks):
    """bob holds wiki editor on the Google group for six hours from T0."""
    with time_machine.travel(T0, tick=False) as traveller:
        grant = grant_bob(google, workspace, tasks, timedelta(hours=6))
        yield SimpleNamespace(grant=grant, traveller=traveller)


@pytest.mark.django_db
def test_an_approved_grant_adds_and_its_expiry_removes_the_google_membership(google, workspace, granted, tasks):
    assert granted.grant.status == Grant.Status.ACTIVE
    assert google.member_ids(workspace.editors) == [workspace.bob]
    insert = google.calls_to("POST", r"/members$")[-1]
    assert insert.json() == {"email": "bob@example.com", "role": "MEMBER"}

    granted.traveller.move_to(T0 + timedelta(hours=6))
    with tasks():
        assert governance.expire_due_grants() == 1

    granted.grant.refresh_from_db()
    assert granted.grant.status == Grant.Status.EXPIRED
    assert google.member_ids(workspace.editors) == []
    assert google.calls_to("DELETE", r"/members/")[-1].path.endswith(f"/members/{workspace.bob}")


@pytest.mark.django_db
def test_drift_on_a_google_group_is_found_and_repaired(google, workspace, granted, django_capture_on_commit_callbacks):
    del google.members[workspace.editors][workspace.bob]  # removed by hand in the Admin console
    google.add_member(workspace.editors, workspace.alice)  # added by hand
    granted.traveller.shift(timedelta(minutes=5))  # the next sync reads after the outbox wrote

    with django_capture_on_commit_callbacks(execute=True):
        assert sync_directory("google").status == SyncRun.Status.SUCCEEDED
        report = detect_drift(connector="google")

    assert (report.unexplained, report.missing, report.repaired) == (1, 1, 1)
    kinds = dict(DriftFinding.objects.values_list("person__email", "kind"))
    assert kinds == {"alice@example.com": "unexplained_member", "bob@example.com": "missing_membership"}
    assert google.member_ids(workspace.editors) == [workspace.alice, workspace.bob]  # repaired; alice left alone


@pytest.mark.django_db
def test_auto_reclaim_removes_unused_access_by_the_last_login_google_reports(google, workspace, tasks):
    from reviews.models import ReclaimPolicy
    from reviews.reclaim.services import run_reclaim

    google.users[workspace.bob]["lastLoginTime"] = "2026-02-01T09:00:00.000Z"  # 120 days before T0
    with time_machine.travel(T0, tick=False) as traveller:
        grant = grant_bob(google, workspace, tasks, duration=None)
        assert Person.objects.get(email="bob@example.com").last_login_at == datetime(2026, 2, 1, 9, tzinfo=UTC)
        ReclaimPolicy.objects.create(
            application=grant.role.application, threshold_days=90, grace_days=14, mode="enforce"
        )
        with tasks():
            assert run_reclaim().apps[0].warned == 1
        traveller.move_to(T0 + timedelta(days=14))
        with tasks():
            assert run_reclaim().apps[0].removed == 1

    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED
    assert google.member_ids(workspace.editors) == []
