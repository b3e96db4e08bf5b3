"""The Google Workspace connector, through the real google-api-python-client, against the Directory API emulator."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from types import SimpleNamespace

import pytest
from google.auth.credentials import AnonymousCredentials

from provisioning.connectors import AddResult, PermanentError, RemoveResult, RetryableError, UserRef
from provisioning.connectors.base import MemberChange
from provisioning.connectors.google.connector import GoogleConnector, parse_last_login
from tests.emulators.base import Reply
from tests.emulators.google import NEVER, GoogleDirectoryEmulator

LOGIN = "2026-03-04T05:06:07.000Z"


@pytest.fixture
def google():
    with GoogleDirectoryEmulator() as emulator:
        yield emulator


@pytest.fixture
def org(google):
    """alice (manager, has signed in), bob (reports to alice, in editors), charlie (suspended), dora (archived)."""
    alice = google.add_user(
        "alice@example.com", "Alice", "Owner", department="Engineering", title="Engineering Manager", last_login=LOGIN
    )
    bob = google.add_user(
        "bob@example.com", "Bob", "Builder", manager="Alice@Example.com", aliases=["bobby@example.com"]
    )
    charlie = google.add_user("charlie@example.com", "Charlie", "Outsider", suspended=True, org_unit="/Sales")
    dora = google.add_user("dora@example.com", "Dora", "Gone", archived=True, suspended=True)
    editors = google.add_group("wiki-editors@example.com", "Wiki editors", description="Can edit the wiki")
    locked = google.add_group("board@example.com", "Board", read_only=True)
    google.add_member(editors, bob)
    return SimpleNamespace(alice=alice, bob=bob, charlie=charlie, dora=dora, editors=editors, locked=locked)


def make_connector(google: GoogleDirectoryEmulator, **options) -> GoogleConnector:
    options = {"max_retries": 0, "max_requests_per_minute": 0, **options}
    return GoogleConnector(credentials=AnonymousCredentials(), api_url=f"{google.base_url}/", **options)


@pytest.fixture
def connector(google):
    conn = make_connector(google)
    yield conn
    conn.close()


EDITORS = "wiki-editors@example.com"


# -- reading the directory -----------------------------------------------------------------
def test_it_pages_through_users_groups_and_members_at_the_largest_page_each_call_allows(google, connector):
    google.page_cap = 3
    user_ids = [google.add_user(f"user{n}@example.com") for n in range(8)]
    group_ids = [google.add_group(f"group-{n}@example.com") for n in range(7)]
    for user_id in user_ids:
        google.add_member(group_ids[0], user_id)

    users = list(connector.iter_users())
    groups = list(connector.iter_groups())
    members = list(connector.iter_group_members("group-0@example.com"))

    assert [u.external_id for u in users] == user_ids
    assert [g.external_id for g in groups] == [f"group-{n}@example.com" for n in range(7)]
    assert members == user_ids
    user_calls = google.calls_to("GET", r"/admin/directory/v1/users$")
    assert len(user_calls) == 3 and {c.query["maxResults"][0] for c in user_calls} == {"500"}
    assert "pageToken" not in user_calls[0].query and user_calls[1].query["pageToken"]
    assert user_calls[0].query["customer"] == ["my_customer"]
    group_calls = google.calls_to("GET", r"/admin/directory/v1/groups$")
    assert len(group_calls) == 3 and {c.query["maxResults"][0] for c in group_calls} == {"200"}
    member_calls = google.calls_to("GET", r"/members$")
    assert len(member_calls) == 3 and {c.query["maxResults"][0] for c in member_calls} == {"200"}


def test_it_maps_user_profiles(org, connector):
    users = {u.email: u for u in connector.iter_users()}

    alice, bob, charlie, dora = (users[f"{n}@example.com"] for n in ("alice", "bob", "charlie", "dora"))
    assert (alice.name, alice.department, alice.title, alice.status) == (
        "Alice Owner",
        "Engineering",
        "Engineering Manager",
        "active",
    )
    assert alice.last_login == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert (bob.manager_email, bob.aliases, bob.last_login, bob.last_login_known) == (
        "alice@example.com",
        ("bobby@example.com",),
        None,  # Google's epoch zero: never signed in
        True,
    )
    assert (charlie.status, charlie.org_unit) == ("suspended", "/Sales")
    assert dora.status == "deprovisioned"  # archived wins over suspended


def test_it_reads_the_epoch_zero_login_as_never():
    assert parse_last_login(NEVER) is None
    assert parse_last_login("1970-01-01T00:00:00Z") is None
    assert parse_last_login(None) is None
    assert parse_last_login(LOGIN) == datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)


def test_it_lists_one_domain_when_a_domain_is_configured(google, org):
    conn = make_connector(google, domain="Example.com")
    try:
        assert len(list(conn.iter_users())) == 4
        assert len(list(conn.iter_groups())) == 2
    finally:
        conn.close()
    assert {c.query["domain"][0] for c in google.calls if c.method == "GET"} == {"example.com"}
    assert not any("customer" in c.query for c in google.calls)


def test_it_finds_a_user_by_primary_email_or_alias(org, connector):
    assert connector.find_user_by_email("bob@example.com").manager_email == "alice@example.com"
    assert connector.find_user_by_email("BOBBY@example.com").email == "bob@example.com"
    assert connector.find_user_by_email("nobody@example.com") is None


def test_it_reports_a_nested_group_instead_of_flattening_it(google, org, connector, caplog):
    admins = google.add_group("admins@example.com")
    google.add_member(admins, org.alice)
    google.add_member(org.editors, admins)

    with caplog.at_level(logging.WARNING, logger="provisioning.connectors.google.connector"):
        members = list(connector.iter_group_members(EDITORS))

    assert members == [org.bob, admins]  # the group's own id, never alice's
    assert "has a GROUP member admins@example.com: its members are not expanded" in caplog.text


# -- changing memberships ------------------------------------------------------------------
def test_it_adds_and_removes_members_with_role_member(google, org, connector):
    assert connector.add_member(EDITORS, UserRef("alice@example.com")) == AddResult.ADDED
    assert google.members[org.editors][org.alice]["role"] == "MEMBER"
    assert google.calls_to("POST", r"/members$")[0].json() == {"email": "alice@example.com", "role": "MEMBER"}
    assert connector.remove_member(EDITORS, UserRef("alice@example.com", external_id=org.alice)) == RemoveResult.REMOVED
    assert google.member_ids(org.editors) == [org.bob]
    assert google.calls_to("DELETE", r"/members/")[0].path.endswith(f"/members/{org.alice}")


def test_it_treats_a_duplicate_and_a_missing_member_as_success_without_reading_first(google, org, connector):
    bob = UserRef("bob@example.com", external_id=org.bob)
    charlie = UserRef("charlie@example.com", external_id=org.charlie)

    assert connector.add_member(EDITORS, bob) == AddResult.ALREADY_MEMBER  # 409 duplicate
    assert connector.remove_member(EDITORS, charlie) == RemoveResult.NOT_A_MEMBER  # 404 memberKey

    assert google.member_ids(org.editors) == [org.bob]
    assert [c.method for c in google.calls] == ["POST", "DELETE"]


def test_it_checks_an_unknown_address_once_and_refuses_it_permanently(google, org, connector):
    with pytest.raises(
        PermanentError, match=r"No Google Workspace user has the email or alias zed@example\.com"
    ) as refused:
        connector.add_member(EDITORS, UserRef("zed@example.com"))
    connector.add_member(EDITORS, UserRef("alice@example.com"))
    connector.remove_member(EDITORS, UserRef("alice@example.com"))
    connector.add_member(EDITORS, UserRef("alice@example.com"))

    assert refused.value.status == 404
    assert google.calls_to("POST", r"/members$")[0].json()["email"] == "alice@example.com"  # zed was never sent
    assert len(google.calls_to("GET", r"/users/alice%40example.com$")) == 1  # the lookup is remembered


def test_it_refuses_unknown_groups_permanently_with_googles_message(org, connector):
    with pytest.raises(PermanentError, match="HTTP 404 notFound: Resource Not Found: groupKey") as on_add:
        connector.add_member("nope@example.com", UserRef("bob@example.com", external_id="1"))
    with pytest.raises(PermanentError, match="Resource Not Found: groupKey") as on_remove:
        connector.remove_member("nope@example.com", UserRef("bob@example.com"))

    assert on_add.value.status == on_remove.value.status == 404


def test_it_refuses_a_group_the_admin_may_not_change_permanently(google, org, connector):
    with pytest.raises(
        PermanentError, match="HTTP 403 forbidden: Not Authorized to access this resource/api"
    ) as refused:
        connector.add_member("board@example.com", UserRef("bob@example.com", external_id=org.bob))

    assert "domain-wide delegation" in refused.value.message
    assert google.member_ids(org.locked) == []


# -- rate limits and outages ---------------------------------------------------------------
@pytest.mark.parametrize(
    ("status", "reason"),
    [(403, "userRateLimitExceeded"), (403, "rateLimitExceeded"), (403, "quotaExceeded"), (429, "rateLimitExceeded")],
)
def test_rate_limits_are_retryable(google, org, connector, status, reason):
    google.throttle_status, google.throttle_reason = status, reason
    google.throttle(1)

    with pytest.raises(RetryableError, match=f"HTTP {status} {reason}") as throttled:
        connector.add_member(EDITORS, UserRef("alice@example.com", external_id=org.alice))

    assert throttled.value.status == status and throttled.value.retry_after is None
    assert org.alice not in google.member_ids(org.editors)


def test_it_passes_on_a_retry_after(google, org, connector):
    google.throttle_status, google.retry_after = 429, "45"
    google.throttle(1)

    with pytest.raises(RetryableError) as throttled:
        connector.remove_member(EDITORS, UserRef("bob@example.com", external_id=org.bob))

    assert throttled.value.retry_after == 45


def test_5xx_and_an_unreachable_google_are_retryable(google, org, connector):
    google.fail(1, 503)
    with pytest.raises(RetryableError, match="HTTP 503 backendError: Backend Error"):
        list(connector.iter_groups())

    url = google.base_url
    google.stop()
    unreachable = GoogleConnector(credentials=AnonymousCredentials(), api_url=f"{url}/", max_retries=0)
    try:
        with pytest.raises(RetryableError, match="Could not reach Google Workspace while trying to list groups"):
            list(unreachable.iter_groups())
    finally:
        unreachable.close()


class BareProxyGoogle(GoogleDirectoryEmulator):
    """A Directory API behind a proxy that answers 502 with an HTML page instead of Google's JSON."""

    def error_reply(self, status: int, message: str) -> Reply:
        return Reply(status, "<html><body>Bad Gateway</body></html>", content_type="text/html")


