"""Drift between grants and provider memberships, detected after a sync (local connector)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from catalog.models import GroupMembership, Person
from governance import services
from governance.drift.services import detect_drift
from governance.models import AuditEvent, DriftFinding, Grant
from provisioning.models import LocalMembership, MembershipChange
from provisioning.sync.services import sync_directory
from tests import company as c

K = DriftFinding.Kind
S = DriftFinding.Status


def grant_editor(company, django_capture_on_commit_callbacks) -> Grant:
    """bob asks for wiki editor; alice (his manager) approves; the local directory adds him."""
    with django_capture_on_commit_callbacks(execute=True):
        req, _ = services.submit_request(
            data=services.RequestInput(
                jira_issue_key="IT-1",
                requester="bob@example.com",
                application="wiki",
                role="editor",
                duration=timedelta(days=1),
                reason="docs sprint",
            )
        )
    with django_capture_on_commit_callbacks(execute=True):
        services.decide_step(request=req, actor=services.Actor.of_person(company.alice), approve=True)
    grant = Grant.objects.get(request=req)
    assert grant.status == Grant.Status.ACTIVE
    return grant


def sync_and_detect(callbacks):
    with callbacks(execute=True):
        run = sync_directory("local")
        assert run.status == "succeeded", run.error
        return detect_drift(connector="local")


def test_it_finds_no_drift_when_grants_and_memberships_agree(company, django_capture_on_commit_callbacks):
    grant_editor(company, django_capture_on_commit_callbacks)
    report = sync_and_detect(django_capture_on_commit_callbacks)
    assert (report.unexplained, report.missing) == (0, 0)
    assert not DriftFinding.objects.exists()


def test_it_repairs_a_missing_membership_through_the_outbox(company, django_capture_on_commit_callbacks):
    grant = grant_editor(company, django_capture_on_commit_callbacks)
    LocalMembership.objects.filter(person=company.bob, group=company.editors).delete()  # removed at the provider
    report = sync_and_detect(django_capture_on_commit_callbacks)
    assert (report.missing, report.repaired) == (1, 1)
    finding = DriftFinding.objects.get()
    assert (finding.kind, finding.status, finding.grant, finding.group) == (
        K.MISSING_MEMBERSHIP,
        S.REPAIRED,
        grant,
        company.editors,
    )
    change = MembershipChange.objects.filter(person=company.bob, group=company.editors).latest("id")
    assert (change.action, change.status, change.result, change.grants.get()) == ("add", "succeeded", "added", grant)
    assert LocalMembership.objects.filter(person=company.bob, group=company.editors).exists()
    event = AuditEvent.objects.get(action="drift.repair_queued")
    assert event.grant == grant and event.data["finding"] == finding.pk
    assert "wiki-editors" in event.message

    again = sync_and_detect(django_capture_on_commit_callbacks)
    assert (again.missing, again.resolved) == (0, 1)
    finding.refresh_from_db()
    assert finding.resolved_at is not None and finding.status == S.REPAIRED


def test_it_reports_an_unexplained_member_and_never_removes_them(company, django_capture_on_commit_callbacks):
    LocalMembership.objects.create(person=company.charlie, group=company.readers)  # added by hand in the IdP
    report = sync_and_detect(django_capture_on_commit_callbacks)
    assert report.unexplained == 1
    finding = DriftFinding.objects.get()
    assert (finding.kind, finding.status, finding.person, finding.grant) == (
        K.UNEXPLAINED_MEMBER,
        S.OPEN,
        company.charlie,
        None,
    )
    assert LocalMembership.objects.filter(person=company.charlie, group=company.readers).exists()
    assert not MembershipChange.objects.filter(person=company.charlie).exists()
    assert AuditEvent.objects.filter(action="drift.unexplained_member", subject=company.charlie).count() == 1

    sync_and_detect(django_capture_on_commit_callbacks)  # seen again: still one finding, no second event
    assert DriftFinding.objects.count() == 1
    assert AuditEvent.objects.filter(action="drift.unexplained_member").count() == 1
    assert LocalMembership.objects.filter(person=company.charlie, group=company.readers).exists()

    LocalMembership.objects.filter(person=company.charlie).delete()
    report = sync_and_detect(django_capture_on_commit_callbacks)
    finding.refresh_from_db()
    assert report.resolved == 1 and finding.status == S.RESOLVED and finding.resolved_at is not None


def test_a_member_with_a_live_grant_or_added_by_gatehouse_is_not_unexplained(
    company, django_capture_on_commit_callbacks
):
    grant_editor(company, django_capture_on_commit_callbacks)
    GroupMembership.objects.filter(person=company.bob).update(origin=GroupMembership.Origin.EXTERNAL)
    assert sync_and_detect(django_capture_on_commit_callbacks).unexplained == 0


def test_groups_of_draft_applications_are_not_watched(company, django_capture_on_commit_callbacks):
    draft = c.app("figma", status="draft")
    group = c.group("figma-users")
    c.role(draft, "user", group)
    LocalMembership.objects.create(person=company.charlie, group=group)
    report = sync_and_detect(django_capture_on_commit_callbacks)
    assert report.unexplained == 0
    assert GroupMembership.objects.filter(person=company.charlie, group=group).exists()  # still mirrored


def test_a_missing_membership_of_a_deprovisioned_person_is_reported_not_repaired(
    company, django_capture_on_commit_callbacks
):
    grant_editor(company, django_capture_on_commit_callbacks)
    LocalMembership.objects.filter(person=company.bob, group=company.editors).delete()
    Person.objects.filter(pk=company.bob.pk).update(status=Person.Status.DEPROVISIONED)
    adds_before = MembershipChange.objects.filter(action="add").count()
    report = sync_and_detect(django_capture_on_commit_callbacks)
    assert (report.missing, report.repaired) == (1, 0)
    assert DriftFinding.objects.get().status == S.OPEN
    assert MembershipChange.objects.filter(action="add").count() == adds_before


def test_the_governance_task_syncs_then_detects(company, django_capture_on_commit_callbacks):
    from governance.tasks import sync_directories_and_detect_drift
    from tests.fake_directory import FakeDirectory

    idp = FakeDirectory("driftidp").install()
    idp.user("x1", "charlie@example.com", "Charlie Outsider")
    idp.group("ops", "ops", "x1")
    ops = c.group("ops", connector="driftidp")
    ops.external_id = "ops"
    ops.save()
    c.role(company.wiki, "ops", ops)
    with django_capture_on_commit_callbacks(execute=True):
        result = sync_directories_and_detect_drift()
    assert result["driftidp"]["unexplained"] == 1
    assert DriftFinding.objects.get().group == ops


@pytest.fixture
def api(db) -> APIClient:
    _, raw = services.create_api_token(name="jira", scopes="all", actor=services.Actor.system("test"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def test_the_api_lists_findings_by_status_and_kind(api, company, django_capture_on_commit_callbacks):
    LocalMembership.objects.create(person=company.charlie, group=company.readers)
    sync_and_detect(django_capture_on_commit_callbacks)
    body = api.get("/api/v1/drift/", {"status": "open", "kind": "unexplained_member"}).json()
    assert [(f["person"], f["group"], f["connector"], f["grant"]) for f in body] == [
        ("charlie@example.com", "wiki-readers", "local", None)
    ]
    assert api.get("/api/v1/drift/", {"kind": "missing_membership"}).json() == []
    assert api.get("/api/v1/drift/", {"status": "resolved"}).json() == []


def test_the_api_rejects_bad_filters_and_missing_tokens(api):
    response = api.get("/api/v1/drift/", {"kind": "bogus"})
    assert response.status_code == 400 and response.json()["error"]["fields"]["kind"]
    assert APIClient().get("/api/v1/drift/").status_code == 401


def test_detecting_again_with_nothing_changed_writes_nothing(company, django_capture_on_commit_callbacks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    grant_editor(company, django_capture_on_commit_callbacks)
    LocalMembership.objects.create(person=company.charlie, group=company.readers)
    sync_and_detect(django_capture_on_commit_callbacks)
    with CaptureQueriesContext(connection) as ctx:
        report = detect_drift(connector="local")
    assert (report.unexplained, report.resolved) == (1, 0)
    assert not [q for q in ctx.captured_queries if q["sql"].lstrip().upper().startswith(("INSERT", "UPDATE", "DELETE"))]
