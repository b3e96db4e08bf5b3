"""can_decide: the one answer to "may this person decide this step now?" for every channel."""

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from catalog.models import Person
from governance import services
from governance.errors import Conflict, NotAllowed
from governance.requests import decisions
from tests import company as c


@pytest.fixture
def step(company):
    return services.current_step(c.submit("IT-9", reason="runbook"))


def test_it_lets_the_routed_approver_decide(company, step):
    verdict = services.can_decide(step, company.alice)
    assert verdict.allowed and not verdict.as_override and verdict.reason == ""


@pytest.mark.parametrize(
    ("who", "code"),
    [("bob", decisions.SELF_APPROVAL), ("charlie", decisions.NOT_AN_APPROVER)],
)
def test_it_says_why_someone_may_not_decide(company, step, who, code):
    verdict = services.can_decide(step, getattr(company, who))
    assert (verdict.allowed, verdict.code) == (False, code)
    assert getattr(company, who).email in verdict.reason


def test_an_override_lifts_the_approver_check_but_never_self_approval(company, step):
    assert services.can_decide(step, company.charlie, override=True).as_override
    assert services.can_decide(step, company.bob, override=True).code == decisions.SELF_APPROVAL


def test_an_inactive_approver_may_not_decide(company, step):
    Person.objects.filter(pk=company.alice.pk).update(status=Person.Status.SUSPENDED)
    company.alice.refresh_from_db()
    assert services.can_decide(step, company.alice).code == decisions.INACTIVE_APPROVER


def test_a_decided_step_is_not_pending_and_decide_step_raises_the_same_refusal(company, step):
    services.decide_step(request=step.request, actor=services.Actor.of_person(company.alice), approve=False)
    step.refresh_from_db()
    step.request.refresh_from_db()
    assert services.can_decide(step, company.alice).code == decisions.NOT_PENDING
    with pytest.raises(Conflict):
        services.decide_step(request=step.request, actor=services.Actor.of_person(company.alice), approve=True)


def test_decide_step_refuses_with_the_verdicts_code(company, step):
    with pytest.raises(NotAllowed) as refused:
        services.decide_step(request=step.request, actor=services.Actor.of_person(company.charlie), approve=True)
    assert refused.value.code == decisions.NOT_AN_APPROVER


def test_the_admin_page_says_whether_the_signed_in_admin_may_decide(client, company, step):
    user = User.objects.create_user("carl", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.all())
    Person.objects.filter(pk=company.bob.pk).update(user=user)  # carl signs in as bob, the requester
    client.force_login(user)
    page = client.get(reverse("admin:governance_accessrequest_change", args=[step.request.pk]))
    assert page.status_code == 200
    assert "You cannot decide step 1: bob@example.com cannot decide a request they made" in page.content.decode()
