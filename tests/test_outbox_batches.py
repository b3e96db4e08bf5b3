"""The membership outbox drains set-based: a task fills its batch with the most urgent due rows,
the local directory writes a batch in a fixed number of queries, and a batch's successes settle
(memberships, audit events, grant activation, removal confirmed) in a fixed number of queries."""

from __future__ import annotations

from datetime import timedelta

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from catalog.models import GroupMembership, Person
from governance.audit.models import AuditEvent
from governance.grants import changes
from governance.models import Grant
from provisioning.connectors.base import AddResult, MemberChange, PermanentError, RemoveResult, UserRef
from provisioning.connectors.local.connector import LocalConnector
from provisioning.models import LocalMembership, MembershipChange
from provisioning.outbox import services as provisioning
from tests import company as c


def local_change(action: str, group: str, email: str) -> MemberChange:
    return MemberChange(action, group, UserRef(email=email))


def test_the_local_directory_answers_each_change_of_a_batch(company):
    LocalMembership.objects.create(person=company.bob, group=company.readers)
    batch = [
        local_change("add", "wiki-readers", "bob@example.com"),  # already in
        local_change("add", "wiki-editors", "BOB@example.com"),  # another spelling of the address
        local_change("remove", "wiki-readers", "charlie@example.com"),  # not in
        local_change("add", "wiki-readers", "nobody@example.com"),
        local_change("remove", "no-such-group", "bob@example.com"),
    ]

    outcomes = LocalConnector().apply_changes(batch)

    assert outcomes[:3] == [AddResult.ALREADY_MEMBER, AddResult.ADDED, RemoveResult.NOT_A_MEMBER]
    assert isinstance(outcomes[3], PermanentError) and "nobody@example.com" in str(outcomes[3])
    assert isinstance(outcomes[4], PermanentError) and "no-such-group" in str(outcomes[4])
    assert set(LocalMembership.objects.values_list("person__email", "group__name")) == {
        ("bob@example.com", "wiki-readers"),
        ("bob@example.com", "wiki-editors"),
    }
    assert LocalConnector().apply_changes([local_change("remove", "wiki-editors", "bob@example.com")]) == [
        RemoveResult.REMOVED
    ]


def test_the_local_directory_writes_a_batch_in_a_fixed_number_of_queries(db):
    group = c.group("big")
    people = Person.objects.bulk_create([Person(email=f"p{i}@example.com", name=f"P{i}") for i in range(40)])
    LocalMembership.objects.bulk_create([LocalMembership(person=p, group=group) for p in people[20:]])

    def queries_for(batch: list[MemberChange]) -> int:
        with CaptureQueriesContext(connection) as captured:
            LocalConnector().apply_changes(batch)
        return len(captured)

    small = queries_for(
        [local_change("add", "big", "p0@example.com"), local_change("remove", "big", "p20@example.com")]
    )
    large = queries_for(
        [local_change("add", "big", f"p{i}@example.com") for i in range(1, 20)]
        + [local_change("remove", "big", f"p{i}@example.com") for i in range(21, 40)]
    )
    assert large == small
    assert LocalMembership.objects.filter(group=group).count() == 20


def test_a_task_also_takes_the_most_urgent_due_rows(company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):  # no task runs: the rows wait
        add = provisioning.queue_change(action="add", person=company.bob, group=company.readers)
        removal = provisioning.queue_change(action="remove", person=company.charlie, group=company.editors)

    delivered = provisioning.membership_outbox.deliver([add.pk])  # the add's own task

    assert {row.pk for row in delivered} == {add.pk, removal.pk}
    assert set(MembershipChange.objects.values_list("status", flat=True)) == {"succeeded"}
    with CaptureQueriesContext(connection) as captured:
        assert provisioning.membership_outbox.deliver([removal.pk]) == []  # the removal's own task: nothing left
    # Such a task costs its claim only (the most urgent due rows, the conditional update): no
    # connector is readied for rows it did not get.
    assert len(captured) == 2, [query["sql"] for query in captured]


