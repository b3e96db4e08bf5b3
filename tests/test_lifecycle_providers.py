"""Leavers per provider through the wire emulators: suspend or deprovision there, run the scheduled
sync, and every grant ends with its memberships removed at the provider."""

from __future__ import annotations

import uuid

import pytest

from catalog.models import IdpGroup, Person
from governance.models import Grant, Offboarding
from governance.tasks import sync_directories_and_detect_drift
from provisioning import connectors
from provisioning.connectors.entra.connector import EntraConnector
from provisioning.sync.services import sync_directory
from tests import company as c
from tests.emulators.graph import GraphEmulator, StaticTokenCredential
from tests.emulators.okta import OktaEmulator

pytestmark = [
    pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning"),
]
TOKEN = "test-token"


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch):
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")


@pytest.fixture
def okta(settings):
    with OktaEmulator(TOKEN) as emulator:
        settings.OKTA = {"ORG_URL": emulator.base_url, "API_TOKEN": TOKEN, "RATE_LIMIT_MAX_RETRIES": 0}
        yield emulator


@pytest.fixture
def graph():
    with GraphEmulator() as emulator:
        original = connectors._FACTORIES["entra"]
        connectors.register(
            "entra",
            lambda: EntraConnector(
                credential=StaticTokenCredential(), base_url=f"{emulator.base_url}/v1.0", tenant_id=str(uuid.uuid4())
            ),
        )
        yield emulator
        connectors.register("entra", original)


def _wiki_on(connector: str, external_id: str | None, tasks) -> None:
    """The first sync brings people and groups; then the wiki's editor role maps to the group."""
    sync_directory(connector)  # scheduled syncs cover the directories groups use: this one, from now on
    alice = Person.objects.get(email="alice@example.com")
    wiki = c.app("wiki", owner=alice)
    groups = IdpGroup.objects.filter(connector=connector)
    group = groups.get(external_id=external_id) if external_id else groups.get()
    c.role(wiki, "editor", group, durations=["P7D"])
    c.policy("Default", "app_owner")


def _granted(tasks):
    with tasks():
        request = c.submit("IT-1", requester="bob@example.com", duration=None)
        c.decide(request, Person.objects.get(email="alice@example.com"))
    grant = c.grant_of(request)
    assert grant.status == "active", grant.end_reason
    return grant


@pytest.mark.parametrize("okta_status", ["DEPROVISIONED", "SUSPENDED"])
def test_an_okta_departure_ends_access_and_removes_the_okta_membership(db, okta, tasks, okta_status):
    alice = okta.add_user("alice@example.com", "Alice", "Owner", department="Engineering")
    bob = okta.add_user("bob@example.com", "Bob", "Builder", manager_id=alice, department="Engineering")
    editors = okta.add_group("wiki-editors")
    _wiki_on("okta", editors, tasks)
    grant = _granted(tasks)
    assert okta.member_ids(editors) == [bob]

    okta.users[bob]["status"] = okta_status
    with tasks():
        result = sync_directories_and_detect_drift()

    assert "1 leavers" in result["lifecycle"]
    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED and grant.removed_at is not None
    assert okta.member_ids(editors) == []
    with tasks():
        sync_directories_and_detect_drift()
    offboarding = Offboarding.objects.get(person__email="bob@example.com")
    assert offboarding.departure == okta_status.lower()
    assert offboarding.status == Offboarding.Status.COMPLETED


def test_an_entra_account_disabled_ends_access_and_removes_the_entra_membership(db, graph, tasks):
    alice = graph.add_user("alice@example.com", "Alice Owner", department="Engineering")
    bob = graph.add_user("bob@example.com", "Bob Builder", manager=alice, department="Engineering")
    editors = graph.add_group("wiki-editors")
    _wiki_on("entra", editors.id, tasks)
    grant = _granted(tasks)
    assert graph.member_ids(editors) == [bob.id]

    bob.accountEnabled = False
    with tasks():
        sync_directories_and_detect_drift()

    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED
    assert graph.member_ids(editors) == []


@pytest.fixture
def google():
    from google.auth.credentials import AnonymousCredentials

    from provisioning.connectors.google.connector import GoogleConnector
    from tests.emulators.google import GoogleDirectoryEmulator

    with GoogleDirectoryEmulator() as emulator:
        original = connectors._FACTORIES["google"]
        connectors.register(
            "google",
            lambda: GoogleConnector(
                credentials=AnonymousCredentials(),
                api_url=f"{emulator.base_url}/",
                max_retries=0,
                max_requests_per_minute=0,
            ),
        )
        yield emulator
        connectors.register("google", original)


@pytest.mark.parametrize("state", ["suspended", "archived"])
def test_a_google_suspension_or_archive_ends_access_and_removes_the_membership(db, google, tasks, state):
    google.add_user("alice@example.com", "Alice", "Owner", department="Engineering")
    bob = google.add_user("bob@example.com", "Bob", "Builder", manager="alice@example.com", department="Engineering")
    editors = google.add_group("wiki-editors@example.com")
    _wiki_on("google", None, tasks)
    grant = _granted(tasks)
    assert google.member_ids(editors) == [bob]

    google.users[bob][state] = True
    with tasks():
        sync_directories_and_detect_drift()

    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED
    assert google.member_ids(editors) == []


def test_a_failed_sync_offboards_nobody_of_that_directory(db, okta, tasks):
    alice = okta.add_user("alice@example.com", "Alice", "Owner")
    bob = okta.add_user("bob@example.com", "Bob", "Builder", manager_id=alice)
    editors = okta.add_group("wiki-editors")
    _wiki_on("okta", editors, tasks)
    grant = _granted(tasks)
    Person.objects.filter(pk=grant.person_id).update(status="deprovisioned")  # as a half-applied run might leave
    okta.fail(500, 500)
    with tasks():
        result = sync_directories_and_detect_drift()
    assert result["okta"]["sync"] == "failed"
    assert "0 leavers" in result["lifecycle"]
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE
    assert okta.member_ids(editors) == [bob]