def test_a_non_json_5xx_from_a_proxy_is_retryable():
    with BareProxyGoogle() as google:
        conn = make_connector(google)
        google.fail(1, 502)
        try:
            with pytest.raises(RetryableError, match="could not list users: HTTP 502") as error:
                list(conn.iter_users())
        finally:
            conn.close()
    assert error.value.status == 502


def test_a_call_that_takes_longer_than_the_timeout_is_retryable(google, org):
    conn = make_connector(google, timeout=0.2)
    google.latency = 1.0
    try:
        with pytest.raises(RetryableError, match=r"did not answer in time while trying to add bob@example\.com"):
            conn.add_member(EDITORS, UserRef("bob@example.com", external_id=org.bob))
    finally:
        conn.close()


def test_reads_are_retried_in_the_call_and_writes_never_are(google, org, monkeypatch):
    monkeypatch.setattr("googleapiclient.http.time.sleep", lambda seconds: None)  # the library's backoff pause
    conn = make_connector(google, max_retries=2)
    try:
        google.throttle(2)
        assert len(list(conn.iter_groups())) == 2
        google.fail(1, 503)
        with pytest.raises(RetryableError, match="HTTP 503"):
            conn.add_member(EDITORS, UserRef("alice@example.com", external_id=org.alice))
    finally:
        conn.close()
    assert len(google.calls_to("GET", r"/groups$")) == 3
    assert len(google.calls_to("POST", r"/members$")) == 1


