"""Rows that fall due while a task waits on the provider join the calls under way, through the
real outbox, the Okta SDK and the wire emulator: a change queued while every worker is in a call
need not wait for one to finish."""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from catalog.models import GroupMembership, IdpGroup, Person
from lib.outbox.models import Priority
from provisioning.models import MembershipChange
from provisioning.outbox.services import membership_outbox
from tests.emulators.okta import OktaEmulator

pytestmark = [pytest.mark.django_db]
TOKEN = "join-token"
LATENCY = 0.5  # seconds Okta takes to answer each call
DUE_LATER = timedelta(seconds=0.1)  # falls due while the first call is under way


@pytest.fixture
def okta(monkeypatch, settings):
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    with OktaEmulator(TOKEN) as emulator:
        settings.OKTA = {"ORG_URL": emulator.base_url, "API_TOKEN": TOKEN}
        yield emulator


@pytest.fixture
def group(okta) -> IdpGroup:
    group_id = okta.add_group(f"join-{uuid.uuid4().hex[:6]}")
    return IdpGroup.objects.create(connector="okta", external_id=group_id, name=group_id)


def change(okta, group: IdpGroup, *, due_in: timedelta = timedelta(0), action: str = "add", person=None):
    if person is None:
        email = f"p-{uuid.uuid4().hex[:6]}@example.com"
        person = Person.objects.create(email=email, name=email, directory="okta", external_id=okta.add_user(email))
    return MembershipChange.objects.create(
        action=action,
        person=person,
        group=group,
        priority=Priority.GRANT if action == "add" else Priority.REVOCATION,
        next_attempt_at=timezone.now() + due_in,
    )


def writes(okta) -> dict[str, Any]:
    """Okta user id -> its membership write as Okta saw it (arrival, answer)."""
    return {call.path.rsplit("/", 1)[-1]: call for call in okta.calls if call.method in ("PUT", "DELETE")}


def test_a_change_due_while_the_task_waits_on_okta_joins_the_call_under_way(okta, group):
    okta.latency = LATENCY
    first = change(okta, group)
    later = change(okta, group, due_in=DUE_LATER)

    taken = membership_outbox.deliver([first.pk])

    assert {row.pk for row in taken} == {first.pk, later.pk}
    for row in (first, later):
        row.refresh_from_db()
        assert (row.status, row.result, row.attempts) == ("succeeded", "added", 1)
    seen = writes(okta)
    # The second write reached Okta before the first was answered.
    assert seen[later.person.external_id].at < seen[first.person.external_id].answered_at
    assert okta.max_in_flight == 2
    assert sorted(okta.member_ids(group.external_id)) == sorted([first.person.external_id, later.person.external_id])


def test_no_change_joins_when_the_provider_allows_no_more_calls_at_once(okta, group, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "PROVIDER_CONCURRENCY_BY_NAME": {"okta": 1}}
    okta.latency = LATENCY
    first = change(okta, group)
    later = change(okta, group, due_in=DUE_LATER)

    taken = membership_outbox.deliver([first.pk])

    assert [row.pk for row in taken] == [first.pk]
    later.refresh_from_db()
    assert later.status == "queued" and later.attempts == 0
    assert okta.max_in_flight == 1


def test_a_task_for_named_rows_only_takes_no_others(okta, group):
    okta.latency = LATENCY
    first = change(okta, group)
    later = change(okta, group, due_in=DUE_LATER)

    delivered = membership_outbox.deliver_one(first.pk)

    assert delivered is not None and delivered.pk == first.pk
    later.refresh_from_db()
    assert later.status == "queued"
    assert list(writes(okta)) == [first.person.external_id]


def test_a_joined_change_to_a_membership_under_way_waits_for_it_to_settle(okta, group):
    okta.latency = LATENCY
    add = change(okta, group)
    remove = change(okta, group, due_in=DUE_LATER, action="remove", person=add.person)

    taken = membership_outbox.deliver([add.pk])

    assert {row.pk for row in taken} == {add.pk, remove.pk}
    add.refresh_from_db()
    remove.refresh_from_db()
    assert (add.status, remove.status, remove.result) == ("succeeded", "succeeded", "removed")
    assert remove.finished_at > add.finished_at
    put, delete = [call for call in okta.calls if call.method in ("PUT", "DELETE")]
    assert (put.method, delete.method) == ("PUT", "DELETE")
    assert delete.at >= put.answered_at  # the removal was sent after the add was answered
    assert okta.member_ids(group.external_id) == []
    assert not GroupMembership.objects.filter(person=add.person, group=group).exists()


@pytest.fixture
def graph():
    from provisioning import connectors
    from tests.emulators.graph import GraphEmulator
    from tests.test_entra_connector import make_connector

    with GraphEmulator() as emulator:
        original = connectors._FACTORIES["entra"]
        connectors.register("entra", lambda: make_connector(emulator))
        yield emulator
        connectors.register("entra", original)


@pytest.mark.filterwarnings("ignore:This class is deprecated:DeprecationWarning")
@pytest.mark.filterwarnings("ignore:GetQueryParameters is deprecated:DeprecationWarning")
def test_writes_under_way_at_two_providers_each_on_its_own_loop_both_progress(okta, group, graph):
    okta.latency = graph.latency = LATENCY
    at_okta = change(okta, group)
    user = graph.add_user("eve@example.com", "Eve")
    editors = graph.add_group("wiki-editors")
    person = Person.objects.create(email=user.mail, name=user.mail, directory="entra", external_id=user.id)
    entra_group = IdpGroup.objects.create(connector="entra", external_id=editors.id, name="wiki-editors")
    at_entra = MembershipChange.objects.create(
        action="add", person=person, group=entra_group, priority=Priority.GRANT, next_attempt_at=timezone.now()
    )

    membership_outbox.deliver([at_okta.pk, at_entra.pk])

    for row in (at_okta, at_entra):
        row.refresh_from_db()
        assert (row.status, row.result) == ("succeeded", "added")
    (okta_write,) = [call for call in okta.calls if call.method == "PUT"]
    (graph_write,) = [call for call in graph.calls if call.method == "POST"]
    # Each write reached its provider before the other was answered: neither waited for the other.
    assert graph_write.at < okta_write.answered_at and okta_write.at < graph_write.answered_at


def test_the_look_for_rows_to_join_is_one_statement_and_sees_due_rows_only(okta, group, django_assert_num_queries):
    later = change(okta, group, due_in=timedelta(minutes=5))
    with django_assert_num_queries(1):
        assert membership_outbox._any_due() is False
    MembershipChange.objects.filter(pk=later.pk).update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    assert membership_outbox._any_due() is True
    MembershipChange.objects.filter(pk=later.pk).update(status="running")
    assert membership_outbox._any_due() is False
