"""Entra resyncs through Microsoft Graph delta queries, with the real msgraph-sdk against the Graph
emulator: a full pass starts tracking (the delta links of `/users/delta` and `/groups/delta`,
taken with `$deltatoken=latest`), an unchanged resync follows the two stored links and writes
nothing, changes at the provider are picked up, and an expired delta link falls back to a full
pass."""

from __future__ import annotations

from datetime import timedelta
from types import SimpleNamespace

import pytest
from django.utils import timezone

from catalog.models import GroupMembership, IdpGroup, Person
from provisioning.connectors import register
from provisioning.models import SyncCursor, SyncRun
from provisioning.sync.services import sync_directory
from tests import company as c
from tests.emulators.graph import GraphEmulator
from tests.emulators.graph_delta import DELTA_PAGE
from tests.test_entra_directory import make_connector
from tests.test_sync_incremental import writes_during

pytestmark = [
    pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning"),
]


@pytest.fixture
def graph(settings):
    from provisioning import connectors

    settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_RETRY_BACKOFF_SECONDS": 0.0, "SYNC_FULL_EVERY_HOURS": 24}
    original = connectors._FACTORIES["entra"]
    with GraphEmulator() as emulator:
        register("entra", lambda: make_connector(emulator))
        yield emulator
    register("entra", original)


@pytest.fixture
def tenant(graph, db):
    """Three people, three groups (two mapped to roles), after the first sync."""
    alice = graph.add_user("alice@example.com", "Alice Owner")
    bob = graph.add_user("bob@example.com", "Bob Builder", manager=alice, jobTitle="Builder")
    carol = graph.add_user("carol@example.com", "Carol Chen")
    editors = graph.add_group("wiki-editors", bob)
    admins = graph.add_group("wiki-admins", alice)
    other = graph.add_group("other", carol)
    wiki = c.app("wiki")
    for group, slug in ((editors, "editor"), (admins, "admin")):
        c.role(wiki, slug, IdpGroup.objects.create(connector="entra", external_id=group.id, name=slug))
    first = sync_directory("entra")
    assert (first.status, first.kind, first.memberships) == (SyncRun.Status.SUCCEEDED, SyncRun.Kind.FULL, 2)
    graph.calls.clear()
    return SimpleNamespace(alice=alice, bob=bob, carol=carol, editors=editors, admins=admins, other=other)


def requests_made(graph: GraphEmulator) -> list[str]:
    return [call.path + ("?" + next(iter(call.query)) if call.query else "") for call in graph.calls]


def members(group) -> set[str]:
    return set(GroupMembership.objects.filter(group__external_id=group.id).values_list("person__email", flat=True))


@pytest.mark.django_db
def test_it_starts_tracking_on_the_first_full_sync_and_stores_both_delta_links(graph):
    graph.add_group("empty")
    graph.add_user("alice@example.com", "Alice Owner")

    run = sync_directory("entra")

    assert (run.status, run.kind) == (SyncRun.Status.SUCCEEDED, SyncRun.Kind.FULL)
    deltas = [call for call in graph.calls if call.path.endswith("/delta()")]
    assert sorted(call.path for call in deltas) == ["/v1.0/groups/delta()", "/v1.0/users/delta()"]
    selected = {call.path: call.query["$select"][0].split(",") for call in deltas}
    assert "members" in selected["/v1.0/groups/delta()"] and "manager" in selected["/v1.0/users/delta()"]
    assert any(call.path == "/v1.0/users" for call in graph.calls)  # the listing with last sign-in
    links = SyncCursor.objects.get(connector="entra").change_cursor
    assert set(links) == {"users", "groups"}
    assert all("/delta?$deltatoken=" in link for link in links.values())


@pytest.mark.django_db
def test_an_unchanged_resync_follows_the_two_delta_links_and_writes_only_its_run(graph, tenant):
    written = writes_during(lambda: setattr(tenant, "run", sync_directory("entra")))

    assert (tenant.run.status, tenant.run.kind) == (SyncRun.Status.SUCCEEDED, SyncRun.Kind.INCREMENTAL)
    assert sorted(requests_made(graph)) == ["/v1.0/groups/delta?$deltatoken", "/v1.0/users/delta?$deltatoken"]
    assert all("provisioning_syncrun" in sql for sql in written), written
    assert (tenant.run.created, tenant.run.updated, tenant.run.memberships) == (0, 0, 0)


