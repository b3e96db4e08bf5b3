"""The evidence benchmark's generator at N = 50, so the benchmark cannot rot: its data is what
Gatehouse would have written (the audit chain verifies, the trace and the export read it)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db.models import Max

from bench.evidence_data import EVENTS_PER_REQUEST, generate
from bench.evidence_rows import check_references
from catalog.models import Application, GroupMembership, Person
from governance.audit.chain import verify_chain
from governance.evidence.export import Period, export_evidence
from governance.evidence.trace import build_trace, timeline
from governance.models import AccessRequest, AuditEvent, Grant, GrantMembershipChange
from governance.services import Actor
from tests import company as c

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def test_it_generates_requests_grants_and_a_verifiable_audit_chain(db, tmp_path):
    result = generate(50, now=NOW)

    assert result.requests == AccessRequest.objects.count() == 50
    assert result.events == AuditEvent.objects.count() == 50 * EVENTS_PER_REQUEST
    assert result.grants == Grant.objects.count() > 0
    live = Grant.objects.filter(status__in=Grant.LIVE)
    assert GroupMembership.objects.count() == live.count() > 0  # each live grant's group membership
    assert set(AccessRequest.objects.values_list("status", flat=True)) <= {
        "fulfilled",
        "denied",
        "cancelled",
        "pending_approval",
    }
    verification = verify_chain()
    assert verification.broken is None and verification.checked == 250
    seqs_by_time = list(AuditEvent.objects.order_by("at", "seq").values_list("seq", flat=True))
    assert seqs_by_time == sorted(seqs_by_time)  # sealed in time order
    assert all(at <= NOW for at in AuditEvent.objects.values_list("at", flat=True))

    person = Person.objects.get(email=result.sample_person)
    application = Application.objects.get(slug=result.sample_application)
    trace = build_trace(person=person, application=application)
    assert trace.requests
    assert timeline(person=person, application=application).count() == EVENTS_PER_REQUEST * len(trace.requests)

    export = export_evidence(
        period=Period(result.first_request, NOW, None), file_format="csv", target=tmp_path, actor=Actor.system("t")
    )
    assert export.rows["access_changes"] == 50


def test_new_rows_after_the_generator_get_fresh_ids(db):
    generate(50, now=NOW)
    top = AccessRequest.objects.aggregate(top=Max("id"))["top"]
    person = Person.objects.first()
    app = c.app("extra")
    role = c.role(app, "user")
    request = AccessRequest.objects.create(
        requester=person, beneficiary=person, application=app, role=role, reason="after the bench"
    )
    assert request.pk > top


def test_it_names_a_generated_row_that_refers_to_no_row(db):
    generate(50, now=NOW)
    link = GrantMembershipChange.objects.first()
    GrantMembershipChange.objects.filter(pk=link.pk).update(change_id=10**9)

    with pytest.raises(AssertionError, match=r"1 rows of GrantMembershipChange\.change refer to no row"):
        check_references([GrantMembershipChange])
    GrantMembershipChange.objects.filter(pk=link.pk).update(change_id=link.change_id)  # the test database checks
    check_references([GrantMembershipChange])
