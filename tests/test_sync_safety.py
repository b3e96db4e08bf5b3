"""Sync safety through the connector interface: unconfirmed absences, member listings that shrink,
the shrink settings, the command's --allow-shrink, the run's problems in the admin, and bindings
to groups the provider will not change."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import GroupMembership, IdpGroup, Person, RoleGroup
from provisioning.connectors import DirectoryUser
from provisioning.models import SyncProblem, SyncRun
from provisioning.sync.services import sync_directory
from tests import company as c
from tests.fake_directory import FakeDirectory


class SilentDirectory(FakeDirectory):
    """A provider that cannot be asked about users by id (the connector default)."""

    def read_users(self, external_ids: list[str]) -> dict[str, DirectoryUser | None]:
        return {}


def mapped(directory: FakeDirectory, external_id: str) -> IdpGroup:
    group = IdpGroup.objects.get(connector=directory.name, external_id=external_id)
    c.role(c.app(f"app-{external_id}"), "r", group)
    return group


@pytest.mark.django_db
def test_people_left_out_whom_the_provider_does_not_confirm_are_left_alone_and_reported():
    d = SilentDirectory("silent").install()
    d.user("u1", "a@example.com")
    d.user("u2", "b@example.com")
    sync_directory("silent")
    del d.users["u2"]

    run = sync_directory("silent")

    assert run.status == SyncRun.Status.SUCCEEDED
    assert Person.objects.get(email="b@example.com").status == Person.Status.ACTIVE
    problem = run.problems.get()
    assert problem.kind == SyncProblem.Kind.PEOPLE_UNCONFIRMED and "b@example.com" in problem.message


@pytest.mark.django_db
def test_a_member_listing_that_shrinks_sharply_keeps_the_known_members(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_SHRINK_MIN_SIZE": 10, "SYNC_MAX_SHRINK": 0.5}
    d = FakeDirectory("shrinky").install()
    for n in range(20):
        d.user(f"u{n}", f"p{n}@example.com")
    d.group("big", "big", *(f"u{n}" for n in range(20)))
    d.group("small", "small", "u1")
    sync_directory("shrinky")
    big, small = mapped(d, "big"), mapped(d, "small")
    sync_directory("shrinky")
    d.members["big"] = {"u1", "u2"}
    d.members["small"] = {"u2"}

    run = sync_directory("shrinky")

    assert run.status == SyncRun.Status.SUCCEEDED
    assert big.memberships.count() == 20
    assert list(small.memberships.values_list("person__email", flat=True)) == ["p2@example.com"]
    problem = run.problems.get()
    assert (problem.kind, problem.group) == (SyncProblem.Kind.MEMBERS_SHRANK, big)
    assert sync_directory("shrinky", allow_shrink=True).memberships == 18
    assert big.memberships.count() == 2


@pytest.mark.django_db
def test_the_user_listing_shrink_check_follows_its_settings(settings):
    d = FakeDirectory("sized").install()
    for n in range(10):
        d.user(f"u{n}", f"p{n}@example.com")
    sync_directory("sized")
    for n in range(7):
        del d.users[f"u{n}"]

    assert sync_directory("sized").status == SyncRun.Status.SUCCEEDED  # 10 < the minimum size of 50
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_SHRINK_MIN_SIZE": 3}
    for n in range(7):
        d.user(f"u{n}", f"p{n}@example.com")
    sync_directory("sized")
    for n in range(3):
        del d.users[f"u{n}"]
    assert sync_directory("sized").status == SyncRun.Status.FAILED  # 30 % > 20 %
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_MAX_SHRINK": 0.5}
    assert sync_directory("sized").status == SyncRun.Status.SUCCEEDED
    assert Person.objects.filter(status=Person.Status.DEPROVISIONED).count() == 3


@pytest.mark.django_db
def test_the_command_accepts_a_real_drop_once_with_allow_shrink(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_SHRINK_MIN_SIZE": 2}
    d = FakeDirectory("dropping").install()
    for n in range(4):
        d.user(f"u{n}", f"p{n}@example.com")
    IdpGroup.objects.create(connector="dropping", external_id="g", name="g")
    call_command("sync_directory", "--provider", "dropping", stdout=StringIO())
    del d.users["u0"], d.users["u1"]

    with pytest.raises(CommandError, match="Sync failed for dropping"):
        call_command("sync_directory", "--provider", "dropping", stdout=StringIO())
    out = StringIO()
    call_command("sync_directory", "--provider", "dropping", "--allow-shrink", stdout=out)

    assert "deactivated 2" in out.getvalue()


@pytest.mark.django_db
def test_the_command_lists_the_problems_of_a_run():
    d = FakeDirectory("gappy").install()
    d.user("u1", "a@example.com")
    d.group("g1", "doomed", "u1")
    sync_directory("gappy")
    mapped(d, "g1")
    del d.members["g1"]
    out = StringIO()

    call_command("sync_directory", "--provider", "gappy", stdout=out)

    assert "1 problem(s), the rest of the sync went on:" in out.getvalue()
    assert "Group deleted at the provider: doomed: no group g1" in out.getvalue()


@pytest.mark.django_db
def test_the_sync_run_admin_shows_its_problems(admin_client):
    d = FakeDirectory("shown").install()
    d.user("u1", "a@example.com")
    d.group("g1", "doomed", "u1")
    sync_directory("shown")
    mapped(d, "g1")
    del d.members["g1"]
    run = sync_directory("shown")

    listing = admin_client.get("/admin/provisioning/syncrun/").content.decode()
    page = admin_client.get(f"/admin/provisioning/syncrun/{run.pk}/change/").content.decode()

    assert "Problems" in listing
    assert "Group deleted at the provider" in page and "no group g1" in page
    with CaptureQueriesContext(connection) as ctx:
        admin_client.get("/admin/provisioning/syncrun/")
    for _ in range(5):
        sync_directory("shown")
    with CaptureQueriesContext(connection) as more:
        admin_client.get("/admin/provisioning/syncrun/")
    assert len(more) == len(ctx)


@pytest.mark.django_db
def test_the_admin_refuses_to_bind_a_role_to_a_read_only_group_and_says_why(admin_client):
    role = c.role(c.app("wiki"), "editors")
    group = IdpGroup.objects.create(
        connector="okta", external_id="00gad", name="AD Admins", writable=False, not_writable_reason="Imported."
    )
    data = {
        "application": role.application_id,
        "slug": role.slug,
        "name": role.name,
        "allowed_durations": "[]",
        "group_mappings-TOTAL_FORMS": "1",
        "group_mappings-INITIAL_FORMS": "0",
        "group_mappings-0-group": group.pk,
    }

    response = admin_client.post(f"/admin/catalog/role/{role.pk}/change/", data)

    assert response.status_code == 200
    assert "AD Admins cannot be changed by Gatehouse: Imported." in response.content.decode()
    assert not RoleGroup.objects.filter(role=role).exists()


@pytest.mark.django_db
def test_an_existing_binding_stays_editable_after_its_group_became_read_only():
    group = c.group("was-writable")
    role = c.role(c.app("wiki"), "editors", group)
    IdpGroup.objects.filter(pk=group.pk).update(writable=False, not_writable_reason="Now dynamic.")
    mapping = RoleGroup.objects.get(role=role)

    mapping.full_clean()  # no error: sync reports it on every run instead


@pytest.mark.django_db
def test_a_status_changed_by_hand_is_stamped(company):
    bob = Person.objects.get(pk=company.bob.pk)
    assert bob.status_changed_at is None
    bob.status = Person.Status.SUSPENDED
    bob.save(update_fields=["status"])
    bob.refresh_from_db()
    stamped = bob.status_changed_at
    assert stamped is not None
    bob.name = "Bob B."
    bob.save()
    bob.refresh_from_db()
    assert bob.status_changed_at == stamped
    assert not GroupMembership.objects.exists()


@pytest.mark.django_db
def test_a_renamed_user_is_not_taken_for_a_left_out_one():
    d = FakeDirectory("renames").install()
    d.user("u1", "old@example.com")
    sync_directory("renames")
    d.users["u1"].email = "new@example.com"

    run = sync_directory("renames")

    assert not run.problems.exists()
    assert Person.objects.get(email="old@example.com").status == Person.Status.ACTIVE