def test_it_paces_itself_below_the_configured_rate(google, org):
    pauses: list[float] = []
    conn = make_connector(google, max_requests_per_minute=2, sleep=pauses.append)
    try:
        for _ in range(3):
            list(conn.iter_groups())
    finally:
        conn.close()
    assert len(pauses) == 2 and all(20 < pause <= 30 for pause in pauses)  # 30 s apart, minus the call


def test_it_can_not_be_used_after_close(org, connector):
    connector.close()
    connector.close()
    with pytest.raises(PermanentError, match="closed"):
        list(connector.iter_groups())


def test_it_reads_several_groups_at_once_each_thread_with_its_own_client(google, org):
    google.latency = 0.3  # long enough that the two reads overlap even on a loaded machine
    conn = make_connector(google, max_requests_per_minute=0)
    try:
        found = conn.read_group_members([EDITORS, "nobody@example.com"], concurrency=2)
        one_by_one = list(conn.iter_group_members(EDITORS))
    finally:
        conn.close()
    assert found[EDITORS] == one_by_one and one_by_one
    assert found["nobody@example.com"].status == 404
    assert google.max_in_flight > 1


# -- concurrent writes -----------------------------------------------------------------------
def test_a_batch_of_writes_runs_concurrently_and_maps_each_answer_as_one_at_a_time_calls_do(google, org):
    others = [google.add_user(f"user{n}@example.com") for n in range(4)]
    google.add_group("throttled@example.com")
    google.fail_path(r"/groups/throttled%40example\.com/members$", 1, 429)  # Google's rate-limit answer
    google.throttle_status, google.retry_after = 429, "30"
    google.latency = 0.3  # long enough for the threads to overlap on a loaded machine
    batch = [
        *(
            MemberChange(MemberChange.ADD, EDITORS, UserRef(f"user{n}@example.com", external_id=others[n]))
            for n in range(4)
        ),
        MemberChange(MemberChange.ADD, EDITORS, UserRef("bob@example.com", external_id=org.bob)),  # 409 duplicate
        MemberChange(MemberChange.REMOVE, EDITORS, UserRef("charlie@example.com", external_id=org.charlie)),  # 404
        MemberChange(MemberChange.ADD, "nope@example.com", UserRef("alice@example.com", external_id=org.alice)),
        MemberChange(MemberChange.ADD, "throttled@example.com", UserRef("alice@example.com", external_id=org.alice)),
        MemberChange(MemberChange.ADD, EDITORS, UserRef("zed@example.com")),  # no such user: looked up, refused
        MemberChange(MemberChange.ADD, EDITORS, UserRef("alice@example.com")),  # by email: looked up, then added
    ]
    conn = make_connector(google)
    try:
        outcomes = conn.apply_changes(batch, concurrency=4)
        google.latency = 0
        again = conn.apply_changes(batch[:2], concurrency=4)  # a second batch on the same connector
    finally:
        conn.close()

    assert outcomes[:6] == [*[AddResult.ADDED] * 4, AddResult.ALREADY_MEMBER, RemoveResult.NOT_A_MEMBER]
    unknown_group, throttled, unknown_user = outcomes[6:9]
    assert isinstance(unknown_group, PermanentError) and unknown_group.status == 404
    assert "Resource Not Found: groupKey" in unknown_group.message
    assert isinstance(throttled, RetryableError) and throttled.throttled
    assert (throttled.status, throttled.retry_after) == (429, 30)
    assert isinstance(unknown_user, PermanentError) and unknown_user.status == 404
    assert "No Google Workspace user has the email or alias zed@example.com" in unknown_user.message
    assert outcomes[9] == AddResult.ADDED
    assert again == [AddResult.ALREADY_MEMBER] * 2
    assert set(google.member_ids(org.editors)) == {org.bob, org.alice, *others}
    assert google.member_ids(next(g for g, v in google.groups.items() if v["email"] == "throttled@example.com")) == []
    assert 1 < google.max_in_flight <= 4


