"""Issue 4 routing: every step kind, fallbacks, auto-approval rules, delegation, follow-ups."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from governance import services
from governance.errors import Conflict, NotAllowed
from governance.models import AccessRequest, ApprovalStep, AuditEvent, AutoApprovalRule, Delegation, Grant
from governance.requests.followup import follow_up_approvals
from tests import company as c

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
NO_EMERGENCY = {"emergency_expired": 0, "emergency_escalated": 0, "emergency_reminded": 0}


def submit(key="IT-1", requester="bob@example.com", role="editor", **over):
    data = {
        "jira_issue_key": key,
        "requester": requester,
        "application": "wiki",
        "role": role,
        "duration": timedelta(hours=6),
        "reason": "docs",
        **over,
    }
    return services.submit_request(data=services.RequestInput(**data))[0]


def decide(request, person, approve=True, **kw):
    return services.decide_step(request=request, actor=services.Actor.of_person(person), approve=approve, **kw)


def approvers(request):
    return sorted(services.current_step(request).approvers.values_list("email", flat=True))


def test_it_routes_to_the_second_level_manager(company):
    erin = c.person("erin@example.com", "Erin Director")
    company.alice.manager = erin
    company.alice.save()
    c.policy("Two levels", "manager", "second_level_manager", application=company.wiki)
    request = submit()
    assert approvers(request) == ["alice@example.com"]
    decide(request, company.alice)
    assert approvers(request) == ["erin@example.com"]


def test_it_waits_for_every_named_approver(company, django_capture_on_commit_callbacks):
    c.policy("Both", "named_all", application=company.wiki, named=[company.alice, company.dana])
    request = submit()
    decide(request, company.dana)
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING_APPROVAL
    assert AuditEvent.objects.filter(request=request, action="step.partially_approved").count() == 1
    with pytest.raises(Conflict):
        decide(request, company.dana)  # once each
    with django_capture_on_commit_callbacks(execute=True):
        decide(request, company.alice)
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.FULFILLED


def test_it_ends_an_all_of_step_on_one_denial(company):
    c.policy("Both", "named_all", application=company.wiki, named=[company.alice, company.dana])
    request = submit()
    decide(request, company.alice, approve=False, comment="no")
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.DENIED


def test_it_leaves_the_requester_out_of_an_all_of_step(company):
    c.policy("Both", "named_all", application=company.wiki, named=[company.bob, company.dana])
    request = submit()
    step = services.current_step(request)
    assert approvers(request) == ["dana@example.com"]
    assert "is the requester" in step.route_note


@pytest.mark.parametrize(
    "setup,expected,why",
    [
        ("manager_gone", ["alice@example.com"], "routed to the application owner"),
        ("owner_is_requester", ["dana@example.com"], "routed to the policy's fallback approvers"),
        ("it_only", ["charlie@example.com"], "IT approvers"),
    ],
)
def test_it_falls_back_in_order(company, setup, expected, why):
    requester = "bob@example.com"
    if setup == "manager_gone":
        company.bob.manager = c.person("gone@example.com", status="deprovisioned")
        company.bob.save()
    elif setup == "owner_is_requester":
        c.policy("Owner", "app_owner", application=company.wiki, fallback=[company.dana])
        requester = "alice@example.com"
    else:
        company.default_policy.fallback_approvers.set([company.charlie])
        c.policy("Owner", "app_owner", application=company.wiki)
        requester = "alice@example.com"
    request = submit(requester=requester, beneficiary="bob@example.com") if requester != "bob@example.com" else submit()
    assert approvers(request) == expected
    assert why in services.current_step(request).route_note


def test_it_fails_clearly_when_nobody_is_eligible(company):
    company.default_policy.fallback_approvers.clear()
    c.policy("Owner", "app_owner", application=company.wiki)
    request = submit(requester="alice@example.com", beneficiary="alice@example.com")
    assert request.status == AccessRequest.Status.FAILED
    assert "no fallback approver is eligible" in request.status_reason


def test_it_auto_approves_by_department_and_records_the_rule(company, django_capture_on_commit_callbacks):
    rule = AutoApprovalRule.objects.create(
        name="Engineers read the wiki", role=company.reader, departments=["engineering"]
    )
    with django_capture_on_commit_callbacks(execute=True):
        request = submit(role="reader", duration=None)
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.FULFILLED and request.auto_approval_rule == rule
    assert "Engineers read the wiki" in AuditEvent.objects.get(request=request, action="request.approved").message
    other = submit(key="IT-2", requester="charlie@example.com", role="reader", duration=None)
    assert other.status == AccessRequest.Status.PENDING_APPROVAL


def test_it_never_auto_approves_contractors_unless_told(company):
    AutoApprovalRule.objects.create(name="Eng", application=company.wiki, departments=["Engineering"])
    company.bob.is_contractor = True
    company.bob.save()
    assert submit(role="reader", duration=None).status == AccessRequest.Status.PENDING_APPROVAL


def test_it_never_auto_approves_privileged_access(company):
    company.wiki.risk_tier = "privileged"
    company.wiki.save()
    AutoApprovalRule.objects.create(name="Eng", application=company.wiki, departments=["Engineering"])
    assert submit().status == AccessRequest.Status.PENDING_APPROVAL


@pytest.mark.parametrize(
    "offset_days,expected", [(-1, "alice@example.com"), (1, "dana@example.com"), (6, "alice@example.com")]
)
def test_it_routes_to_the_delegate_only_inside_the_window(company, offset_days, expected):
    Delegation.objects.create(
        person=company.alice, delegate=company.dana, starts_at=T0, ends_at=T0 + timedelta(days=5), reason="holiday"
    )
    with time_machine.travel(T0 + timedelta(days=offset_days), tick=False):
        request = submit()
    assert approvers(request) == [expected]


def test_it_records_the_delegate_deciding_on_behalf(company):
    Delegation.objects.create(person=company.alice, delegate=company.dana, starts_at=T0, ends_at=T0 + timedelta(days=5))
    with time_machine.travel(T0 + timedelta(days=1), tick=False):
        request = submit()
        decide(request, company.dana)
    decision = services.current_step(request) or request.steps.get().decisions.get()
    assert decision.on_behalf_of == company.alice
    assert "for alice@example.com" in AuditEvent.objects.get(request=request, action="step.approved").message
    with pytest.raises(NotAllowed):
        decide(submit(key="IT-9", role="reader", duration=None), company.dana)  # outside: not hers


def test_it_reminds_then_escalates_then_expires(company, mailoutbox, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        request = submit()
    assert [m.to for m in mailoutbox] == [["alice@example.com"]]
    with time_machine.travel(T0 + timedelta(hours=23), tick=False):
        assert follow_up_approvals() == {"expired": 0, "escalated": 0, "reminded": 0, **NO_EMERGENCY}
    with time_machine.travel(T0 + timedelta(hours=24), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert follow_up_approvals()["reminded"] == 1
        assert follow_up_approvals()["reminded"] == 0  # once
    assert "Reminder" in mailoutbox[-1].subject
    with time_machine.travel(T0 + timedelta(hours=72), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert follow_up_approvals()["escalated"] == 1
        assert follow_up_approvals()["escalated"] == 0
    assert approvers(request) == ["alice@example.com", "dana@example.com"]  # owner is alice: policy fallback
    assert mailoutbox[-1].to == ["dana@example.com"] and "Escalated" in mailoutbox[-1].subject
    with time_machine.travel(T0 + timedelta(days=14), tick=False):
        assert follow_up_approvals()["expired"] == 1
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.EXPIRED and "No decision within 14 days" in request.status_reason
    assert not request.steps.filter(status=ApprovalStep.Status.PENDING).exists()
    assert not Grant.objects.exists()
