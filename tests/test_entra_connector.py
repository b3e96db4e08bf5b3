"""The Entra ID connector, through the real msgraph-sdk, against the Graph v1.0 emulator on 127.0.0.1."""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
import uuid
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
import time_machine
from django.utils import timezone

from catalog.models import IdpGroup, Person
from lib.http import parse_retry_after
from provisioning import connectors
from provisioning.connectors import AddResult, PermanentError, RemoveResult, RetryableError, UserRef
from provisioning.connectors.entra.connector import EntraConnector
from provisioning.models import MembershipChange
from provisioning.outbox.services import execute_change
from tests.emulators.graph import GraphEmulator, StaticTokenCredential

# The SDK's generated request builders warn about their own deprecated classes on import.
pytestmark = [
    pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning"),
]


@pytest.fixture
def graph():
    with GraphEmulator() as emulator:
        yield emulator


def make_connector(emulator: GraphEmulator, **options) -> EntraConnector:
    options.setdefault("tenant_id", str(uuid.uuid4()))
    return EntraConnector(credential=StaticTokenCredential(), base_url=f"{emulator.base_url}/v1.0", **options)


@pytest.fixture
def entra(graph):
    connector = make_connector(graph)
    yield connector
    connector.close()


@pytest.fixture
def tenant(graph):
    """alice manages bob; charlie has no access; wiki-editors holds alice."""
    alice = graph.add_user("alice@example.com", "Alice Owner", department="Engineering", jobTitle="Manager")
    bob = graph.add_user("bob@example.com", "Bob Builder", manager=alice, last_sign_in="2026-11-20T08:15:30Z")
    charlie = graph.add_user("charlie@example.com", "Charlie Outsider", accountEnabled=False)
    editors = graph.add_group("wiki-editors", alice)
    return alice, bob, charlie, editors


def test_it_asks_for_the_largest_pages_graph_allows(graph, entra):
    list(entra.iter_users())
    list(entra.iter_groups())

    assert graph.calls_to("GET", r"^/v1.0/users$")[0].query["$top"] == ["500"]  # the limit with signInActivity
    assert graph.calls_to("GET", r"^/v1.0/groups$")[0].query["$top"] == ["999"]


def test_it_pages_through_every_user(graph):
    for n in range(123):
        graph.add_user(f"user{n:04d}@example.com")
    entra = make_connector(graph, page_size=50)

    emails = [u.email for u in entra.iter_users()]
    entra.close()

    assert len(emails) == len(set(emails)) == 123
    pages = graph.calls_to("GET", r"^/v1.0/users$")
    assert [c.query["$top"] for c in pages] == [["50"]] * 3
    assert "$skiptoken" in pages[1].query and "$skiptoken" in pages[2].query


def test_it_pages_through_group_members_users_only(graph):
    users = [graph.add_user(f"user{n:04d}@example.com") for n in range(70)]
    nested = graph.add_group("nested")
    group = graph.add_group("big", *users, nested)
    entra = make_connector(graph, page_size=50)

    members = list(entra.iter_group_members(group.id))
    entra.close()

    assert members == [u.id for u in users]
    assert len(graph.calls_to("GET", rf"^/v1.0/groups/{group.id}/members")) == 2


def test_it_reads_several_groups_at_once_on_one_loop_each_paged_whole(graph):
    users = [graph.add_user(f"user{n:04d}@example.com") for n in range(12)]
    groups = [graph.add_group(f"group-{g}", *users[g : g + 6]) for g in range(5)]
    graph.latency = 0.05
    entra = make_connector(graph, page_size=4)
    try:
        found = entra.read_group_members([*(g.id for g in groups), str(uuid.uuid4())], concurrency=3)
    finally:
        entra.close()

    assert [found[g.id] for g in groups] == [[u.id for u in users[g : g + 6]] for g in range(5)]
    assert [error.status for key, error in found.items() if key not in {g.id for g in groups}] == [404]
    assert 1 < graph.max_in_flight <= 3


def test_it_reads_users_with_manager_and_last_sign_in(tenant, entra):
    _, bob, _, _ = tenant

    users = {u.email: u for u in entra.iter_users()}

    assert users["bob@example.com"].manager_email == "alice@example.com"
    assert users["bob@example.com"].last_login == datetime(2026, 11, 20, 8, 15, 30, tzinfo=UTC)
    assert users["bob@example.com"].last_login_known is True
    assert users["alice@example.com"].last_login is None  # never signed in
    assert (users["alice@example.com"].department, users["alice@example.com"].title) == ("Engineering", "Manager")
    assert users["charlie@example.com"].status == "suspended"
    assert users["bob@example.com"].external_id == bob.id


