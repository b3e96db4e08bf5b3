"""A directory sync the product can trust, through the real okta SDK against the Okta emulator:
paging in any Link shape, a listing that ends early, deleted groups, outages, explicit departures."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from catalog.models import GroupMembership, IdpGroup, Person
from provisioning.models import MembershipChange, SyncProblem, SyncRun
from provisioning.outbox import services as outbox
from provisioning.sync.services import sync_directory
from tests import company as c
from tests.emulators.okta import OktaEmulator

TOKEN = "test-token"


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch):
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")


@pytest.fixture
def okta(settings):
    with OktaEmulator(TOKEN) as emulator:
        # No SDK-internal retries: the sync's own retry budget is what is under test.
        settings.OKTA = {"ORG_URL": emulator.base_url, "API_TOKEN": TOKEN, "RATE_LIMIT_MAX_RETRIES": 0}
        settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_RETRY_BACKOFF_SECONDS": 0.0}
        yield emulator


@pytest.fixture
def org(okta, db):
    """Three people and two groups, both bound to roles after a first sync."""
    alice = okta.add_user("alice@example.com", "Alice", "Owner")
    bob = okta.add_user("bob@example.com", "Bob", "Builder", manager_id=alice)
    carol = okta.add_user("carol@example.com", "Carol", "Chen")
    editors, admins = okta.add_group("wiki-editors"), okta.add_group("wiki-admins")
    okta.add_member(editors, bob)
    okta.add_member(admins, alice)
    first = sync_directory("okta")
    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    wiki = c.app("wiki")
    groups = {g.external_id: g for g in IdpGroup.objects.filter(connector="okta")}
    c.role(wiki, "editor", groups[editors])
    c.role(wiki, "admin", groups[admins])
    assert sync_directory("okta").memberships == 2  # now that roles map them, members are mirrored
    return SimpleNamespace(alice=alice, bob=bob, carol=carol, editors=editors, admins=admins)


def members(external_id: str) -> set[str]:
    return set(GroupMembership.objects.filter(group__external_id=external_id).values_list("person__email", flat=True))


@pytest.mark.django_db
@pytest.mark.parametrize(("order", "combined"), [(("next", "self"), False), (("next", "self"), True)])
def test_a_listing_in_the_other_link_order_is_read_whole(okta, order, combined):
    okta.link_order, okta.link_combined = order, combined
    for n in range(450):
        okta.add_user(f"user{n:04d}@example.com")

    run = sync_directory("okta")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.created, run.users_listed, run.deactivated) == (450, 450, 0)


@pytest.mark.django_db
def test_a_listing_that_ends_early_fails_the_run_and_nobody_leaves(okta):
    okta.page_cap = 50
    for n in range(300):
        okta.add_user(f"user{n:04d}@example.com")
    assert sync_directory("okta").users_listed == 300
    okta.end_listings_after_pages = 2  # a paginator that stops after 100 of 300

    run = sync_directory("okta")

    assert run.status == SyncRun.Status.FAILED
    assert "listed 100 users, 300 last time" in run.error and "--allow-shrink" in run.error
    assert not Person.objects.exclude(status=Person.Status.ACTIVE).exists()


@pytest.mark.django_db
def test_with_allow_shrink_people_left_out_are_read_one_by_one_not_taken_as_leavers(okta):
    okta.page_cap = 50
    ids = [okta.add_user(f"user{n:04d}@example.com") for n in range(120)]
    sync_directory("okta")
    okta.users[ids[-1]]["status"] = "SUSPENDED"
    okta.end_listings_after_pages = 2

    run = sync_directory("okta", allow_shrink=True)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.deactivated, run.suspended) == (0, 1)
    assert set(Person.objects.exclude(status="active").values_list("email", "directory_state")) == {
        ("user0119@example.com", "SUSPENDED")
    }
    problem = run.problems.get()
    assert problem.kind == SyncProblem.Kind.LISTING_INCOMPLETE and problem.subject == "20 people not listed"
    assert len(okta.calls_to("GET", r"^/api/v1/users/00u")) == 20


@pytest.mark.django_db
def test_departures_come_from_okta_states_and_a_deleted_user(okta, org):
    okta.users[org.alice]["status"] = "SUSPENDED"
    okta.users[org.bob]["status"] = "DEPROVISIONED"
    del okta.users[org.carol]  # Okta deletes only deprovisioned users: it answers 404 by id

    run = sync_directory("okta")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.suspended, run.deactivated) == (1, 2)
    people = {p.email: p for p in Person.objects.all()}
    seen = {email: (p.status, p.directory_state) for email, p in people.items()}
    assert seen == {
        "alice@example.com": ("suspended", "SUSPENDED"),
        "bob@example.com": ("deprovisioned", "DEPROVISIONED"),
        "carol@example.com": ("deprovisioned", "deleted"),
    }
    assert all(p.status_changed_at >= run.started_at for p in people.values())
    okta.users[org.alice]["status"] = "ACTIVE"
    again = sync_directory("okta")
    alice = Person.objects.get(email="alice@example.com")
    assert (alice.status, alice.directory_state, again.suspended) == ("active", "ACTIVE", 0)
    assert alice.status_changed_at >= again.started_at
    assert len(okta.calls_to("GET", rf"^/api/v1/users/{org.carol}$")) == 1  # not asked again once deleted


@pytest.mark.django_db
def test_a_deleted_bound_group_is_reported_and_the_rest_carries_on(okta, org):
    from governance.tasks import sync_directories_and_detect_drift

    del okta.groups[org.editors], okta.members[org.editors]
    okta.add_member(org.admins, org.carol)

    result = sync_directories_and_detect_drift()

    run = SyncRun.objects.latest("started_at")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert result["okta"]["unexplained"] == 3  # drift detection ran: bob, alice and carol hold no grant
    problem = run.problems.get()
    assert (problem.kind, problem.subject) == (SyncProblem.Kind.GROUP_MISSING, "wiki-editors")
    assert "HTTP 404" in problem.message
    assert members(org.admins) == {"alice@example.com", "carol@example.com"}
    assert members(org.editors) == {"bob@example.com"}  # kept as last seen
    editors = IdpGroup.objects.get(external_id=org.editors)
    assert editors.writable is False and editors.not_writable_reason.startswith("Deleted at the provider")


@pytest.mark.django_db
def test_a_burst_of_503s_for_one_group_is_retried_within_the_run(okta, org):
    okta.add_member(org.editors, org.carol)
    okta.fail_path(rf"^/api/v1/groups/{org.editors}/users$", 3, 503)
    okta.calls.clear()

    run = sync_directory("okta")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert not run.problems.exists()
    assert members(org.editors) == {"bob@example.com", "carol@example.com"}
    assert len(okta.calls_to("GET", rf"^/api/v1/groups/{org.editors}/users$")) == 4


@pytest.mark.django_db
def test_a_group_that_keeps_failing_is_reported_not_the_whole_sync(okta, org):
    okta.add_member(org.admins, org.carol)
    okta.fail_path(rf"^/api/v1/groups/{org.editors}/users$", 100, 503)

    run = sync_directory("okta")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    problem = run.problems.get()
    assert problem.kind == SyncProblem.Kind.GROUP_UNAVAILABLE and "HTTP 503" in problem.message
    assert members(org.admins) == {"alice@example.com", "carol@example.com"}
    assert IdpGroup.objects.get(external_id=org.editors).writable is True


@pytest.mark.django_db
def test_a_429_waits_for_the_named_reset_within_the_budget_and_gives_up_beyond_it(okta, org, settings):
    okta.add_member(org.editors, org.carol)
    okta.fail_path(rf"^/api/v1/groups/{org.editors}/users$", 1, 429)

    assert not sync_directory("okta").problems.exists()
    assert members(org.editors) == {"bob@example.com", "carol@example.com"}

    okta.throttle_reset_seconds = 600  # X-Rate-Limit-Reset ten minutes away: more than the run may wait
    okta.fail_path(rf"^/api/v1/groups/{org.editors}/users$", 1, 429)
    run = sync_directory("okta")
    assert run.status == SyncRun.Status.SUCCEEDED
    assert run.problems.get().kind == SyncProblem.Kind.GROUP_UNAVAILABLE


@pytest.mark.django_db
def test_app_groups_are_stored_read_only_and_a_change_to_one_fails_with_the_reason(okta, org):
    ad = okta.add_group("AD Domain Admins", type="APP_GROUP")
    sync_directory("okta")
    group = IdpGroup.objects.get(external_id=ad)
    assert group.writable is False and "APP_GROUP" in group.not_writable_reason

    change = outbox.queue_change(action="add", person=Person.objects.get(email="bob@example.com"), group=group)
    outbox.execute_change(change.pk)
    change.refresh_from_db()

    assert change.status == MembershipChange.Status.FAILED
    assert "cannot be changed by Gatehouse: Okta group type APP_GROUP" in change.last_error
    assert okta.calls_to("PUT", r"/users/") == [] and okta.calls_to("GET", r"/users/.*/groups$") == []


@pytest.mark.django_db
def test_managers_are_resolved_by_id_then_email_then_a_unique_display_name(okta):
    alice = okta.add_user("alice@example.com", "Alice", "Owner")
    okta.add_user("bob@example.com", "Bob", "Builder", manager_id=alice, manager="Someone Else")
    okta.add_user("carol@example.com", "Carol", "Chen", manager="alice@example.com")
    okta.add_user("dan@example.com", "Dan", "Dunn", manager="Alice  owner")
    okta.add_user("sam1@example.com", "Sam", "Same")
    okta.add_user("sam2@example.com", "Sam", "Same")
    okta.add_user("erin@example.com", "Erin", "Eve", manager="Sam Same")  # two Sams: no guess

    sync_directory("okta")

    managers = dict(Person.objects.values_list("email", "manager__email"))
    assert managers["bob@example.com"] == "alice@example.com"
    assert managers["carol@example.com"] == "alice@example.com"
    assert managers["dan@example.com"] == "alice@example.com"
    assert managers["erin@example.com"] is None


@pytest.mark.django_db
def test_a_manager_known_from_an_earlier_sync_is_found_by_id(okta, org):
    okta.users[org.alice]["status"] = "DEPROVISIONED"
    sync_directory("okta")
    del okta.users[org.alice]  # deleted: no longer listed, yet bob's profile still names her id

    sync_directory("okta")

    assert Person.objects.get(email="bob@example.com").manager.email == "alice@example.com"