@pytest.mark.parametrize(("status", "reason"), [(403, "rateLimitExceeded"), (403, "userRateLimitExceeded")])
def test_a_rate_limit_403_in_a_concurrent_batch_is_handed_back_for_that_change_only(google, org, status, reason):
    google.throttle_status, google.throttle_reason, google.retry_after = status, reason, "12"
    google.fail_path(r"/members/" + org.bob + "$", 1, 429)  # the emulator's throttled reply, as set above
    conn = make_connector(google)
    try:
        outcomes = conn.apply_changes(
            [
                MemberChange(MemberChange.REMOVE, EDITORS, UserRef("bob@example.com", external_id=org.bob)),
                MemberChange(MemberChange.ADD, EDITORS, UserRef("alice@example.com", external_id=org.alice)),
            ],
            concurrency=2,
        )
    finally:
        conn.close()

    throttled, added = outcomes
    assert isinstance(throttled, RetryableError) and throttled.throttled
    assert (throttled.status, throttled.retry_after) == (status, 12) and reason in throttled.message
    assert added == AddResult.ADDED
    assert set(google.member_ids(org.editors)) == {org.bob, org.alice}  # bob's removal did not run


def test_concurrent_writes_keep_to_the_connectors_request_pace(google, org):
    pauses: list[float] = []
    users = [google.add_user(f"user{n}@example.com") for n in range(3)]
    conn = make_connector(google, max_requests_per_minute=60, sleep=pauses.append)
    try:
        conn.apply_changes(
            [
                MemberChange(MemberChange.ADD, EDITORS, UserRef(f"user{n}@example.com", external_id=u))
                for n, u in enumerate(users)
            ],
            concurrency=3,
        )
    finally:
        conn.close()
    assert len(pauses) == 2 and all(0.5 < pause <= 1 for pause in pauses)  # one call a second, whatever the threads
    assert set(users) <= set(google.member_ids(org.editors))
