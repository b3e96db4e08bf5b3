"""end_grants: one planner for expiry and revocation, for one grant or a whole batch."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import GroupMembership
from governance.audit.services import Actor
from governance.errors import InvalidTransition
from governance.grants.changes import changes_of, queue_grant_changes
from governance.grants.ending import end_grants
from governance.models import AccessRequest, AuditEvent, Grant
from governance.transitions import move_grants
from provisioning.models import LocalMembership, MembershipChange
from tests import company as c

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
IT = Actor.system("tests")


def held_grant(person, role, group, *, status="active", hours=10):
    grant = Grant.objects.create(
        person=person,
        role=role,
        status=status,
        starts_at=T0 if status == "active" else None,
        expires_at=T0 + timedelta(hours=hours) if status == "active" else None,
    )
    added = MembershipChange(action="add", person=person, group=group, status="succeeded", result="added")
    queue_grant_changes([(added, grant)])
    LocalMembership.objects.get_or_create(person=person, group=group)
    GroupMembership.objects.get_or_create(person=person, group=group, defaults={"origin": "gatehouse", "since": T0})
    return grant


def test_it_revokes_all_of_a_leavers_grants_at_once(company, django_capture_on_commit_callbacks):
    reader = held_grant(company.bob, company.reader, company.readers)
    editor = held_grant(company.bob, company.editor, company.readers, status="pending")
    request = AccessRequest.objects.create(
        requester=company.bob,
        beneficiary=company.bob,
        application=company.wiki,
        role=company.editor,
        reason="x",
        status="provisioning",
    )
    Grant.objects.filter(pk=editor.pk).update(request=request)
    with django_capture_on_commit_callbacks(execute=True):
        ended = end_grants([reader.pk, editor.pk], outcome="revoked", actor=IT, reason="left the company")
    assert {g.pk for g in ended} == {reader.pk, editor.pk}
    for grant in (reader, editor):
        grant.refresh_from_db()
        assert (grant.status, grant.end_reason) == ("revoked", "left the company")
        assert grant.removed_at is not None
    request.refresh_from_db()
    assert request.status == "failed" and request.status_reason == "revoked: left the company"
    assert not LocalMembership.objects.filter(person=company.bob).exists()  # neither covers the other
    assert AuditEvent.objects.filter(action="grant.revoked").count() == 2


def test_it_keeps_a_group_a_grant_outside_the_batch_still_needs(company, django_capture_on_commit_callbacks):
    ending = held_grant(company.bob, company.reader, company.readers)
    staying = held_grant(company.bob, company.editor, company.readers)
    with django_capture_on_commit_callbacks(execute=True):
        end_grants([ending.pk], outcome="revoked", actor=IT, reason="not needed")
    (kept,) = changes_of(ending).filter(action="remove")
    assert (kept.status, kept.result, kept.last_error) == ("skipped", "kept", f"still granted by grant #{staying.pk}")
    assert LocalMembership.objects.filter(person=company.bob, group=company.readers).exists()


def test_expiry_leaves_grants_that_are_not_due_and_revocation_leaves_ended_ones(company):
    later = held_grant(company.bob, company.reader, company.readers, hours=10)
    ended = held_grant(company.charlie, company.reader, company.readers)
    Grant.objects.filter(pk=ended.pk).update(status="expired")
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert end_grants([later.pk], outcome="expired", actor=IT) == []
    assert end_grants([ended.pk], outcome="revoked", actor=IT, reason="x") == []
    assert not AuditEvent.objects.exists()


def test_it_refuses_an_unknown_outcome(company):
    with pytest.raises(ValueError, match="outcome"):
        end_grants([], outcome="deleted", actor=IT)


def test_a_bulk_move_checks_every_grant_against_the_table_before_writing(company):
    active = held_grant(company.bob, company.reader, company.readers)
    failed = held_grant(company.charlie, company.reader, company.readers)
    Grant.objects.filter(pk=failed.pk).update(status="failed")
    failed.refresh_from_db()
    with pytest.raises(InvalidTransition):
        move_grants([active, failed], "revoked", actor=IT, message="x")
    assert Grant.objects.get(pk=active.pk).status == "active"
    assert not AuditEvent.objects.exists()


def queries_to_revoke(company, count, prefix):
    ids = []
    for i in range(count):
        person = c.person(f"{prefix}{i}@example.com")
        ids.append(held_grant(person, company.reader, company.readers).pk)
        ids.append(held_grant(person, company.editor, company.editors).pk)
    with CaptureQueriesContext(connection) as queries:
        assert len(end_grants(ids, outcome="revoked", actor=IT, reason="leaver")) == 2 * count
    return len(queries)


def test_it_revokes_a_batch_in_a_fixed_number_of_queries(company):
    assert queries_to_revoke(company, 3, "a") == queries_to_revoke(company, 30, "b")
