"""The Okta connector, through the real okta SDK, against the Okta wire emulator."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from catalog.models import GroupMembership, IdpGroup
from provisioning.connectors import AddResult, PermanentError, RemoveResult, RetryableError, UserRef, connector_for
from provisioning.connectors.okta.connector import OktaConnector
from provisioning.models import MembershipChange
from provisioning.outbox import services
from tests import company as c
from tests.connectors import run_until_settled
from tests.emulators.base import Reply
from tests.emulators.okta import OktaEmulator

TOKEN = "test-token"


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch):
    # The SDK refuses http:// org URLs unless its https check is off; only tests turn it off.
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")


@pytest.fixture
def okta():
    with OktaEmulator(TOKEN) as emulator:
        yield emulator


@pytest.fixture
def org(okta):
    """alice (manager), bob (reports to alice, in wiki-editors), charlie (in nothing); an AD group."""
    from types import SimpleNamespace

    alice = okta.add_user(
        "alice@example.com",
        "Alice",
        "Owner",
        department="Engineering",
        title="Engineering Manager",
        last_login=datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC),
    )
    bob = okta.add_user("bob@example.com", "Bob", "Builder", manager_id=alice)
    charlie = okta.add_user("charlie@example.com", "Charlie", "Outsider", status="SUSPENDED")
    editors = okta.add_group("wiki-editors")
    ad_admins = okta.add_group("AD Domain Admins", type="APP_GROUP")
    okta.add_member(editors, bob)
    wiki = okta.add_app("Wiki", [editors, ad_admins])
    return SimpleNamespace(alice=alice, bob=bob, charlie=charlie, editors=editors, ad_admins=ad_admins, wiki=wiki)


def make_connector(okta: OktaEmulator, **options) -> OktaConnector:
    return OktaConnector(org_url=okta.base_url, api_token=TOKEN, **options)


@pytest.fixture
def connector(okta):
    conn = make_connector(okta)
    yield conn
    conn.close()


@pytest.fixture
def okta_settings(settings, okta):
    """settings.OKTA pointing at the emulator; no in-call retries, so the outbox does them."""
    settings.OKTA = {"ORG_URL": okta.base_url, "API_TOKEN": TOKEN, "RATE_LIMIT_MAX_RETRIES": 0}
    return settings


# -- reading the directory -----------------------------------------------------------------
def test_it_pages_through_users_groups_and_members(okta, connector):
    okta.page_cap = 3
    user_ids = [okta.add_user(f"user{n}@example.com") for n in range(8)]
    gone = okta.add_user("gone@example.com", status="DEPROVISIONED")
    group_ids = [okta.add_group(f"group-{n}") for n in range(7)]
    for uid in user_ids:
        okta.add_member(group_ids[0], uid)

    users = list(connector.iter_users())
    groups = list(connector.iter_groups())
    members = list(connector.iter_group_members(group_ids[0]))

    assert [u.external_id for u in users] == [*user_ids, gone]
    assert {u.status for u in users if u.external_id == gone} == {"deprovisioned"}
    assert [g.external_id for g in groups] == group_ids
    assert members == user_ids
    member_calls = okta.calls_to("GET", rf"/groups/{group_ids[0]}/users$")
    assert len(member_calls) == 3
    assert member_calls[0].query["limit"] == ["200"]
    assert member_calls[1].query["after"] == [user_ids[2]]
    assert len(okta.calls_to("GET", r"^/api/v1/groups$")) == 3


def test_it_maps_user_profiles(org, connector):
    users = {u.email: u for u in connector.iter_users()}

    alice, bob, charlie = users["alice@example.com"], users["bob@example.com"], users["charlie@example.com"]
    assert (alice.name, alice.department, alice.title, alice.status) == (
        "Alice Owner",
        "Engineering",
        "Engineering Manager",
        "active",
    )
    assert alice.last_login == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert alice.last_login.utcoffset() == timedelta(0)
    assert bob.manager_email == "alice@example.com"
    assert bob.last_login is None
    assert charlie.status == "suspended"


def test_it_finds_a_user_by_login_then_by_email(okta, org, connector):
    okta.add_user("dana@example.com", "Dana", "It", login="dana.it")

    assert connector.find_user_by_email("bob@example.com").manager_email == "alice@example.com"
    assert connector.find_user_by_email("dana@example.com").name == "Dana It"
    assert connector.find_user_by_email("nobody@example.com") is None
    assert okta.calls_to("GET", r"^/api/v1/users$")[0].query["search"] == ['profile.email eq "dana@example.com"']


def test_it_marks_app_groups_not_writable_and_lists_app_assignments(org, connector):
    groups = {g.name: g for g in connector.iter_groups()}
    apps = list(connector.iter_applications())

    assert groups["wiki-editors"].writable is True
    assert groups["AD Domain Admins"].writable is False
    assert [(a.name, a.group_ids) for a in apps] == [("Wiki", [org.editors, org.ad_admins])]


# -- changing memberships ------------------------------------------------------------------
def test_it_adds_and_removes_members(okta, org, connector):
    assert connector.add_member(org.editors, UserRef("alice@example.com")) == AddResult.ADDED
    assert org.alice in okta.member_ids(org.editors)
    assert connector.remove_member(org.editors, UserRef("alice@example.com")) == RemoveResult.REMOVED
    assert org.alice not in okta.member_ids(org.editors)


def test_it_writes_memberships_blind_and_idempotently(okta, org, connector):
    """Okta's PUT/DELETE answer 204 whether or not the membership existed: nothing is read first."""
    assert connector.add_member(org.editors, UserRef("bob@example.com", org.bob)) == AddResult.ADDED
    assert connector.remove_member(org.editors, UserRef("charlie@example.com", org.charlie)) == RemoveResult.REMOVED
    assert okta.member_ids(org.editors) == [org.bob]
    assert [c.method for c in okta.calls] == ["PUT", "DELETE"]
    assert okta.calls_to("GET", r"/groups$") == []


