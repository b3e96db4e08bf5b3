"""Incremental directory syncs and concurrent member reads, through the real okta SDK against the
Okta emulator: between full passes a resync asks Okta only for what changed
(`filter=lastUpdated gt "…"`, `lastMembershipUpdated gt "…"`), reads only the groups that changed
or were not mirrored yet, and still writes nothing when nothing changed."""

from __future__ import annotations

import re
from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from catalog.models import GroupMembership, IdpGroup, Person
from provisioning.connectors.okta.connector import OktaConnector
from provisioning.models import SyncCursor, SyncRun
from provisioning.sync.services import sync_directory
from tests import company as c
from tests.emulators.okta import OktaEmulator

TOKEN = "test-token"
OKTA_TIME = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch):
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")


@pytest.fixture
def okta(settings):
    with OktaEmulator(TOKEN) as emulator:
        settings.OKTA = {"ORG_URL": emulator.base_url, "API_TOKEN": TOKEN, "RATE_LIMIT_MAX_RETRIES": 0}
        settings.GATEHOUSE = {
            **settings.GATEHOUSE,
            "SYNC_RETRY_BACKOFF_SECONDS": 0.0,
            "SYNC_FULL_EVERY_HOURS": 24,
        }
        yield emulator


@pytest.fixture
def org(okta, db):
    """Three people, three groups (two bound to roles), after a full pass that mirrored them."""
    alice = okta.add_user("alice@example.com", "Alice", "Owner")
    bob = okta.add_user("bob@example.com", "Bob", "Builder", manager_id=alice)
    carol = okta.add_user("carol@example.com", "Carol", "Chen")
    editors, admins, other = okta.add_group("wiki-editors"), okta.add_group("wiki-admins"), okta.add_group("other")
    okta.add_member(editors, bob)
    okta.add_member(admins, alice)
    okta.add_member(other, carol)
    okta.settle()  # set up long before the first sync
    wiki = c.app("wiki")
    for ext, slug in ((editors, "editor"), (admins, "admin")):
        c.role(wiki, slug, IdpGroup.objects.create(connector="okta", external_id=ext, name=slug))
    first = sync_directory("okta")
    assert (first.status, first.kind, first.memberships) == (SyncRun.Status.SUCCEEDED, SyncRun.Kind.FULL, 2)
    okta.calls.clear()
    return SimpleNamespace(alice=alice, bob=bob, carol=carol, editors=editors, admins=admins, other=other)


def paths(okta: OktaEmulator) -> list[str]:
    return [call.path for call in okta.calls]


def members(external_id: str) -> set[str]:
    return set(GroupMembership.objects.filter(group__external_id=external_id).values_list("person__email", flat=True))