def test_a_single_change_run_by_hand_claims_only_itself(company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        first = provisioning.queue_change(action="add", person=company.bob, group=company.readers)
        other = provisioning.queue_change(action="add", person=company.charlie, group=company.readers)

    assert provisioning.execute_change(first.pk).status == "succeeded"
    other.refresh_from_db()
    assert other.status == "queued"


def pending_grants(role, people: list[Person]) -> list[MembershipChange]:
    """Pending grants of `role` for `people`, their adds queued (not yet run)."""
    grants = Grant.objects.bulk_create(
        [Grant(person=p, role=role, status="pending", duration=timedelta(days=1)) for p in people]
    )
    group = role.group_mappings.get().group
    planned = [(MembershipChange(action="add", person=g.person, group=group), g) for g in grants]
    return changes.queue_grant_changes(planned)


def test_a_batch_of_adds_settles_in_a_fixed_number_of_queries(company, django_capture_on_commit_callbacks):
    people = Person.objects.bulk_create([Person(email=f"n{i}@example.com", name=f"N{i}") for i in range(30)])

    def settle(batch: list[Person]) -> int:
        with django_capture_on_commit_callbacks(execute=False):
            queued = pending_grants(company.reader, batch)
        with CaptureQueriesContext(connection) as captured:
            provisioning.membership_outbox.deliver([change.pk for change in queued], fill=False)
        return len(captured)

    assert settle(people[:3]) == settle(people[3:])

    grants = Grant.objects.filter(person__in=people)
    assert set(grants.values_list("status", flat=True)) == {"active"}
    assert all(g.expires_at == g.starts_at + timedelta(days=1) for g in grants)
    assert GroupMembership.objects.filter(person__in=people, origin="gatehouse").count() == 30
    for action in ("membership.added", "grant.active", "grant.expiry_scheduled"):
        assert AuditEvent.objects.filter(action=action, grant__in=grants).count() == 30, action


def test_a_grant_with_two_groups_is_active_only_once_both_are_added(company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        grant = Grant.objects.create(person=company.bob, role=company.editor, status="pending")
        queued = [
            changes.queue_grant_change(grant, action="add", group=group) for group in (company.editors, company.readers)
        ]

    provisioning.execute_change(queued[0].pk)
    grant.refresh_from_db()
    assert grant.status == "pending"

    provisioning.execute_change(queued[1].pk)
    grant.refresh_from_db()
    assert grant.status == "active"
    assert AuditEvent.objects.filter(grant=grant, action="grant.active").count() == 1


def test_behind_a_backlog_of_grants_a_task_takes_the_removal_first(company, django_capture_on_commit_callbacks):
    size = provisioning.membership_outbox.policy().batch_size
    people = Person.objects.bulk_create([Person(email=f"b{i}@example.com", name=f"B{i}") for i in range(2 * size)])
    with django_capture_on_commit_callbacks(execute=False):
        backlog = pending_grants(company.reader, people)
        removal = provisioning.queue_change(action="remove", person=company.charlie, group=company.editors)

    delivered = provisioning.membership_outbox.deliver([backlog[0].pk])  # the oldest task of the backlog

    assert removal.pk in {row.pk for row in delivered}
    assert len(delivered) == size + 1  # its own row, then a batch of the most urgent others


def test_an_add_the_provider_made_is_ours_even_if_a_sync_recorded_it_first(company, django_capture_on_commit_callbacks):
    """A sync that lists the group between the provider's answer and the settle records the
    membership as found there; the settle then knows better: Gatehouse added it, so the grant's
    end removes it."""
    with django_capture_on_commit_callbacks(execute=False):
        (change,) = pending_grants(company.reader, [company.charlie])
    GroupMembership.objects.create(
        person=company.charlie, group=company.readers, origin="external", since=timezone.now()
    )
    assert not LocalMembership.objects.filter(person=company.charlie, group=company.readers).exists()

    provisioning.membership_outbox.deliver([change.pk])

    change.refresh_from_db()
    assert change.result == "added"
    membership = GroupMembership.objects.get(person=company.charlie, group=company.readers)
    assert membership.origin == "gatehouse"
