"""Directory and catalog sync through the connector interface (a fake provider, and `local`)."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import Application, GroupMembership, IdpGroup, Person, RoleGroup
from provisioning.connectors import PermanentError
from provisioning.models import MembershipChange, SyncRun
from provisioning.sync.services import directories_to_sync, sync_directory
from tests import company as c
from tests.fake_directory import FakeDirectory

LOGIN = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
WRITES = ("INSERT", "UPDATE", "DELETE")


@pytest.fixture
def idp(db) -> FakeDirectory:
    """alice manages bob; charlie is in sales; bob and charlie are in the mapped wiki-editors group."""
    d = FakeDirectory("fakeidp").install()
    d.user("u1", "Alice@Example.com", "Alice Owner", department="Engineering", title="Manager", last_login=LOGIN)
    d.user("u2", "bob@example.com", "Bob Builder", manager_email="ALICE@example.com", department="Engineering")
    d.user("u3", "charlie@example.com", "Charlie Outsider", department="Sales")
    d.group("g1", "wiki-editors", "u2", "u3")
    d.group("g2", "all-staff", "u1", "u2", "u3")
    return d


def map_group(external_id: str, connector: str = "fakeidp") -> IdpGroup:
    group = IdpGroup.objects.get(connector=connector, external_id=external_id)
    wiki = Application.objects.filter(slug="wiki").first() or c.app("wiki")
    c.role(wiki, f"r-{connector}-{external_id}", group)
    return group


def writes(ctx: CaptureQueriesContext) -> list[str]:
    """Data writes, leaving out the run's own SyncRun row."""
    return [
        q["sql"]
        for q in ctx.captured_queries
        if q["sql"].lstrip().upper().startswith(WRITES) and "provisioning_syncrun" not in q["sql"]
    ]


def test_it_creates_people_and_groups_on_first_run(idp):
    run = sync_directory("fakeidp")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.created, run.groups, run.errors) == (3, 2, 0)
    alice = Person.objects.get(email="alice@example.com")
    assert (alice.name, alice.department, alice.title, alice.last_login_at) == (
        "Alice Owner",
        "Engineering",
        "Manager",
        LOGIN,
    )
    assert (alice.directory, alice.external_id) == ("fakeidp", "u1")
    assert Person.objects.get(email="bob@example.com").manager == alice
    assert set(IdpGroup.objects.filter(connector="fakeidp").values_list("name", flat=True)) == {
        "wiki-editors",
        "all-staff",
    }
    assert run.finished_at and run.finished_at >= run.started_at


def test_it_matches_existing_people_by_email_case_insensitively(idp):
    existing = c.person("bob@example.com", "Bob Old")
    run = sync_directory("fakeidp")
    assert run.created == 2 and run.updated == 1
    existing.refresh_from_db()
    assert existing.name == "Bob Builder" and existing.manager.email == "alice@example.com"


def test_a_second_run_with_nothing_changed_writes_nothing(idp):
    idp.app("a1", "Figma", "g2")
    sync_directory("fakeidp")
    map_group("g1")
    first = sync_directory("fakeidp")
    assert first.memberships == 2
    with CaptureQueriesContext(connection) as ctx:
        run = sync_directory("fakeidp")
    assert writes(ctx) == []
    assert (run.created, run.updated, run.deactivated, run.groups, run.memberships, run.applications) == (0,) * 6


def test_an_updated_attribute_updates_only_that(idp):
    sync_directory("fakeidp")
    idp.users["u3"].title = "Account Executive"
    with CaptureQueriesContext(connection) as ctx:
        run = sync_directory("fakeidp")
    updates = writes(ctx)
    assert run.updated == 1 and len(updates) == 1
    assert '"title"' in updates[0] and '"department"' not in updates[0] and '"name"' not in updates[0]
    assert Person.objects.get(email="charlie@example.com").title == "Account Executive"