def test_it_takes_a_delete_answered_404_as_already_absent(okta, org, connector):
    gone = UserRef("gone@example.com", "00udeleted")
    assert connector.remove_member(org.editors, gone) == RemoveResult.NOT_A_MEMBER
    assert [(c.method, c.path) for c in okta.calls] == [("DELETE", f"/api/v1/groups/{org.editors}/users/00udeleted")]


def test_it_uses_the_external_id_and_caches_lookups(okta, org, connector):
    connector.add_member(org.editors, UserRef("nobody-by-email@example.com", external_id=org.alice))
    connector.remove_member(org.editors, UserRef("alice@example.com"))
    connector.add_member(org.editors, UserRef("alice@example.com"))

    assert okta.member_ids(org.editors) == [org.bob, org.alice]
    assert len(okta.calls_to("GET", r"^/api/v1/users/alice@example.com$")) == 1


def test_it_refuses_unknown_users_and_groups_permanently(org, connector):
    with pytest.raises(PermanentError, match=r"No Okta user has the login or email zed@example\.com") as no_user:
        connector.add_member(org.editors, UserRef("zed@example.com"))
    with pytest.raises(PermanentError, match=r"HTTP 404 E0000007: Not found: .*00gmissing") as no_group:
        connector.add_member("00gmissing", UserRef("bob@example.com"))

    assert no_user.value.status == no_group.value.status == 404


def test_it_refuses_app_groups_permanently_and_says_why(okta, org, connector):
    with pytest.raises(PermanentError, match=r"'AD Domain Admins' .* APP_GROUP.*E0000006") as refused:
        connector.add_member(org.ad_admins, UserRef("bob@example.com"))

    assert refused.value.status == 403
    assert okta.member_ids(org.ad_admins) == []


def test_it_reports_a_bad_token_permanently(okta, org):
    conn = OktaConnector(org_url=okta.base_url, api_token="wrong")
    try:
        with pytest.raises(PermanentError, match="HTTP 401 E0000011: Invalid token provided") as refused:
            list(conn.iter_groups())
    finally:
        conn.close()
    assert "wrong" not in str(refused.value)


# -- rate limits and outages ---------------------------------------------------------------
def test_it_waits_for_the_named_reset_and_retries_a_429(okta, org):
    conn = make_connector(okta, max_retries=1)
    okta.throttle(1)
    try:
        assert conn.add_member(org.editors, UserRef("alice@example.com")) == AddResult.ADDED
    finally:
        conn.close()
    retried = [call for call in okta.calls if call.headers.get("x-okta-retry-count")]
    assert [call.headers["x-okta-retry-count"] for call in retried] == ["1"]
    assert org.alice in okta.member_ids(org.editors)