def test_it_degrades_when_the_tenant_is_not_licensed_for_sign_in_activity(graph, tenant, caplog):
    graph.licensed = False
    tenant = str(uuid.uuid4())
    with caplog.at_level(logging.WARNING, logger="provisioning.connectors.entra.connector"):
        for _ in range(2):
            connector = make_connector(graph, tenant_id=tenant)
            users = list(connector.iter_users())
            connector.close()

    assert len(users) == 3
    assert all(u.last_login is None and u.last_login_known is False for u in users)
    assert {u.email: u.manager_email for u in users}["bob@example.com"] == "alice@example.com"
    warnings = [r for r in caplog.records if "sign-in activity is not available" in r.getMessage()]
    assert len(warnings) == 1
    assert "Authentication_RequestFromNonPremiumTenantOrB2CTenant" in warnings[0].getMessage()
    selects = [c.query["$select"][0] for c in graph.calls_to("GET", r"^/v1.0/users$")]
    assert ["signInActivity" in s for s in selects] == [True, False, True, False]


def test_it_finds_a_user_by_mail_or_user_principal_name(graph, entra):
    graph.add_user("dana@example.com", "Dana IT", upn="dana@corp.onmicrosoft.com")

    assert entra.find_user_by_email("DANA@example.com").name == "Dana IT"
    assert entra.find_user_by_email("dana@corp.onmicrosoft.com").email == "dana@example.com"
    assert entra.find_user_by_email("o'brien@example.com") is None


def test_it_adds_and_removes_a_member(graph, tenant, entra):
    _, bob, _, editors = tenant

    assert entra.add_member(editors.id, UserRef("bob@example.com")) == AddResult.ADDED
    assert bob.id in graph.member_ids(editors)
    body = graph.calls_to("POST", r"/members/\$ref$")[0].json()
    assert body == {"@odata.id": f"https://graph.microsoft.com/v1.0/directoryObjects/{bob.id}"}

    assert entra.remove_member(editors.id, UserRef("bob@example.com")) == RemoveResult.REMOVED
    assert bob.id not in graph.member_ids(editors)


def test_it_treats_already_member_and_not_a_member_as_success(graph, tenant, entra):
    alice, bob, _, editors = tenant

    assert entra.add_member(editors.id, UserRef("alice@example.com", alice.id)) == AddResult.ALREADY_MEMBER
    assert entra.remove_member(editors.id, UserRef("bob@example.com", bob.id)) == RemoveResult.NOT_A_MEMBER
    assert graph.member_ids(editors) == [alice.id]


def test_it_reports_an_unknown_user_permanently(tenant, entra):
    _, _, _, editors = tenant

    with pytest.raises(PermanentError) as error:
        entra.add_member(editors.id, UserRef("nobody@example.com"))

    assert str(error.value) == "No Entra ID user has mail or userPrincipalName nobody@example.com."


@pytest.mark.parametrize("action", ["add_member", "remove_member"])
def test_it_reports_an_unknown_group_permanently(tenant, entra, action):
    with pytest.raises(PermanentError) as error:
        getattr(entra, action)("no-such-group", UserRef("bob@example.com"))

    assert error.value.status == 404
    assert "no-such-group" in str(error.value) and "does not exist" in str(error.value)


def test_it_refuses_groups_graph_cannot_change(graph, tenant, entra):
    _, bob, _, _ = tenant
    synced = graph.add_group("ad-synced", onPremisesSyncEnabled=True)
    graph.add_group("dynamic", groupTypes=["DynamicMembership"], membershipRule="user.department -eq 'x'")
    graph.add_group("m365", groupTypes=["Unified"], mailEnabled=True)
    graph.add_group("mail-security", mailEnabled=True)

    writable = {g.name: g.writable for g in entra.iter_groups()}

    assert writable == {
        "wiki-editors": True,
        "ad-synced": False,
        "dynamic": False,
        "m365": True,
        "mail-security": False,
    }
    with pytest.raises(PermanentError, match="on-premises mastered"):
        entra.add_member(synced.id, UserRef("bob@example.com", bob.id))


def test_it_lists_enterprise_applications_with_assigned_groups(graph, tenant, entra):
    _, bob, _, editors = tenant
    readers = graph.add_group("wiki-readers")
    graph.add_service_principal("Wiki", editors, readers, users=(bob,))
    graph.add_service_principal("Microsoft Graph", tags=[])

    apps = list(entra.iter_applications())

    assert [(a.name, a.group_ids) for a in apps] == [("Wiki", [editors.id, readers.id])]