def test_it_marks_deprovisioned_people_and_people_the_provider_deleted(idp):
    sync_directory("fakeidp")
    idp.users["u2"].status, idp.users["u2"].state = "deprovisioned", "DEPROVISIONED"
    del idp.users["u3"]  # asked by id, the provider has no such user
    idp.members["g1"].discard("u3")
    idp.members["g2"].discard("u3")
    run = sync_directory("fakeidp")
    assert run.deactivated == 2 and run.status == SyncRun.Status.SUCCEEDED
    states = {p.email: (p.status, p.directory_state) for p in Person.objects.all()}
    assert states == {
        "alice@example.com": ("active", ""),
        "bob@example.com": ("deprovisioned", "DEPROVISIONED"),
        "charlie@example.com": ("deprovisioned", "deleted"),
    }
    assert idp.calls["read_users"] == 1


def test_it_leaves_people_of_other_directories_alone(idp):
    outsider = c.person("zoe@example.com", "Zoe")
    sync_directory("fakeidp")
    outsider.refresh_from_db()
    assert outsider.status == Person.Status.ACTIVE


def test_it_refuses_an_empty_directory_that_listed_people_before(idp):
    sync_directory("fakeidp")
    idp.users.clear()
    run = sync_directory("fakeidp")
    assert run.status == SyncRun.Status.FAILED and "returned no users" in run.error
    assert not Person.objects.filter(status=Person.Status.DEPROVISIONED).exists()


def test_it_links_and_changes_managers(idp):
    sync_directory("fakeidp")
    idp.users["u3"].manager_email = "bob@example.com"
    idp.users["u2"].manager_email = None
    sync_directory("fakeidp")
    people = {p.email: p for p in Person.objects.select_related("manager")}
    assert people["charlie@example.com"].manager.email == "bob@example.com"
    assert people["bob@example.com"].manager is None


def test_it_mirrors_members_of_mapped_groups_only(idp):
    sync_directory("fakeidp")
    editors = map_group("g1")
    run = sync_directory("fakeidp")
    assert run.memberships == 2
    rows = set(GroupMembership.objects.values_list("person__email", "group__name", "origin"))
    assert rows == {
        ("bob@example.com", "wiki-editors", "external"),
        ("charlie@example.com", "wiki-editors", "external"),
    }
    idp.members["g1"] = {"u1", "u2"}
    run = sync_directory("fakeidp")
    assert run.memberships == 2
    assert set(editors.memberships.values_list("person__email", flat=True)) == {"alice@example.com", "bob@example.com"}


def test_a_member_gatehouse_added_is_mirrored_as_gatehouse_managed(idp):
    sync_directory("fakeidp")
    editors = map_group("g1")
    alice = Person.objects.get(email="alice@example.com")
    MembershipChange.objects.create(
        action="add", person=alice, group=editors, status="succeeded", result="added", next_attempt_at=LOGIN
    )
    idp.members["g1"].add("u1")
    sync_directory("fakeidp")
    assert editors.memberships.get(person=alice).origin == GroupMembership.Origin.GATEHOUSE


def test_it_proposes_provider_applications_as_drafts_idempotently(idp):
    idp.app("a1", "Figma", "g1", "g2")
    idp.app("a2", "Wiki")
    c.app("wiki")  # the slug is taken: the proposal gets another
    run = sync_directory("fakeidp")
    assert run.applications == 2
    figma = Application.objects.get(external_ref="fakeidp:a1")
    assert figma.status == Application.Status.DRAFT and not figma.is_requestable
    role = figma.roles.get()
    assert not role.requestable
    assert set(role.groups.values_list("external_id", flat=True)) == {"g1", "g2"}
    assert Application.objects.get(external_ref="fakeidp:a2").slug == "wiki-2"
    again = sync_directory("fakeidp")
    assert again.applications == 0
    assert Application.objects.filter(external_ref__startswith="fakeidp:").count() == 2
    assert RoleGroup.objects.filter(role__application=figma).count() == 2