def test_it_raises_retryable_with_retry_after_from_reset_minus_date(okta, org):
    conn = make_connector(okta, max_retries=0)
    okta.throttle(1)
    okta.throttle_reset_seconds = 30
    try:
        with pytest.raises(RetryableError, match="E0000047") as throttled:
            list(conn.iter_groups())
    finally:
        conn.close()
    assert throttled.value.status == 429
    assert 30 <= throttled.value.retry_after <= 32  # reset − Date (+1 s), whole seconds on the wire


def test_it_raises_retryable_on_5xx_and_when_okta_is_unreachable(okta, org):
    conn = make_connector(okta, max_retries=0)
    okta.fail(1, 502)
    with pytest.raises(RetryableError, match="HTTP 502"):
        list(conn.iter_groups())
    url = okta.base_url
    okta.stop()
    unreachable = OktaConnector(org_url=url, api_token=TOKEN)
    try:
        with pytest.raises(RetryableError, match="Okta did not answer while trying to list groups"):
            list(unreachable.iter_groups())
    finally:
        conn.close()
        unreachable.close()


# -- registry ------------------------------------------------------------------------------
def test_it_is_registered_and_explains_missing_configuration(settings, okta):
    settings.OKTA = {"ORG_URL": "", "API_TOKEN": ""}
    with pytest.raises(PermanentError, match="Okta is not configured: set OKTA_ORG_URL"):
        connector_for("okta")
    settings.OKTA = {"ORG_URL": okta.base_url}
    with pytest.raises(PermanentError, match="set OKTA_API_TOKEN, or OKTA_CLIENT_ID"):
        connector_for("okta")
    settings.OKTA = {"ORG_URL": okta.base_url, "API_TOKEN": TOKEN}
    conn = connector_for("okta")
    conn.close()
    assert isinstance(conn, OktaConnector)


# -- through the outbox --------------------------------------------------------------------
def queue(person_email: str, group_id: str, action: str = "add") -> MembershipChange:
    person = c.person(person_email)
    group, _ = IdpGroup.objects.get_or_create(connector="okta", external_id=group_id, defaults={"name": group_id})
    return services.queue_change(action=action, person=person, group=group)


@pytest.mark.django_db
def test_outbox_fails_a_change_for_an_unknown_user_with_the_reason(okta_settings, org):
    change = queue("zed@example.com", org.editors)

    services.execute_change(change.pk)
    change.refresh_from_db()

    assert change.status == MembershipChange.Status.FAILED
    assert change.last_error == "No Okta user has the login or email zed@example.com. (permanent: not retried)"
    assert change.attempts == 1


@pytest.mark.django_db
def test_outbox_fails_a_change_for_an_unknown_group_with_the_reason(okta_settings, org):
    change = queue("bob@example.com", "00gmissing")

    services.execute_change(change.pk)
    change.refresh_from_db()

    assert change.status == MembershipChange.Status.FAILED
    assert "HTTP 404 E0000007: Not found: Resource not found: 00gmissing (UserGroup)" in change.last_error


@pytest.mark.django_db
def test_outbox_retries_a_429_after_the_reset_and_loses_nothing(okta_settings, okta, org):
    okta.throttle_reset_seconds = 40
    with time_machine.travel(datetime(2026, 6, 1, 9, 0, tzinfo=UTC), tick=False) as traveller:
        change = queue("alice@example.com", org.editors)
        okta.throttle(1)
        services.execute_change(change.pk)
        change.refresh_from_db()
        assert change.status == MembershipChange.Status.QUEUED
        assert change.next_attempt_at >= datetime(2026, 6, 1, 9, 0, 40, tzinfo=UTC)
        assert "E0000047" in change.last_error
        assert services.execute_change(change.pk) is None  # not due before the reset

        change = run_until_settled(change, traveller)

    # The throttled call never ran: handed back, not counted as a failed attempt.
    assert (change.status, change.result, change.attempts) == ("succeeded", "added", 1)
    assert okta.member_ids(org.editors) == [org.bob, org.alice]
    assert len(okta.calls_to("PUT", rf"/groups/{org.editors}/users/")) == 1
    assert GroupMembership.objects.get(person=change.person).origin == GroupMembership.Origin.GATEHOUSE