def test_it_retries_after_429_and_loses_nothing(graph, tenant):
    _, bob, _, editors = tenant
    for n in range(60):
        graph.add_user(f"user{n:04d}@example.com")
    entra = make_connector(graph, page_size=50)
    users = entra.iter_users()
    first = next(users)
    graph.throttle(2)  # the second page is refused twice, with Retry-After: 1

    emails = [first.email, *(u.email for u in users)]

    assert len(emails) == len(set(emails)) == 63
    assert [c.headers.get("retry-attempt") for c in graph.calls_to("GET", r"^/v1.0/users$")] == [None, None, "1", "2"]

    graph.throttle(1)
    assert entra.add_member(editors.id, UserRef("bob@example.com", bob.id)) == AddResult.ADDED
    assert graph.member_ids(editors).count(bob.id) == 1
    entra.close()


def test_it_survives_a_burst_of_503s(graph, tenant, entra):
    graph.fail(2, 503)

    groups = list(entra.iter_groups())

    assert [g.name for g in groups] == ["wiki-editors"]
    assert len(graph.calls_to("GET", r"^/v1.0/groups$")) == 3


def test_it_hands_long_retry_after_back_to_the_caller(graph, tenant, entra):
    _, bob, _, editors = tenant
    graph.retry_after = "120"
    graph.throttle(1)

    with pytest.raises(RetryableError) as error:
        entra.add_member(editors.id, UserRef("bob@example.com", bob.id))

    assert error.value.retry_after == 120 and error.value.status == 429
    assert len(graph.calls_to("POST", r"/members/\$ref$")) == 1  # not retried in-process


def test_it_spends_a_per_minute_budget():
    with GraphEmulator(budget_per_minute=3) as graph:
        graph.add_user("bob@example.com")
        connector = make_connector(graph, max_retry_wait=0.1)
        outcomes = []
        for _ in range(8):
            try:
                connector.find_user_by_email("bob@example.com")
                outcomes.append("ok")
            except RetryableError as error:
                outcomes.append(error.retry_after)
        connector.close()

    assert outcomes[:3] == ["ok", "ok", "ok"]
    assert any(isinstance(o, float) and 0 < o <= 60 for o in outcomes[3:])


def test_it_times_out_as_retryable(graph, tenant):
    graph.latency = 1.0
    connector = make_connector(graph, timeout=0.2, max_retries=0)

    with pytest.raises(RetryableError, match="did not answer in time"):
        connector.iter_groups().__next__()
    connector.close()


def test_it_sends_the_credentials_token_for_the_graph_host(graph, tenant):
    credential = StaticTokenCredential("t0ken")
    connector = EntraConnector(credential=credential, base_url=f"{graph.base_url}/v1.0")
    list(connector.iter_groups())
    connector.close()

    assert graph.calls[0].headers["authorization"] == "Bearer t0ken"
    assert credential.requests == [("http://127.0.0.1/.default",)]  # host only: Entra rejects ports in scopes


def test_the_emulator_requires_a_bearer_token(graph):
    request = urllib.request.Request(f"{graph.base_url}/v1.0/users")

    with pytest.raises(urllib.error.HTTPError) as error:
        urllib.request.urlopen(request, timeout=5)

    body = json.loads(error.value.read())
    assert error.value.code == 401
    assert body["error"]["code"] == "InvalidAuthenticationToken"
    assert set(body["error"]["innerError"]) == {"date", "request-id", "client-request-id"}


def test_it_reads_retry_after_as_seconds_or_http_date():
    assert parse_retry_after({"Retry-After": "7"}) == 7
    later = datetime.now(UTC) + timedelta(seconds=90)
    assert 80 < parse_retry_after({"retry-after": format_datetime(later, usegmt=True)}) <= 90
    assert parse_retry_after({}) is None


def test_it_can_not_be_used_after_close(graph, tenant):
    connector = make_connector(graph)
    assert len(list(connector.iter_groups())) == 1
    assert len(list(connector.iter_groups())) == 1  # the same loop serves every call
    connector.close()
    connector.close()

    with pytest.raises(PermanentError, match="closed"):
        list(connector.iter_groups())


# -- the registry and settings ---------------------------------------------------------------------
def test_it_says_what_is_missing_when_not_configured(settings):
    settings.ENTRA = {"TENANT_ID": "", "CLIENT_ID": "app"}

    with pytest.raises(PermanentError) as error:
        connectors.connector_for("entra")

    assert "ENTRA_TENANT_ID" in str(error.value) and "ENTRA_CLIENT_SECRET" in str(error.value)


