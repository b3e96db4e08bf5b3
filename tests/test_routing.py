"""Approval routing: policies, step kinds, fallbacks, self-approval and denial."""

from __future__ import annotations

import pytest

from governance.errors import Conflict, NotAllowed
from governance.models import AccessRequest, ApprovalStep, AuditEvent, Grant
from governance.requests.routing import plan_route
from provisioning.models import LocalMembership, MembershipChange
from tests import company as c

R = AccessRequest.Status
S = ApprovalStep.Status


def approvers(step: ApprovalStep) -> set[str]:
    return set(step.approvers.values_list("email", flat=True))


def steps_of(request: AccessRequest) -> list[ApprovalStep]:
    return list(request.steps.order_by("order"))


# Policy resolution -------------------------------------------------------------------------


def test_it_picks_the_most_specific_policy(company):
    by_role = c.policy("Editors", "app_owner", role=company.editor)
    by_app = c.policy("Wiki", "app_owner", application=company.wiki)
    by_tier = c.policy("Medium risk", "app_owner", risk_tier="medium")
    c.policy("High risk", "app_owner", risk_tier="high")
    route = lambda: plan_route(role=company.editor, requester=company.bob, beneficiary=company.bob).policy  # noqa: E731

    assert route() == by_role
    for stale in (by_role, by_app, by_tier):
        stale.is_active = False
        stale.save()
        assert route() != stale
    assert route() == company.default_policy


def test_it_uses_the_application_policy_for_other_roles_of_the_app(company):
    c.policy("Editors", "app_owner", role=company.editor)
    by_app = c.policy("Wiki", "app_owner", application=company.wiki)

    assert plan_route(role=company.reader, requester=company.bob, beneficiary=company.bob).policy == by_app


def test_it_records_the_policy_and_version_that_routed_the_request(company):
    policy = c.policy("Wiki", "manager", application=company.wiki)
    policy.version = 4
    policy.save()

    request = c.submit()

    assert (request.policy, request.policy_version) == (policy, 4)
    assert request.policy_label == "Wiki v4 (application Wiki)"


def test_it_falls_back_to_the_built_in_manager_route_when_no_policy_exists(company):
    company.default_policy.delete()

    request = c.submit()

    assert request.policy is None and "built-in default" in request.policy_label
    [step] = steps_of(request)
    assert (step.kind, step.status, approvers(step)) == ("manager", S.PENDING, {"alice@example.com"})


# Step kinds ----------------------------------------------------------------------------------


def test_it_approves_automatic_steps_and_provisions_at_once(company, tasks):
    c.policy("Readers", "automatic", role=company.reader)

    with tasks():
        request = c.submit(role="reader", duration=None)

    request.refresh_from_db()
    assert request.status == R.FULFILLED
    [step] = steps_of(request)
    assert step.status == S.APPROVED and step.decided_by is None
    assert AuditEvent.objects.filter(request=request, action="step.approved", actor="system:policy").count() == 1
    assert LocalMembership.objects.filter(person=company.bob, group=company.readers).exists()


def test_it_routes_a_manager_step_to_the_beneficiarys_manager(company):
    request = c.submit()

    [step] = steps_of(request)
    assert (step.kind, approvers(step), step.route_note) == ("manager", {"alice@example.com"}, "")


def test_it_routes_an_app_owner_step_to_the_owner(company):
    c.policy("Wiki", "app_owner", application=company.wiki)

    request = c.submit(requester="charlie@example.com")

    [step] = steps_of(request)
    assert (step.kind, approvers(step)) == ("app_owner", {"alice@example.com"})


def test_it_lets_any_one_named_approver_decide(company, tasks):
    c.policy("Wiki", "named", application=company.wiki, named=[company.charlie, company.dana])
    request = c.submit()
    [step] = steps_of(request)
    assert approvers(step) == {"charlie@example.com", "dana@example.com"}

    with tasks():
        c.decide(request, company.dana)

    request.refresh_from_db()
    step.refresh_from_db()
    assert request.status == R.FULFILLED
    assert (step.status, step.decided_by) == (S.APPROVED, company.dana)


def test_it_walks_multi_step_routes_in_order(company, tasks):
    c.policy("Wiki", "manager", "named", application=company.wiki, named=[company.charlie])
    request = c.submit()
    first, second = steps_of(request)
    assert (first.status, second.status) == (S.PENDING, S.WAITING)

    with pytest.raises(NotAllowed):
        c.decide(request, company.charlie)  # not step 1's approver
    c.decide(request, company.alice)
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.status, second.status) == (S.APPROVED, S.PENDING)
    assert AccessRequest.objects.get(pk=request.pk).status == R.PENDING_APPROVAL

    with tasks():
        c.decide(request, company.charlie)

    assert AccessRequest.objects.get(pk=request.pk).status == R.FULFILLED


