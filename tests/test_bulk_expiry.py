"""The batched expiry path gives the same outcome as ending grants one by one, in fixed queries."""

from datetime import UTC, datetime, timedelta

import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import GroupMembership
from governance.grants.bulk_expiry import expire_due_batch
from governance.models import AuditEvent, Grant, GrantMembershipChange
from provisioning.models import LocalMembership, MembershipChange
from tests import company as c

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def active_grant(person, role, hours, group):
    grant = Grant.objects.create(
        person=person,
        role=role,
        status="active",
        duration=timedelta(hours=hours),
        starts_at=T0,
        expires_at=T0 + timedelta(hours=hours),
    )
    change = MembershipChange.objects.create(
        action="add",
        person=person,
        group=group,
        status="succeeded",
        result="added",
        attempts=1,
        next_attempt_at=T0,
    )
    GrantMembershipChange.objects.create(grant=grant, change=change)
    LocalMembership.objects.get_or_create(person=person, group=group)
    GroupMembership.objects.get_or_create(person=person, group=group, defaults={"origin": "gatehouse", "since": T0})
    return grant


def test_it_removes_a_group_once_both_grants_in_the_batch_end(company, django_capture_on_commit_callbacks):
    both = [active_grant(company.bob, role, 1, company.readers) for role in (company.reader, company.editor)]
    with time_machine.travel(T0 + timedelta(hours=2), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert expire_due_batch() == 2
    assert not LocalMembership.objects.filter(person=company.bob).exists()
    for grant in both:
        grant.refresh_from_db()
        assert grant.status == "expired" and grant.removed_at is not None


def test_it_keeps_what_a_live_grant_or_the_provider_still_explains(company, django_capture_on_commit_callbacks):
    ending = active_grant(company.bob, company.reader, 1, company.readers)
    active_grant(company.bob, company.editor, 10, company.readers)  # still live: maps to readers too
    standing = active_grant(company.charlie, company.reader, 1, company.readers)
    GroupMembership.objects.filter(person=company.charlie).update(origin="external")
    with time_machine.travel(T0 + timedelta(hours=2), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert expire_due_batch() == 2
    assert LocalMembership.objects.filter(person=company.bob).exists()
    assert LocalMembership.objects.filter(person=company.charlie).exists()
    kept = dict(MembershipChange.objects.filter(result="kept").values_list("grant_link__grant_id", "last_error"))
    assert kept[ending.pk].startswith("still granted by grant #")
    assert kept[standing.pk] == "the membership existed before Gatehouse granted it"
    assert AuditEvent.objects.filter(action="membership.kept").count() == 2


def queries_to_end(company, count, prefix):
    for i in range(count):
        active_grant(c.person(f"{prefix}{i}@example.com"), company.reader, 1 + i % 3, company.readers)
    with time_machine.travel(T0 + timedelta(hours=5), tick=False), CaptureQueriesContext(connection) as queries:
        assert expire_due_batch() == count
    return len(queries)


def test_it_ends_a_batch_in_a_fixed_number_of_queries(company):
    assert queries_to_end(company, 5, "a") == queries_to_end(company, 40, "b")


def test_with_slack_on_the_holders_dms_add_no_queries_per_grant(company, slack_on):
    from governance.models import OutboundMessage

    assert queries_to_end(company, 5, "a") == queries_to_end(company, 40, "b")
    assert (
        OutboundMessage.objects.filter(channel="slack", subject="Your Wiki / Reader access has expired").count() == 45
    )