def _changed_run_queries(users: int) -> int:
    """Queries of a run where every user changed and half the mapped group's members moved."""
    d = FakeDirectory(f"size{users}", page_size=50).install()
    for i in range(users):
        d.user(f"u{i}", f"user{i}@{users}.example", manager_email=f"user{i // 10}@{users}.example", title=f"T{i}")
    d.group("mapped", "mapped", *(f"u{i}" for i in range(0, users, 2)))
    d.group("other", "other")
    sync_directory(d.name)
    map_group("mapped", d.name)
    sync_directory(d.name)
    for i, user in enumerate(d.users.values()):
        user.title += "!"
        user.department = "changed"
        user.manager_email = f"user{i // 5}@{users}.example"
    d.members["mapped"] = {f"u{i}" for i in range(0, users, 4)} | {f"u{i}" for i in range(1, users, 4)}
    with CaptureQueriesContext(connection) as ctx:
        run = sync_directory(d.name)
    assert run.updated == users and run.memberships > 0
    return _reads_and_writes(ctx)


def _reads_and_writes(ctx: CaptureQueriesContext) -> tuple[int, int]:
    statements = [q["sql"].lstrip().upper() for q in ctx.captured_queries]
    return sum(s.startswith("SELECT") for s in statements), sum(s.startswith(WRITES) for s in statements)


def assert_no_per_row_queries(small: tuple[int, int], large: tuple[int, int], users: int) -> None:
    """Reads are the same; writes grow only by bulk batches (SQLite caps a statement at 999 parameters,
    so a batch there is ~60-160 rows; on PostgreSQL one batch is 1000 rows and the counts are equal)."""
    assert large[0] == small[0]
    assert large[1] <= small[1] + users // 50


@pytest.mark.django_db
def test_query_count_does_not_grow_with_the_number_of_users():
    c.app("wiki")
    assert_no_per_row_queries(_changed_run_queries(40), _changed_run_queries(800), 800)


@pytest.mark.django_db
def test_first_run_query_count_does_not_grow_with_the_number_of_users():
    counts = []
    for users in (20, 400):
        d = FakeDirectory(f"first{users}").install()
        for i in range(users):
            d.user(f"u{i}", f"p{i}@first{users}.example", manager_email=f"p{i // 7}@first{users}.example")
        d.group("g", "g")
        with CaptureQueriesContext(connection) as ctx:
            sync_directory(d.name)
        counts.append(_reads_and_writes(ctx))
    assert_no_per_row_queries(counts[0], counts[1], 400)


def test_the_local_connector_mirrors_its_own_groups(company):
    from provisioning.models import LocalMembership

    LocalMembership.objects.create(person=company.charlie, group=company.readers)
    run = sync_directory("local")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.created, run.updated, run.deactivated) == (0, 0, 0)  # people are the local directory itself
    assert list(company.readers.memberships.values_list("person__email", "origin")) == [
        ("charlie@example.com", "external")
    ]
    with CaptureQueriesContext(connection) as ctx:
        sync_directory("local")
    assert writes(ctx) == []


def test_a_failing_provider_fails_the_run_with_its_error(idp):
    sync_directory("fakeidp")
    idp.iter_groups = lambda: (_ for _ in ()).throw(PermanentError("groups are gone", status=403))
    run = sync_directory("fakeidp")
    assert run.status == SyncRun.Status.FAILED and "groups are gone" in run.error


@pytest.mark.django_db
def test_an_unknown_connector_is_refused_clearly(db):
    from provisioning.sync.services import SyncRefused

    with pytest.raises(SyncRefused, match="No connector named 'nope'"):
        sync_directory("nope")


def test_the_command_syncs_every_external_directory_and_summarises(idp):
    c.group("local-only")
    IdpGroup.objects.create(connector="fakeidp", external_id="g1", name="wiki-editors")
    assert directories_to_sync() == ["fakeidp"]
    out = StringIO()
    call_command("sync_directory", stdout=out)
    text = out.getvalue()
    assert "Skipping 'local'" in text
    assert "fakeidp: succeeded — created 3, updated 0, deactivated 0" in text
    assert "errors 0" in text