# Fallbacks -------------------------------------------------------------------------------------


def test_it_routes_to_the_app_owner_when_there_is_no_manager(company):
    request = c.submit(requester="charlie@example.com", role="reader", duration=None)

    [step] = steps_of(request)
    assert approvers(step) == {"alice@example.com"}
    assert "there is no beneficiary's manager" in step.route_note
    assert "routed to the application owner" in step.route_note


def test_it_routes_to_the_app_owner_when_the_manager_is_inactive(company):
    gone = c.person("gone@example.com", status="suspended")
    c.person("erin@example.com", manager=gone)

    request = c.submit(requester="erin@example.com")

    [step] = steps_of(request)
    assert approvers(step) == {"alice@example.com"}
    assert "(gone@example.com) is suspended" in step.route_note


def test_it_routes_to_fallback_approvers_when_manager_and_owner_are_the_requester(company):
    request = c.submit(requester="alice@example.com", beneficiary="bob@example.com")

    [step] = steps_of(request)
    assert approvers(step) == {"dana@example.com"}
    assert "is the requester" in step.route_note
    assert "routed to the policy's fallback approvers" in step.route_note


def test_it_routes_an_app_owner_step_to_fallbacks_when_the_owner_is_missing(company):
    orphan = c.app("orphan")
    c.role(orphan, "user", c.group("orphan-users"))
    c.policy("Orphan", "app_owner", application=orphan, fallback=[company.dana])

    request = c.submit(application="orphan", role="user", duration=None)

    [step] = steps_of(request)
    assert approvers(step) == {"dana@example.com"}
    assert "there is no application owner" in step.route_note


def test_it_fails_the_request_readably_when_nobody_is_eligible(company):
    orphan = c.app("orphan")
    c.role(orphan, "user", c.group("orphan-users"))
    company.default_policy.fallback_approvers.clear()

    request = c.submit(requester="charlie@example.com", application="orphan", role="user", duration=None)

    request.refresh_from_db()
    assert request.status == R.FAILED and request.closed_at is not None
    assert request.status_reason == (
        "Step 1 (Beneficiary's manager) cannot be routed: there is no beneficiary's manager, "
        "and no fallback approver is eligible."
    )
    assert not request.steps.exists()
    assert not Grant.objects.filter(request=request).exists()


def test_it_fails_the_request_when_the_policy_has_no_steps(company):
    c.policy("Empty", application=company.wiki)

    request = c.submit()

    assert request.status == R.FAILED
    assert "has no steps" in request.status_reason


# Self-approval and denial ---------------------------------------------------------------------


def test_it_never_routes_a_step_to_the_requester(company):
    c.policy("Wiki", "named", application=company.wiki, named=[company.bob, company.charlie])

    request = c.submit()

    [step] = steps_of(request)
    assert approvers(step) == {"charlie@example.com"}


@pytest.mark.parametrize("override", [False, True])
def test_it_refuses_self_approval_even_by_a_listed_approver(company, override):
    c.policy("Wiki", "named", application=company.wiki, named=[company.charlie])
    request = c.submit(requester="alice@example.com", beneficiary="bob@example.com")
    [step] = steps_of(request)
    step.approvers.add(company.alice, company.bob)  # listed anyway, e.g. edited by hand
    events = AuditEvent.objects.count()

    for party in (company.alice, company.bob):
        with pytest.raises(NotAllowed) as caught:
            c.decide(request, party, override=override)
        assert caught.value.code == "self_approval"

    step.refresh_from_db()
    assert step.status == S.PENDING and step.decided_by is None
    assert AuditEvent.objects.count() == events


def test_it_ends_the_request_on_denial_and_cancels_remaining_steps(company):
    c.policy("Wiki", "manager", "named", "named", application=company.wiki, named=[company.charlie])
    request = c.submit()

    c.decide(request, company.alice, approve=False, comment="not this quarter")

    request.refresh_from_db()
    assert (request.status, request.status_reason) == (R.DENIED, "not this quarter")
    assert [s.status for s in steps_of(request)] == [S.DENIED, S.CANCELLED, S.CANCELLED]
    assert not Grant.objects.exists() and not MembershipChange.objects.exists()
    with pytest.raises(Conflict):
        c.decide(request, company.alice)


@pytest.mark.parametrize("status", ["suspended", "deprovisioned"])
def test_it_refuses_a_decision_by_an_approver_who_is_no_longer_active(company, status):
    request = c.submit()
    company.alice.status = status
    company.alice.save()

    with pytest.raises(NotAllowed) as caught:
        c.decide(request, company.alice)

    assert caught.value.code == "inactive_approver" and status in caught.value.message
    assert steps_of(request)[0].status == S.PENDING