def test_it_builds_a_client_secret_credential_from_settings(settings, tmp_path):
    from azure.identity.aio import ClientSecretCredential

    secret = tmp_path / "secret"
    secret.write_text("s3cret\n")
    settings.ENTRA = {"TENANT_ID": "t", "CLIENT_ID": "c", "CLIENT_SECRET_FILE": str(secret)}

    connector = connectors.connector_for("entra")

    assert isinstance(connector, EntraConnector)
    assert isinstance(connector._credential, ClientSecretCredential)
    assert connector.base_url == "https://graph.microsoft.com/v1.0"
    connector.close()


def test_it_reports_an_unreadable_secret_file(settings, tmp_path):
    settings.ENTRA = {"TENANT_ID": "t", "CLIENT_ID": "c", "CLIENT_SECRET_FILE": str(tmp_path / "missing")}

    with pytest.raises(PermanentError, match="Cannot read ENTRA_CLIENT_SECRET_FILE"):
        connectors.connector_for("entra")


# -- through the outbox ----------------------------------------------------------------------------
@pytest.fixture
def entra_registered(graph):
    """The "entra" provider, pointed at the emulator (the credential is the only test stand-in)."""
    original = connectors._FACTORIES["entra"]
    connectors.register("entra", lambda: make_connector(graph))
    yield graph
    connectors.register("entra", original)


def queue(action: str, email: str, group_id: str) -> MembershipChange:
    person = Person.objects.get_or_create(email=email, defaults={"name": email})[0]
    group = IdpGroup.objects.get_or_create(connector="entra", external_id=group_id, defaults={"name": group_id})[0]
    return MembershipChange.objects.create(action=action, person=person, group=group, next_attempt_at=timezone.now())


def test_it_fails_an_outbox_change_for_an_unknown_group_with_the_reason(db, tenant, entra_registered):
    change = queue("add", "bob@example.com", "no-such-group")

    execute_change(change.id)

    change.refresh_from_db()
    assert change.status == MembershipChange.Status.FAILED
    assert "Resource 'no-such-group' does not exist" in change.last_error
    assert change.last_error.endswith("(permanent: not retried)")


def test_it_fails_an_outbox_change_for_an_unknown_user_with_the_reason(db, tenant, entra_registered):
    _, _, _, editors = tenant
    change = queue("add", "nobody@example.com", editors.id)

    execute_change(change.id)

    change.refresh_from_db()
    assert change.status == MembershipChange.Status.FAILED
    assert change.last_error.startswith("No Entra ID user has mail or userPrincipalName nobody@example.com.")


def test_it_executes_outbox_changes_idempotently(db, tenant, entra_registered):
    graph = entra_registered
    alice, bob, _, editors = tenant

    added = execute_change(queue("add", "bob@example.com", editors.id).id)
    again = execute_change(queue("add", "alice@example.com", editors.id).id)
    absent = execute_change(queue("remove", "charlie@example.com", editors.id).id)

    assert [added.result, again.result, absent.result] == ["added", "already_member", "not_a_member"]
    assert graph.member_ids(editors) == [alice.id, bob.id]


def test_it_reschedules_an_outbox_change_after_a_5xx_burst_and_then_succeeds(db, tenant, entra_registered):
    graph = entra_registered
    _, bob, _, editors = tenant
    graph.fail(3, 500)  # kiota does not retry 500: the outbox does
    start = timezone.now()

    with time_machine.travel(start, tick=True) as traveller:
        change = execute_change(queue("add", "bob@example.com", editors.id).id)
        assert change.status == MembershipChange.Status.QUEUED
        assert "HTTP 500" in change.last_error
        for _ in range(2):
            traveller.shift(timedelta(hours=1))
            change = execute_change(change.id)
        traveller.shift(timedelta(hours=1))
        change = execute_change(change.id)

    assert change.status == MembershipChange.Status.SUCCEEDED
    assert change.attempts == 4
    assert graph.member_ids(editors).count(bob.id) == 1


def test_it_reschedules_an_outbox_change_no_earlier_than_graphs_retry_after(db, tenant, entra_registered):
    graph = entra_registered
    _, bob, _, editors = tenant
    graph.retry_after = "600"
    graph.throttle(1)

    change = execute_change(queue("add", "bob@example.com", editors.id).id)

    assert change.status == MembershipChange.Status.QUEUED
    assert change.next_attempt_at >= timezone.now() + timedelta(seconds=590)
    assert bob.id not in graph.member_ids(editors)


def test_it_classifies_credential_failures():
    from azure.core.exceptions import ClientAuthenticationError

    from provisioning.connectors.entra.transport import classify

    refused = classify(ClientAuthenticationError(message="AADSTS7000215: Invalid client secret"), "listing users")

    assert isinstance(refused, PermanentError)
    assert "Invalid client secret" in str(refused)
