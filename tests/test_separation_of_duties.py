"""Separation of duties: whoever decided one step of a request is not eligible for a later one."""

from __future__ import annotations

import pytest

from governance.errors import NotAllowed
from governance.models import AccessRequest, ApprovalPolicy, ApprovalStep
from tests import company as c

R = AccessRequest.Status
S = ApprovalStep.Status


def steps_of(request):
    return list(ApprovalStep.objects.filter(request=request).order_by("order"))


def approvers(step) -> set[str]:
    return set(step.approvers.values_list("email", flat=True))


@pytest.fixture
def high_risk_wiki(company):
    """The wiki as a high-risk application whose policy asks alice as manager and again by name."""
    company.wiki.risk_tier = "high"
    company.wiki.save(update_fields=["risk_tier"])
    policy = c.policy(
        "Wiki", "manager", "named", application=company.wiki, named=[company.alice], fallback=[company.charlie]
    )
    return policy


def test_it_routes_a_later_step_away_from_who_decided_an_earlier_one(company, high_risk_wiki, tasks):
    request = c.submit()
    c.decide(request, company.alice)

    second = steps_of(request)[1]
    assert second.status == S.PENDING
    assert approvers(second) == {"charlie@example.com"}  # the policy's fallback, as for a missing approver
    assert "alice@example.com decided an earlier step (separation of duties)" in second.route_note
    with pytest.raises(NotAllowed) as refused:
        c.decide(request, company.alice)
    assert refused.value.code == "separation_of_duties"

    with tasks():
        c.decide(request, company.charlie)
    assert AccessRequest.objects.get(pk=request.pk).status == R.FULFILLED


def test_it_refuses_even_an_override_by_who_decided_an_earlier_step(company, high_risk_wiki, admin_user):
    from governance import services

    request = c.submit()
    company.alice.user = admin_user
    company.alice.save(update_fields=["user"])
    c.decide(request, company.alice)
    with pytest.raises(NotAllowed, match="separation of duties"):
        services.decide_step(request=request, actor=services.Actor.of_admin(admin_user), approve=True, override=True)


def test_it_keeps_the_other_named_approvers_when_one_decided_before(company, high_risk_wiki):
    high_risk_wiki.steps.get(order=2).approvers.set([company.alice, company.dana])
    request = c.submit()
    c.decide(request, company.alice)
    second = steps_of(request)[1]
    assert approvers(second) == {"dana@example.com"}
    assert "the other approvers decide" in second.route_note


def test_it_fails_the_request_readably_when_nobody_else_may_decide(company, high_risk_wiki):
    high_risk_wiki.fallback_approvers.set([])
    company.default_policy.fallback_approvers.set([])
    company.wiki.owner = None
    company.wiki.save(update_fields=["owner"])
    request = c.submit()
    c.decide(request, company.alice)
    request.refresh_from_db()
    assert request.status == R.FAILED
    assert "separation of duties" in request.status_reason
    assert "no fallback approver is eligible" in request.status_reason


def test_it_lets_one_person_decide_every_step_of_a_medium_risk_policy_by_default(company):
    c.policy("Wiki", "manager", "named", application=company.wiki, named=[company.alice])
    request = c.submit()
    c.decide(request, company.alice)
    assert approvers(steps_of(request)[1]) == {"alice@example.com"}
    c.decide(request, company.alice)
    assert AccessRequest.objects.get(pk=request.pk).status != R.PENDING_APPROVAL


def test_it_separates_duties_for_any_risk_when_the_policy_says_always(company):
    policy = c.policy(
        "Wiki", "manager", "named", application=company.wiki, named=[company.alice], fallback=[company.dana]
    )
    policy.distinct_approvers = ApprovalPolicy.Separation.ALWAYS
    policy.save(update_fields=["distinct_approvers"])
    request = c.submit()
    c.decide(request, company.alice)
    assert approvers(steps_of(request)[1]) == {"dana@example.com"}


def test_it_can_be_switched_off_for_a_high_risk_policy(company, high_risk_wiki):
    high_risk_wiki.distinct_approvers = ApprovalPolicy.Separation.NEVER
    high_risk_wiki.save(update_fields=["distinct_approvers"])
    request = c.submit()
    c.decide(request, company.alice)
    assert approvers(steps_of(request)[1]) == {"alice@example.com"}