@pytest.mark.django_db
def test_a_member_added_and_one_removed_at_the_provider_are_picked_up_by_the_delta_resync(graph, tenant):
    dave = graph.add_user("dave@example.com", "Dave New", manager=tenant.alice)
    graph.groups[tenant.editors.id].members = [dave.id]  # bob out, dave in

    run = sync_directory("entra")

    assert (run.status, run.kind, run.created, run.memberships) == (SyncRun.Status.SUCCEEDED, "incremental", 1, 2)
    assert members(tenant.editors) == {"dave@example.com"}
    assert members(tenant.admins) == {"alice@example.com"}
    assert Person.objects.get(email="dave@example.com").manager.email == "alice@example.com"
    assert f"/v1.0/groups/{tenant.editors.id}/members/graph.user?$select" in requests_made(graph)
    assert not any(tenant.admins.id in path for path in requests_made(graph))  # unchanged: not read


@pytest.mark.django_db
def test_a_changed_user_keeps_a_manager_delta_did_not_mention_and_a_deleted_one_departs(graph, tenant):
    tenant.bob.jobTitle = "Staff Builder"
    del graph.users[tenant.carol.id]

    run = sync_directory("entra")

    assert (run.kind, run.updated, run.deactivated) == (SyncRun.Kind.INCREMENTAL, 2, 1)
    bob = Person.objects.get(email="bob@example.com")
    assert (bob.title, bob.manager.email) == ("Staff Builder", "alice@example.com")
    carol = Person.objects.get(email="carol@example.com")
    assert (carol.status, carol.directory_state) == (Person.Status.DEPROVISIONED, "deleted")


@pytest.mark.django_db
def test_an_expired_delta_link_falls_back_to_a_full_pass_with_fresh_links(graph, tenant):
    before = SyncCursor.objects.get(connector="entra").change_cursor
    graph.expire_delta_tokens()
    tenant.bob.department = "Robotics"

    run = sync_directory("entra")

    assert (run.status, run.kind, run.error) == (SyncRun.Status.SUCCEEDED, SyncRun.Kind.FULL, "")
    refused = [call for call in graph.calls if "$deltatoken" in call.query]
    assert len(refused) >= 1  # answered 410 syncStateNotFound
    assert Person.objects.get(email="bob@example.com").department == "Robotics"
    after = SyncCursor.objects.get(connector="entra").change_cursor
    assert set(after) == {"users", "groups"} and after != before
    assert sync_directory("entra").kind == SyncRun.Kind.INCREMENTAL  # and the links work again


@pytest.mark.django_db
def test_a_full_pass_still_runs_when_the_last_one_is_older_than_the_setting(graph, tenant):
    SyncRun.objects.filter(connector="entra").update(started_at=timezone.now() - timedelta(hours=25))

    assert sync_directory("entra").kind == SyncRun.Kind.FULL


def test_the_emulator_pages_a_large_group_over_several_entries_and_lists_removals(graph):
    users = [graph.add_user(f"u{n}@example.com") for n in range(450)]
    big = graph.add_group("big", *users)
    connector = make_connector(graph)
    try:
        items, link = connector._run(lambda: connector._delta_round("groups", None), "initial round")
        entries = [item for item in items if item["id"] == big.id]
        listed = {ref["id"] for item in entries for ref in item["members@delta"]}
        assert len(entries) >= 3 and listed == {u.id for u in users}
        pages = [call for call in graph.calls if call.path.startswith("/v1.0/groups/delta")]
        assert len(pages) >= 3 and "$skiptoken" in pages[-1].query
        graph.groups[big.id].members.remove(users[0].id)
        changed, _ = connector._run(lambda: connector._delta_round("groups", link), "delta round")
        refs = [ref for item in changed for ref in item["members@delta"]]
        assert [(ref["id"], ref.get("@removed")) for ref in refs] == [(users[0].id, {"reason": "deleted"})]
    finally:
        connector.close()
    assert DELTA_PAGE == 200