@pytest.mark.django_db
def test_outbox_survives_a_burst_of_5xx(okta_settings, okta, org):
    with time_machine.travel(datetime(2026, 6, 1, 9, 0, tzinfo=UTC), tick=False) as traveller:
        change = queue("bob@example.com", org.editors, action="remove")
        okta.fail(4, 503)
        change = run_until_settled(change, traveller)

    assert (change.status, change.result) == ("succeeded", "removed")
    assert change.attempts == 5
    assert okta.member_ids(org.editors) == []


@pytest.mark.django_db
def test_outbox_records_a_membership_the_sync_saw_as_external(okta_settings, okta, org):
    """The write is blind, so "already a member" comes from what the directory sync recorded."""
    from django.utils import timezone

    change = queue("bob@example.com", org.editors)
    GroupMembership.objects.create(person=change.person, group=change.group, origin="external", since=timezone.now())

    services.execute_change(change.pk)
    change.refresh_from_db()

    assert (change.status, change.result) == ("succeeded", "already_member")
    assert GroupMembership.objects.get(person=change.person).origin == GroupMembership.Origin.EXTERNAL
    assert okta.calls_to("GET", r"/users/.*/groups$") == []


@pytest.mark.django_db
def test_outbox_fails_an_app_group_change_permanently(okta_settings, okta, org):
    change = queue("bob@example.com", org.ad_admins)

    services.execute_change(change.pk)
    change.refresh_from_db()

    assert change.status == MembershipChange.Status.FAILED
    assert "APP_GROUP" in change.last_error and change.last_error.endswith("(permanent: not retried)")


def test_it_authenticates_with_an_oauth_private_key(okta, org, tmp_path, settings):
    from jwcrypto import jwk

    key_file = tmp_path / "okta-key.pem"
    key_file.write_bytes(jwk.JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None))
    okta.oauth_clients["0oagatehouse"] = {"okta.users.read", "okta.groups.read", "okta.groups.manage"}
    settings.OKTA = {
        "ORG_URL": okta.base_url,
        "CLIENT_ID": "0oagatehouse",
        "PRIVATE_KEY_FILE": str(key_file),
        "KEY_ID": "key-1",
        "SCOPES": ["okta.users.read", "okta.groups.read", "okta.groups.manage"],
    }
    conn = connector_for("okta")
    try:
        assert conn.add_member(org.editors, UserRef("alice@example.com")) == AddResult.ADDED
    finally:
        conn.close()
    assert len(okta.calls_to("POST", r"^/oauth2/v1/token$")) == 1
    assert {call.headers["authorization"].split()[0] for call in okta.calls_to("GET", r"^/api/")} == {"Bearer"}


def test_it_explains_an_unreadable_private_key_file(settings, okta):
    settings.OKTA = {"ORG_URL": okta.base_url, "CLIENT_ID": "0oagatehouse", "PRIVATE_KEY_FILE": "/nonexistent/key.pem"}
    with pytest.raises(PermanentError, match="Cannot read OKTA_PRIVATE_KEY_FILE: No such file or directory"):
        connector_for("okta")


def test_it_survives_a_short_burst_of_503_inside_one_call(okta, org):
    conn = make_connector(okta, max_retries=2)
    okta.fail(2, 503)
    try:
        assert conn.remove_member(org.editors, UserRef("bob@example.com")) == RemoveResult.REMOVED
    finally:
        conn.close()
    assert okta.member_ids(org.editors) == []


class BareProxyOkta(OktaEmulator):
    """An Okta behind a proxy that answers 503 without Okta's rate-limit headers."""

    def throttled_reply(self):
        return Reply(503, "<html>Service Unavailable</html>", content_type="text/html")


def test_it_reports_a_503_without_rate_limit_headers_as_retryable():
    with BareProxyOkta(TOKEN) as okta:
        okta.add_group("wiki-editors")
        conn = make_connector(okta, max_retries=1)
        okta.throttle(1)
        try:
            with pytest.raises(RetryableError, match="Okta answered HTTP 503 while trying to list groups") as error:
                list(conn.iter_groups())
        finally:
            conn.close()
    assert error.value.status == 503
