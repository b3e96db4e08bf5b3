"""A full directory sync at scale, through the real SDKs against the emulators: Okta listings read
as JSON through the SDK's request executor, Graph delta tracking started from now
(`$deltatoken=latest`), groups, applications and the mapped groups' members read while users are
listed, application assignments read several at once, and new people written in a fixed number
of queries."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import GroupMembership, IdpGroup, Person
from provisioning.connectors.okta.connector import OktaConnector
from provisioning.models import SyncCursor, SyncRun
from provisioning.sync.services import sync_directory
from tests import company as c
from tests import test_sync_entra_delta
from tests.emulators.okta import OktaEmulator
from tests.fake_directory import FakeDirectory
from tests.test_entra_directory import make_connector

TOKEN = "test-token"
graph = test_sync_entra_delta.graph  # the Graph emulator fixture, registered as the "entra" connector
pytestmark = [
    pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning"),
]


@pytest.fixture
def okta(settings, monkeypatch):
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    with OktaEmulator(TOKEN) as emulator:
        settings.OKTA = {"ORG_URL": emulator.base_url, "API_TOKEN": TOKEN, "RATE_LIMIT_MAX_RETRIES": 0}
        settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_RETRY_BACKOFF_SECONDS": 0.0, "SYNC_CONCURRENCY": 4}
        yield emulator


def map_groups(connector: str, *external_ids: str) -> None:
    app = c.app("wiki")
    for n, external_id in enumerate(external_ids):
        c.role(app, f"r{n}", IdpGroup.objects.create(connector=connector, external_id=external_id, name=f"g{n}"))


def members(external_id: str) -> set[str]:
    return set(GroupMembership.objects.filter(group__external_id=external_id).values_list("person__email", flat=True))


def first_call(emulator, pattern: str) -> int:
    return next(n for n, call in enumerate(emulator.calls) if pattern in call.path)


def last_call(emulator, path: str) -> int:
    return max(n for n, call in enumerate(emulator.calls) if call.path == path)


# Okta ------------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_it_reads_groups_apps_and_mapped_members_while_the_okta_users_are_listed(okta):
    okta.latency = 0.02
    okta.add_app("Wiki", [])
    users = [okta.add_user(f"user{n}@example.com", "User", str(n)) for n in range(450)]  # three pages
    groups = [okta.add_group(f"team-{n}") for n in range(3)]
    for n, group in enumerate(groups):
        for user in users[n::50]:
            okta.add_member(group, user)
    map_groups("okta", *groups)

    run = sync_directory("okta")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (
        first_call(
            okta,
            "/users",
        )
        == 0
    )
    member_reads = [n for n, call in enumerate(okta.calls) if call.path.endswith("/users") and "/groups/" in call.path]
    users_listed = last_call(okta, "/api/v1/users")
    assert len(member_reads) == 3 and min(member_reads) < users_listed
    assert first_call(okta, "/api/v1/groups") < users_listed  # the groups and the apps too
    assert first_call(okta, "/api/v1/apps") < users_listed
    for n, group in enumerate(groups):
        assert members(group) == {f"user{k}@example.com" for k in range(n, 450, 50)}


@pytest.mark.django_db
def test_okta_application_assignments_are_read_several_at_once(okta):
    okta.latency = 0.05
    groups = [okta.add_group(f"app-group-{n}") for n in range(5)]
    for n, group in enumerate(groups):
        okta.add_app(f"App {n}", [group])
    connector = OktaConnector(org_url=okta.base_url, api_token=TOKEN)
    okta.calls.clear()
    try:
        apps = list(connector.iter_applications(concurrency=5))
    finally:
        connector.close()

    assert [(a.name, a.group_ids) for a in apps] == [(f"App {n}", [groups[n]]) for n in range(5)]
    assert okta.max_in_flight > 1


@pytest.mark.django_db
def test_okta_users_come_from_the_json_with_every_field_the_sync_reads(okta):
    from datetime import UTC, datetime

    boss = okta.add_user("Boss@Example.com", "Bea", "Boss", last_login=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC))
    okta.add_user("ann@example.com", "Ann", "Ash", manager_id=boss, department="Ops", title="Lead", status="SUSPENDED")
    okta.add_user("lee@example.com", "Lee", "Lu", manager="Bea Boss")
    okta.add_user("gone@example.com", "Gone", "User", status="DEPROVISIONED")  # only the filtered listing has them

    run = sync_directory("okta")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    people = {p.email: p for p in Person.objects.select_related("manager")}
    assert people["boss@example.com"].last_login_at == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    ann = people["ann@example.com"]
    assert (ann.name, ann.manager.email, ann.department, ann.title) == ("Ann Ash", "boss@example.com", "Ops", "Lead")
    assert (ann.status, ann.directory_state, ann.last_login_at) == ("suspended", "SUSPENDED", None)
    assert people["lee@example.com"].manager.email == "boss@example.com"  # the one user with that display name
    assert (people["gone@example.com"].status, people["gone@example.com"].external_id[:3]) == ("deprovisioned", "00u")
    again = sync_directory("okta", full=True)
    assert (again.created, again.updated) == (0, 0)  # a second full pass reads the same values


# Entra -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_full_entra_pass_starts_delta_tracking_from_now_without_reading_every_object(graph):
    from tests.emulators.graph_delta import DELTA_PAGE

    people = [graph.add_user(f"user{n}@example.com", f"User {n}") for n in range(DELTA_PAGE * 2 + 10)]
    graph.add_group("everyone", *people)

    run = sync_directory("entra")

    assert (run.status, run.created) == (SyncRun.Status.SUCCEEDED, len(people)), run.error
    deltas = [call for call in graph.calls if "/delta" in call.path]
    assert len(deltas) == 2  # one answer each, with no objects, instead of every object in pages
    assert all(call.query["$deltatoken"] == ["latest"] for call in deltas)
    assert set(SyncCursor.objects.get(connector="entra").change_cursor) == {"users", "groups"}

    people[7].jobTitle = "Promoted"  # changed after the full pass: the next resync must see it
    resync = sync_directory("entra")
    assert (resync.status, resync.kind, resync.updated) == (SyncRun.Status.SUCCEEDED, SyncRun.Kind.INCREMENTAL, 1)
    assert Person.objects.get(email="user7@example.com").title == "Promoted"


@pytest.mark.django_db
def test_it_reads_groups_apps_and_mapped_members_while_the_entra_users_are_listed(graph, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_CONCURRENCY": 4}
    graph.latency = 0.02
    people = [graph.add_user(f"user{n}@example.com", f"User {n}") for n in range(1100)]  # three pages of 500
    groups = [graph.add_group(f"team-{n}", *people[n::100]) for n in range(3)]
    graph.add_service_principal("Wiki", groups[0])
    map_groups("entra", *(g.id for g in groups))

    run = sync_directory("entra")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    users_listed = last_call(graph, "/v1.0/users")
    assert first_call(graph, "/members/") < users_listed
    assert first_call(graph, "/v1.0/groups") < users_listed and first_call(graph, "/servicePrincipals") < users_listed
    for n, group in enumerate(groups):
        assert members(group.id) == {f"user{k}@example.com" for k in range(n, 1100, 100)}


@pytest.mark.django_db
def test_entra_application_assignments_are_read_several_at_once(graph):
    graph.latency = 0.05
    groups = [graph.add_group(f"app-group-{n}") for n in range(5)]
    for n, group in enumerate(groups):
        graph.add_service_principal(f"App {n}", group)
    connector = make_connector(graph)
    try:
        apps = list(connector.iter_applications(concurrency=5))
    finally:
        connector.close()

    assert sorted((a.name, tuple(a.group_ids)) for a in apps) == [(f"App {n}", (groups[n].id,)) for n in range(5)]
    assert graph.max_in_flight > 1


# Writing people ---------------------------------------------------------------------------------


def _first_run_queries(name: str, users: int) -> tuple[int, int]:
    """Queries of a first sync of a reporting chain `users` deep (each reports to the previous)."""
    d = FakeDirectory(name, page_size=10_000).install()
    for i in range(users):
        d.user(f"u{i}", f"p{i}@{name}.example", manager_email=f"p{i - 1}@{name}.example" if i else None)
    d.group("g", "g")
    with CaptureQueriesContext(connection) as ctx:
        run = sync_directory(name)
    assert (run.status, run.created) == (SyncRun.Status.SUCCEEDED, users), run.error
    chain = Person.objects.filter(email=f"p{users - 1}@{name}.example").values_list("manager__email", flat=True)
    assert list(chain) == [f"p{users - 2}@{name}.example"]
    statements = [q["sql"].lstrip().upper() for q in ctx.captured_queries]
    return (
        sum(s.startswith("SELECT") for s in statements),
        sum(s.startswith(("INSERT", "UPDATE", "DELETE")) for s in statements),
    )


@pytest.mark.django_db
def test_new_people_are_written_in_the_same_queries_whatever_the_depth_of_the_org_chart():
    assert _first_run_queries("shallow", 5) == _first_run_queries("deep", 300)
    assert Person.objects.filter(manager__isnull=True).count() == 2  # the two chains' heads


@pytest.mark.django_db
def test_a_membership_written_after_the_member_listing_started_is_kept(okta):
    """The outbox adds carol (at Okta, and records it) while the users are listed, after the
    prefetched member listing answered: that listing cannot show her, so her row must stay."""
    okta.latency = 0.05
    users = [okta.add_user(f"user{n}@example.com", "User", str(n)) for n in range(450)]  # three pages
    team = okta.add_group("team")
    okta.add_member(team, users[0])
    map_groups("okta", team)
    carol = users[1]

    def progress(stage: str, done: int, total: int | None) -> None:
        if stage == "users" and done == total and not GroupMembership.objects.exists():
            okta.add_member(team, carol)
            person = Person.objects.create(email="user1@example.com", name="User 1")
            group = IdpGroup.objects.get(external_id=team)
            origin = GroupMembership.Origin.GATEHOUSE
            GroupMembership.objects.create(person=person, group=group, origin=origin, since=timezone.now())

    run = sync_directory("okta", progress)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert first_call(okta, f"/api/v1/groups/{team}/users") < last_call(okta, "/api/v1/users")
    assert members(team) == {"user0@example.com", "user1@example.com"}
    assert GroupMembership.objects.get(person__email="user1@example.com").origin == GroupMembership.Origin.GATEHOUSE