def test_the_scheduled_task_syncs_every_directory(idp):
    from provisioning.tasks import sync_all_directories

    IdpGroup.objects.create(connector="fakeidp", external_id="g2", name="all-staff")
    assert sync_all_directories() == [str(SyncRun.objects.get())]
    assert Person.objects.count() == 3


def test_a_reporting_cycle_still_links_both_managers(db):
    d = FakeDirectory("cycle").install()
    d.user("a", "a@example.com", manager_email="b@example.com")
    d.user("b", "b@example.com", manager_email="a@example.com")
    d.user("c", "c@example.com", manager_email="c@example.com")  # their own manager: ignored
    run = sync_directory("cycle")
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 3
    managers = dict(Person.objects.values_list("email", "manager__email"))
    assert managers == {"a@example.com": "b@example.com", "b@example.com": "a@example.com", "c@example.com": None}


def test_a_member_the_user_listing_left_out_is_matched_by_their_stored_provider_id(idp):
    sync_directory("fakeidp")
    editors_map = map_group("g1")
    del idp.users["u3"]  # e.g. deprovisioned users are not listed, yet still in the group
    run = sync_directory("fakeidp")
    assert run.errors == 0
    assert set(editors_map.memberships.values_list("person__email", flat=True)) == {
        "bob@example.com",
        "charlie@example.com",
    }


def test_a_second_sync_of_the_same_directory_does_not_start_while_one_runs(idp):
    from django.utils import timezone

    SyncRun.objects.create(connector="fakeidp", started_at=timezone.now())
    run = sync_directory("fakeidp")
    assert run.status == SyncRun.Status.FAILED and "Another sync of fakeidp is running" in run.error
    assert not Person.objects.exists()


def test_an_abandoned_run_does_not_block_the_next(idp):
    from datetime import timedelta

    from django.utils import timezone

    stale = SyncRun.objects.create(connector="fakeidp", started_at=timezone.now() - timedelta(hours=4))
    assert sync_directory("fakeidp").status == SyncRun.Status.SUCCEEDED
    stale.refresh_from_db()
    assert stale.status == SyncRun.Status.FAILED and "abandoned" in stale.error


def test_membership_changes_pass_the_provider_id_sync_stored(idp, django_capture_on_commit_callbacks):
    from provisioning.outbox import services as provisioning

    sync_directory("fakeidp")
    group = map_group("g2")
    idp.users["u1"].email = "alice.renamed@example.com"  # the provider knows her by id, not by the old email
    alice = Person.objects.get(email="alice@example.com")
    idp.members["g2"].discard("u1")
    with django_capture_on_commit_callbacks(execute=True):
        change = provisioning.queue_change(action="add", person=alice, group=group)
    change.refresh_from_db()
    assert (change.status, change.result) == ("succeeded", "added")
    assert "u1" in idp.members["g2"]


def test_a_membership_recorded_while_the_members_were_read_is_kept(idp):
    """The outbox adds bob to a group after sync read its members: sync must not delete that row."""
    from django.utils import timezone

    sync_directory("fakeidp")
    group = map_group("g2")
    alice = Person.objects.get(email="alice@example.com")
    idp.members["g2"].discard("u1")
    real = idp.iter_group_members

    def read_then_outbox_adds(group_id):
        yield from real(group_id)
        GroupMembership.objects.create(person=alice, group=group, origin="gatehouse", since=timezone.now())

    idp.iter_group_members = read_then_outbox_adds
    run = sync_directory("fakeidp")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert group.memberships.filter(person=alice, origin="gatehouse").exists()


def test_it_refuses_an_unknown_connector_without_writing_a_run(db):
    from django.core.management import call_command

    with pytest.raises(CommandError, match="No connector named 'nope'"):
        call_command("sync_directory", "--provider", "nope")
    assert not SyncRun.objects.exists()


def test_syncing_local_never_restamps_people_of_another_directory(company):
    company.bob.directory, company.bob.external_id = "okta", "00u-bob"
    company.bob.save()
    sync_directory("local")
    company.bob.refresh_from_db()
    assert (company.bob.directory, company.bob.external_id) == ("okta", "00u-bob")
