"""What the Entra connector tells the sync about people and groups: explicit states, the manager's
id, why a group cannot be written, and users a listing left out — through the real msgraph-sdk."""

from __future__ import annotations

import uuid

import pytest

from catalog.models import IdpGroup, Person, RoleGroup
from provisioning.connectors import register
from provisioning.connectors.entra.connector import EntraConnector
from provisioning.models import SyncRun
from provisioning.sync.services import sync_directory
from tests import company as c
from tests.emulators.graph import GraphEmulator, StaticTokenCredential

pytestmark = [
    pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning"),
]


@pytest.fixture
def graph():
    with GraphEmulator() as emulator:
        yield emulator


def make_connector(emulator: GraphEmulator) -> EntraConnector:
    return EntraConnector(
        credential=StaticTokenCredential(), tenant_id=str(uuid.uuid4()), base_url=f"{emulator.base_url}/v1.0"
    )


@pytest.fixture
def entra(graph):
    connector = make_connector(graph)
    yield connector
    connector.close()


@pytest.fixture
def synced_entra(graph):
    """`entra` in the registry builds connectors against the emulator."""
    from provisioning import connectors

    original = connectors._FACTORIES["entra"]
    register("entra", lambda: make_connector(graph))
    yield graph
    register("entra", original)


def test_it_reports_the_managers_id_and_the_explicit_account_state(graph, entra):
    alice = graph.add_user("alice@example.com", "Alice Owner")
    graph.add_user("bob@example.com", "Bob Builder", manager=alice, accountEnabled=False)

    users = {u.email: u for u in entra.iter_users()}

    assert users["bob@example.com"].manager_external_id == alice.id
    assert (users["bob@example.com"].status, users["bob@example.com"].state) == ("suspended", "accountEnabled=false")
    assert (users["alice@example.com"].status, users["alice@example.com"].state) == ("active", "accountEnabled=true")
    expand = graph.calls_to("GET", r"^/v1.0/users$")[0].query["$expand"]
    assert expand == ["manager($select=id,mail,userPrincipalName)"]


def test_it_says_why_a_group_cannot_be_written(graph, entra):
    graph.add_group("cloud")
    graph.add_group("ad-synced", onPremisesSyncEnabled=True)
    graph.add_group("dynamic", groupTypes=["DynamicMembership"], membershipRule="user.department -eq 'x'")
    graph.add_group("distribution", mailEnabled=True, securityEnabled=False)

    reasons = {g.name: (g.writable, g.not_writable_reason) for g in entra.iter_groups()}

    assert reasons["cloud"] == (True, "")
    assert reasons["ad-synced"][0] is False and "on-premises" in reasons["ad-synced"][1]
    assert reasons["dynamic"][0] is False and "user.department -eq 'x'" in reasons["dynamic"][1]
    assert reasons["distribution"][0] is False and "Exchange" in reasons["distribution"][1]


def test_it_reads_left_out_users_by_id_and_a_404_means_deleted(graph, entra):
    alice = graph.add_user("alice@example.com", accountEnabled=False)
    gone_id = str(uuid.uuid4())

    found = entra.read_users([alice.id, gone_id])

    assert found[alice.id].state == "accountEnabled=false"
    assert found[gone_id] is None


@pytest.mark.django_db
def test_a_sync_stores_non_writable_groups_and_the_admin_refuses_to_bind_them(synced_entra):
    from django.core.exceptions import ValidationError

    synced_entra.add_user("alice@example.com")
    dynamic = synced_entra.add_group("dynamic", groupTypes=["DynamicMembership"], membershipRule="user.x -eq 1")

    run = sync_directory("entra")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    group = IdpGroup.objects.get(connector="entra", external_id=dynamic.id)
    assert group.writable is False and "membership rule" in group.not_writable_reason
    role = c.role(c.app("wiki"), "editors")
    with pytest.raises(ValidationError, match=r"dynamic.*cannot be changed by Gatehouse: Entra dynamic group"):
        RoleGroup(role=role, group=group).full_clean()


@pytest.mark.django_db
def test_a_deleted_entra_user_is_deprovisioned_and_a_disabled_one_suspended(synced_entra):
    alice = synced_entra.add_user("alice@example.com")
    bob = synced_entra.add_user("bob@example.com")
    synced_entra.add_user("carol@example.com")
    sync_directory("entra")

    del synced_entra.users[alice.id]  # deleted in Entra: no longer listed, 404 by id
    bob.accountEnabled = False
    run = sync_directory("entra")

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert (run.deactivated, run.suspended) == (1, 1)
    people = {p.email: p for p in Person.objects.all()}
    assert (people["alice@example.com"].status, people["alice@example.com"].directory_state) == (
        "deprovisioned",
        "deleted",
    )
    assert (people["bob@example.com"].status, people["bob@example.com"].directory_state) == (
        "suspended",
        "accountEnabled=false",
    )
    assert people["bob@example.com"].status_changed_at is not None
    assert people["carol@example.com"].status_changed_at is None
