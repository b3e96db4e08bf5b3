"""The membership drain against the emulated providers: the shared rate budget, hand-back instead
of sleeping, concurrent calls within the provider's limit, no read before write, long-lived
clients. Through the real outbox, the real SDKs and the wire emulators."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.utils import timezone

from catalog.models import IdpGroup, Person
from lib.outbox.models import Priority
from provisioning import connectors
from provisioning.connectors.pool import shared_connector
from provisioning.models import MembershipChange, RateBucket
from provisioning.outbox.services import membership_outbox
from tests.emulators.graph import GraphEmulator
from tests.emulators.okta import OktaEmulator

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning"),
    pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning"),
]
TOKEN = "drain-token"
BUCKET = "okta:/api/v1/groups"
START = datetime(2026, 6, 1, 9, 0, 10, tzinfo=UTC)  # ten seconds into Okta's calendar minute
RESET = datetime(2026, 6, 1, 9, 1, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _loopback_http(monkeypatch):
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")


@pytest.fixture
def okta():
    with OktaEmulator(TOKEN) as emulator:
        yield emulator


@pytest.fixture
def okta_settings(settings, okta):
    # In-call rate-limit retries allowed, but only for waits under a second: none here.
    settings.OKTA = {
        "ORG_URL": okta.base_url,
        "API_TOKEN": TOKEN,
        "RATE_LIMIT_MAX_RETRIES": 1,
        "RATE_LIMIT_MAX_WAIT_SECONDS": 0.5,
    }
    return settings


def changes(okta: OktaEmulator, count: int, *, known_ids: bool = True, action: str = "add") -> list[MembershipChange]:
    """`count` people known to Okta (and, by default, to Gatehouse by their Okta id)."""
    group_id = okta.add_group(f"drain-{uuid.uuid4().hex[:6]}")
    group = IdpGroup.objects.create(connector="okta", external_id=group_id, name=group_id)
    rows = []
    for number in range(count):
        email = f"p{number}-{uuid.uuid4().hex[:6]}@example.com"
        user_id = okta.add_user(email)
        extra = {"directory": "okta", "external_id": user_id} if known_ids else {}
        person = Person.objects.create(email=email, name=email, **extra)
        rows.append(MembershipChange(action=action, person=person, group=group, next_attempt_at=timezone.now()))
    for row in rows:
        row.priority = Priority.GRANT
    return MembershipChange.objects.bulk_create(rows)


def drain(rows: list[MembershipChange]) -> dict[str, MembershipChange]:
    membership_outbox.deliver([row.pk for row in rows])
    return {row.person.email: row for row in MembershipChange.objects.filter(id__in=[r.pk for r in rows])}


def test_a_batch_calls_the_provider_concurrently_within_its_limit_and_reads_nothing(okta, okta_settings):
    okta_settings.GATEHOUSE = {**okta_settings.GATEHOUSE, "PROVIDER_CONCURRENCY_BY_NAME": {"okta": 3}}
    okta.latency = 0.05
    rows = changes(okta, 12)

    settled = drain(rows)

    assert {(row.status, row.result) for row in settled.values()} == {("succeeded", "added")}
    assert okta.max_in_flight == 3
    assert [call.method for call in okta.calls] == ["PUT"] * 12  # no GET before a write
    group = rows[0].group.external_id
    assert sorted(okta.member_ids(group)) == sorted(row.person.external_id for row in rows)


def test_a_person_without_a_known_id_is_looked_up_once_per_process(okta, okta_settings):
    first, second = changes(okta, 2, known_ids=False)
    again = MembershipChange.objects.create(
        action="remove", person=first.person, group=second.group, next_attempt_at=timezone.now()
    )

    drain([first, second])
    drain([again])

    lookups = [call.path for call in okta.calls if call.method == "GET"]
    assert sorted(lookups) == sorted(f"/api/v1/users/{row.person.email}" for row in (first, second))
    assert [call.method for call in okta.calls].count("DELETE") == 1


def test_a_spent_bucket_hands_rows_back_until_its_reset_without_sleeping(okta, okta_settings):
    okta.bucket_limits = {"/api/v1/groups": 4}
    with time_machine.travel(START, tick=False):
        settled = drain(changes(okta, 6))
        states = sorted((row.status, row.attempts, row.next_attempt_at) for row in settled.values())
        # Okta served four; the two it throttled go back to the reset, not counted as attempts.
        assert [state[:2] for state in states] == [("queued", 0)] * 2 + [("succeeded", 1)] * 4
        assert all(RESET <= state[2] <= RESET + timedelta(seconds=2) for state in states[:2])
        assert not any("x-okta-retry-count" in call.headers for call in okta.calls)  # the SDK did not wait
        assert RateBucket.objects.get(key=BUCKET).remaining == 0

        calls_before = len(okta.calls)
        later = drain(changes(okta, 3))

    # The budget knew the bucket was spent: nothing was sent, everything waits for the reset.
    assert len(okta.calls) == calls_before + 0
    assert {(row.status, row.attempts) for row in later.values()} == {("queued", 0)}
    # The reset, plus the second lib.http adds for Okta's whole-second headers.
    reason = f"rate budget of {BUCKET} spent until 09:01:01 UTC"
    assert {row.last_error.split(";")[0] for row in later.values()} == {reason}


def test_the_budget_follows_oktas_remaining_count_across_workers(okta, okta_settings):
    """Another worker (or a sync) spent the bucket: Okta's X-Rate-Limit-Remaining tells this one."""
    okta.bucket_limits = {"/api/v1/groups": 5}
    with time_machine.travel(START, tick=False):
        okta._bucket_windows["/api/v1/groups"] = [int(START.timestamp()) // 60 * 60, 3]  # spent elsewhere
        first = drain(changes(okta, 1))
        assert RateBucket.objects.get(key=BUCKET).remaining == 1
        second = drain(changes(okta, 3))

    assert [row.status for row in first.values()] == ["succeeded"]
    assert sorted(row.status for row in second.values()) == ["queued", "queued", "succeeded"]
    assert okta.rate_limited == 0  # the budget stopped the calls before Okta had to


def test_long_lived_clients_are_reused_across_batches_and_rebuilt_when_settings_change(okta, okta_settings):
    first = shared_connector("okta")
    drain(changes(okta, 1))
    drain(changes(okta, 1))
    assert shared_connector("okta") is first

    okta_settings.OKTA = {**okta_settings.OKTA, "REQUEST_TIMEOUT_SECONDS": 12}
    assert shared_connector("okta") is not first


@pytest.fixture
def graph():
    with GraphEmulator() as emulator:
        yield emulator


@pytest.fixture
def entra_registered(graph):
    from tests.test_entra_connector import make_connector

    original = connectors._FACTORIES["entra"]
    connectors.register("entra", lambda: make_connector(graph))
    yield graph
    connectors.register("entra", original)


def test_a_429_with_retry_after_hands_the_row_back_and_closes_the_bucket(entra_registered):
    graph = entra_registered
    bob = graph.add_user("bob@example.com", "Bob Builder")
    editors = graph.add_group("wiki-editors")
    person = Person.objects.create(email="bob@example.com", name="Bob", directory="entra", external_id=bob.id)
    group = IdpGroup.objects.create(connector="entra", external_id=editors.id, name="wiki-editors")
    graph.retry_after = "40"  # past the longest in-call wait: the SDK must not sleep through it
    graph.throttle(1)
    with time_machine.travel(START, tick=False):
        change = MembershipChange.objects.create(action="add", person=person, group=group, next_attempt_at=START)
        membership_outbox.deliver([change.pk])
        change.refresh_from_db()
        closed = RateBucket.objects.get(key="entra:/groups/{id}/members/$ref")

    assert (change.status, change.attempts, change.maybe_applied) == ("queued", 0, False)
    assert change.next_attempt_at == START + timedelta(seconds=40)
    assert "throttled by the provider" in change.last_error
    assert (closed.remaining, closed.reset_at) == (0, START.timestamp() + 40)
    assert len(graph.calls) == 1


def test_entra_writes_of_a_batch_run_concurrently_within_the_limit(entra_registered, settings):
    graph = entra_registered
    settings.GATEHOUSE = {**settings.GATEHOUSE, "PROVIDER_CONCURRENCY_BY_NAME": {"entra": 2}}
    editors = graph.add_group("wiki-editors")
    group = IdpGroup.objects.create(connector="entra", external_id=editors.id, name="wiki-editors")
    rows = []
    for number in range(6):
        user = graph.add_user(f"u{number}@example.com", f"User {number}")
        person = Person.objects.create(email=user.mail, name=user.mail, directory="entra", external_id=user.id)
        rows.append(MembershipChange(action="add", person=person, group=group, next_attempt_at=timezone.now()))
    rows = MembershipChange.objects.bulk_create(rows)
    graph.latency = 0.05

    settled = drain(rows)

    assert {(row.status, row.result) for row in settled.values()} == {("succeeded", "added")}
    assert graph.max_in_flight == 2
    assert [call.method for call in graph.calls] == ["POST"] * 6  # ids from sync: no look-up


@pytest.fixture
def google_registered():
    from tests.emulators.google import GoogleDirectoryEmulator
    from tests.test_google_connector import make_connector

    with GoogleDirectoryEmulator() as google:
        original = connectors._FACTORIES["google"]
        connectors.register("google", lambda: make_connector(google))
        yield google
        connectors.register("google", original)


def test_google_writes_of_a_batch_run_concurrently_within_the_limit(google_registered, settings):
    google = google_registered
    settings.GATEHOUSE = {**settings.GATEHOUSE, "PROVIDER_CONCURRENCY_BY_NAME": {"google": 3}}
    group_id = google.add_group("wiki-editors@example.com")
    group = IdpGroup.objects.create(connector="google", external_id="wiki-editors@example.com", name="wiki-editors")
    rows = []
    for number in range(7):
        email = f"u{number}@example.com"
        user_id = google.add_user(email)
        if number == 0:
            google.add_member(group_id, user_id)  # already a member: 409 duplicate
        person = Person.objects.create(email=email, name=email, directory="google", external_id=user_id)
        rows.append(MembershipChange(action="add", person=person, group=group, next_attempt_at=timezone.now()))
    rows = MembershipChange.objects.bulk_create(rows)
    google.latency = 0.3  # long enough for the threads to overlap on a loaded machine

    settled = drain(rows)

    assert settled["u0@example.com"].result == "already_member"
    assert {(row.status, row.result) for email, row in settled.items() if email != "u0@example.com"} == {
        ("succeeded", "added")
    }
    assert 1 < google.max_in_flight <= 3
    assert [call.method for call in google.calls] == ["POST"] * 7  # ids from sync: no look-up