def writes_during(action) -> list[str]:
    statements: list[str] = []

    def count(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(count):
        action()
    return [s for s in statements if s.lstrip()[:6].upper() in ("INSERT", "UPDATE", "DELETE")]


@pytest.mark.django_db
def test_it_resyncs_an_unchanged_directory_with_two_filtered_listings_and_writes_only_its_run(okta, org):
    written = writes_during(lambda: setattr(org, "run", sync_directory("okta")))

    assert (org.run.status, org.run.kind) == (SyncRun.Status.SUCCEEDED, SyncRun.Kind.INCREMENTAL)
    assert paths(okta) == ["/api/v1/users", "/api/v1/groups"]  # no member listing, no applications
    users_filter, groups_filter = (call.query["filter"][0] for call in okta.calls)
    assert re.fullmatch(f'lastUpdated gt "{OKTA_TIME}"', users_filter)
    assert re.fullmatch(f'lastUpdated gt "{OKTA_TIME}" or lastMembershipUpdated gt "{OKTA_TIME}"', groups_filter)
    assert all("provisioning_syncrun" in sql for sql in written), written
    assert org.run.users_listed is None  # the shrink check keeps comparing with the last full listing


@pytest.mark.django_db
def test_it_applies_what_changed_and_reads_only_the_changed_group(okta, org):
    okta.update_user(org.bob, title="Staff Builder")
    okta.update_user(org.carol, status="SUSPENDED")
    dave = okta.add_user("dave@example.com", "Dave", "New", manager_id=org.alice)
    okta.add_member(org.editors, dave)
    okta.remove_member(org.editors, org.bob)

    run = sync_directory("okta")

    assert (run.status, run.kind) == (SyncRun.Status.SUCCEEDED, SyncRun.Kind.INCREMENTAL)
    assert (run.created, run.updated, run.suspended) == (1, 2, 1)
    assert Person.objects.get(email="bob@example.com").title == "Staff Builder"
    assert Person.objects.get(email="carol@example.com").status == Person.Status.SUSPENDED
    assert Person.objects.get(email="dave@example.com").manager.email == "alice@example.com"
    assert members(org.editors) == {"dave@example.com"}
    assert members(org.admins) == {"alice@example.com"}
    assert f"/api/v1/groups/{org.editors}/users" in paths(okta)
    assert f"/api/v1/groups/{org.admins}/users" not in paths(okta)


@pytest.mark.django_db
def test_a_deprovisioned_user_is_seen_by_the_incremental_listing(okta, org):
    okta.update_user(org.bob, status="DEPROVISIONED")

    run = sync_directory("okta")

    assert (run.kind, run.deactivated) == (SyncRun.Kind.INCREMENTAL, 1)
    bob = Person.objects.get(email="bob@example.com")
    assert (bob.status, bob.directory_state) == (Person.Status.DEPROVISIONED, "DEPROVISIONED")


@pytest.mark.django_db
def test_a_newly_mapped_group_is_read_whole_although_okta_did_not_change_it(okta, org):
    c.role(c.app("crm"), "user", IdpGroup.objects.get(external_id=org.other))

    run = sync_directory("okta")

    assert run.kind == SyncRun.Kind.INCREMENTAL
    assert members(org.other) == {"carol@example.com"}
    assert paths(okta).count(f"/api/v1/groups/{org.other}/users") == 1
    assert sorted(SyncCursor.objects.get(connector="okta").member_groups) == sorted(
        [org.editors, org.admins, org.other]
    )


@pytest.mark.django_db
def test_a_group_that_failed_is_read_again_by_the_next_incremental_run(okta, org):
    okta.add_member(org.admins, org.carol)
    okta.fail_path(rf"/groups/{org.admins}/users", 1, status=403)
    failed = sync_directory("okta")
    assert failed.problems.filter(group__external_id=org.admins).exists()
    assert members(org.admins) == {"alice@example.com"}

    run = sync_directory("okta")

    assert run.kind == SyncRun.Kind.INCREMENTAL
    assert members(org.admins) == {"alice@example.com", "carol@example.com"}


@pytest.mark.django_db
def test_a_full_pass_runs_when_the_last_one_is_older_than_the_setting_and_sees_deleted_users(okta, org, settings):
    del okta.users[org.carol]  # deleted at Okta without an incremental run seeing it
    okta.members[org.other].clear()
    assert sync_directory("okta").kind == SyncRun.Kind.INCREMENTAL
    assert Person.objects.get(email="carol@example.com").status == Person.Status.ACTIVE
    SyncRun.objects.filter(kind=SyncRun.Kind.FULL).update(started_at=timezone.now() - timedelta(hours=25))

    run = sync_directory("okta")

    assert (run.kind, run.deactivated) == (SyncRun.Kind.FULL, 1)
    carol = Person.objects.get(email="carol@example.com")
    assert (carol.status, carol.directory_state) == (Person.Status.DEPROVISIONED, "deleted")


@pytest.mark.django_db
def test_full_and_allow_shrink_force_a_full_pass_and_zero_hours_means_always(okta, org, settings):
    call_command("sync_directory", "--provider", "okta", "--full", verbosity=0)
    assert SyncRun.objects.first().kind == SyncRun.Kind.FULL
    assert sync_directory("okta", allow_shrink=True).kind == SyncRun.Kind.FULL
    assert sync_directory("okta").kind == SyncRun.Kind.INCREMENTAL
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_FULL_EVERY_HOURS": 0}
    assert sync_directory("okta").kind == SyncRun.Kind.FULL


@pytest.mark.django_db
def test_member_listings_overlap_within_the_concurrency_setting(okta, db, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_CONCURRENCY": 3}
    users = [okta.add_user(f"user{i}@example.com") for i in range(4)]
    groups = [okta.add_group(f"group-{g}") for g in range(9)]
    for g, group in enumerate(groups):
        okta.add_member(group, users[g % 4])
    okta.latency = 0.05
    connector = OktaConnector(org_url=okta.base_url, api_token=TOKEN, max_retries=0)
    try:
        found = connector.read_group_members([*groups, "00gmissing"], concurrency=3)
    finally:
        connector.close()

    assert {group: found[group] for group in groups} == {group: [users[g % 4]] for g, group in enumerate(groups)}
    assert found["00gmissing"].status == 404
    assert 1 < okta.max_in_flight <= 3
