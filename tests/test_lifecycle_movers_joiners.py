"""Movers get a review by their new manager (or lose the old team's birthright); joiners get theirs."""

from __future__ import annotations

import pytest

from catalog.models import Person
from governance.lifecycle.services import run_lifecycle
from governance.models import AccessRequest, AuditEvent, AutoApprovalRule, Grant, LifecycleEvent
from provisioning.models import LocalMembership
from reviews.models import ReviewCampaign, ReviewItem
from tests import company as c


@pytest.fixture
def watched(company):
    run_lifecycle()
    return company


def granted(company, tasks, key: str, role: str = "editor"):
    with tasks():
        request = c.submit(key, requester="bob@example.com", role=role)
        if request.status == "pending_approval":
            c.decide(request, company.alice)
    grant = c.grant_of(request)
    assert grant.status == "active"
    return grant


def birthright(company, *, join: bool = True, contractors: bool = False) -> AutoApprovalRule:
    return AutoApprovalRule.objects.create(
        name="Engineering reads the wiki",
        role=company.reader,
        departments=["Engineering"],
        grant_on_join=join,
        include_contractors=contractors,
    )


def move(person: Person, **changes) -> None:
    Person.objects.filter(pk=person.pk).update(**changes)


def test_a_mover_gets_a_review_of_their_access_by_the_new_manager(watched, tasks):
    company = watched
    editor = granted(company, tasks, "IT-1")
    move(company.bob, department="Sales", manager=company.charlie, title="Account Executive")
    with tasks():
        report = run_lifecycle()
    assert report.movers == 1
    event = LifecycleEvent.objects.get(person=company.bob, kind="mover")
    assert event.changes == {
        "department": ["Engineering", "Sales"],
        "title": ["Engineer", "Account Executive"],
        "manager": ["alice@example.com", "charlie@example.com"],
    }
    campaign = ReviewCampaign.objects.get(pk=event.outcome["review_campaign"])
    assert campaign.person == company.bob and campaign.status == "active"
    assert (campaign.due_at - campaign.starts_at).days == 14
    items = list(ReviewItem.objects.filter(campaign=campaign))
    assert [(i.grant_id, i.reviewer.email) for i in items] == [(editor.pk, "charlie@example.com")]
    assert Grant.objects.get(pk=editor.pk).status == "active"
    assert AuditEvent.objects.filter(action="lifecycle.mover", subject=company.bob).exists()


def test_a_mover_review_covers_only_that_person(watched, tasks):
    company = watched
    granted(company, tasks, "IT-1")
    with tasks():
        other = c.submit("IT-2", requester="charlie@example.com", role="editor")
        c.decide(other, company.dana, override=True)
    move(company.bob, department="Sales")
    with tasks():
        run_lifecycle()
    campaign = ReviewCampaign.objects.get(person=company.bob)
    assert set(campaign.items.values_list("account_email", flat=True)) == {"bob@example.com"}


def test_pending_approvals_of_the_old_manager_go_to_the_new_one(watched):
    company = watched
    request = c.submit("IT-3", requester="bob@example.com", role="reader")
    assert set(request.steps.get().approvers.values_list("email", flat=True)) == {"alice@example.com"}
    move(company.bob, manager=company.dana)
    run_lifecycle()
    step = request.steps.get()
    assert set(step.approvers.values_list("email", flat=True)) == {"dana@example.com"}
    assert "now reports to dana@example.com" in step.route_note
    assert AuditEvent.objects.filter(action="step.rerouted", request=request).exists()


def test_revoke_policy_ends_the_old_departments_birthright_and_reviews_the_rest(watched, tasks, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "MOVER_POLICY": "revoke"}
    company = watched
    birthright(company, join=False)
    reader = granted(company, tasks, "IT-1", role="reader")  # auto-approved by the Engineering rule
    assert reader.request.auto_approval_rule is not None
    editor = granted(company, tasks, "IT-2")
    move(company.bob, department="Sales")
    with tasks():
        run_lifecycle()
    assert Grant.objects.get(pk=reader.pk).status == "revoked"
    assert Grant.objects.get(pk=editor.pk).status == "active"
    campaign = ReviewCampaign.objects.get(person=company.bob)
    assert list(campaign.items.values_list("grant_id", flat=True)) == [editor.pk]


def test_the_policy_can_be_set_per_role(watched, tasks):
    company = watched
    granted(company, tasks, "IT-1")
    company.editor.mover_policy = "nothing"
    company.editor.save()
    move(company.bob, department="Sales")
    with tasks():
        run_lifecycle()
    assert not ReviewCampaign.objects.exists()
    assert LifecycleEvent.objects.filter(person=company.bob, kind="mover").exists()


def test_a_joiner_gets_birthright_access_provisioned_by_gatehouse(watched, tasks):
    company = watched
    rule = birthright(company)
    eve = c.person("eve@example.com", "Eve New", manager=company.alice, department="Engineering")
    with tasks():
        report = run_lifecycle()
    assert report.joiners == 1
    request = AccessRequest.objects.get(beneficiary=eve)
    assert request.source == "lifecycle" and request.auto_approval_rule == rule
    assert request.status == "fulfilled"
    assert LocalMembership.objects.filter(person=eve, group=company.readers).exists()
    submitted = AuditEvent.objects.get(action="request.submitted", request=request)
    assert submitted.actor == "system:lifecycle"
    event = LifecycleEvent.objects.get(person=eve, kind="joiner")
    assert event.outcome["birthright"][0]["request"] == request.pk


def test_contractors_get_birthright_only_when_the_rule_says_so(watched, tasks):
    company = watched
    birthright(company)
    c.person("con@example.com", department="Engineering", is_contractor=True)
    with tasks():
        run_lifecycle()
    assert not AccessRequest.objects.filter(beneficiary__email="con@example.com").exists()
    AutoApprovalRule.objects.update(include_contractors=True)
    c.person("con2@example.com", department="Engineering", is_contractor=True)
    with tasks():
        run_lifecycle()
    assert AccessRequest.objects.filter(beneficiary__email="con2@example.com", status="fulfilled").exists()


def test_a_mover_into_the_department_gets_its_birthright(watched, tasks):
    company = watched
    birthright(company)
    move(company.charlie, department="Engineering")
    with tasks():
        run_lifecycle()
    assert Grant.objects.filter(person=company.charlie, role=company.reader, status="active").exists()


def test_existing_people_are_not_joiners_on_the_first_run(company):
    birthright(company)
    report = run_lifecycle()
    assert report.baseline and report.joiners == 0
    assert not AccessRequest.objects.exists()


def test_a_rule_without_a_role_cannot_grant_on_join(company):
    from django.core.exceptions import ValidationError

    rule = AutoApprovalRule(name="x", application=company.wiki, departments=["Engineering"], grant_on_join=True)
    with pytest.raises(ValidationError, match="needs a role"):
        rule.full_clean()


def test_the_metrics_show_lifecycle_events_and_birthright(watched, tasks, api):
    birthright(watched)
    c.person("eve@example.com", department="Engineering")
    with tasks():
        run_lifecycle()
    section = api.get("/api/v1/metrics/").json()["lifecycle"]
    assert section["events"] == {"joiner": 1} and section["birthright_requests"] == 1
