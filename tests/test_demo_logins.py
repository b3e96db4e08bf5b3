"""The demo can try every documented feature: reviewer and approver logins, an Auto Reclaim policy,
and `bootstrap` (what run.sh calls) stays safe to run again."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.contrib.auth.models import User
from django.core.management import call_command

from catalog.models import Person
from governance.demo_logins import REVIEWERS
from reviews.models import ReclaimCase, ReclaimPolicy

LOGIN_LINE = re.compile(r"^\s+(\w+)\s+/ (\S+)\s", re.M)


def bootstrap() -> str:
    out = StringIO()
    call_command("bootstrap", stdout=out)
    return out.getvalue()


def printed_logins(output: str) -> dict[str, str]:
    section = output.split("Reviewer and approver logins", 1)
    return dict(LOGIN_LINE.findall(section[1].split("\n\n", 1)[0])) if len(section) == 2 else {}


@pytest.mark.django_db
def test_the_demo_prints_reviewer_logins_that_sign_in_to_the_review_pages(client):
    output = bootstrap()
    logins = printed_logins(output)
    assert sorted(logins) == sorted(handle for handle, _ in REVIEWERS)
    margaret = Person.objects.get(email="margaret@northwind.example")
    assert margaret.user.username == "margaret" and not margaret.user.is_staff
    signed_in = client.post(
        "/accounts/login/", {"username": "margaret", "password": logins["margaret"], "next": "/reviews/"}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/reviews/"
    page = client.get("/reviews/")
    assert page.status_code == 200 and "Margaret" in page.content.decode()
    assert client.get("/admin/").status_code == 302  # a reviewer login is not an admin login


@pytest.mark.django_db
def test_the_demo_has_a_reclaim_policy_the_sweep_reports_on():
    bootstrap()
    policy = ReclaimPolicy.objects.get(application__slug="salesforce", is_active=True)
    assert (policy.mode, policy.threshold_days, policy.grace_days) == ("dry_run", 90, 14)
    assert list(policy.excluded_people.values_list("email", flat=True)) == ["marc@northwind.example"]
    call_command("reclaim", "--app", "salesforce", stdout=StringIO())
    neil = ReclaimCase.objects.get(person__email="neil@northwind.example")  # standing seat, 147 days unused
    assert neil.outcome == "dry_run"
    assert not ReclaimCase.objects.filter(person__email="buzz@northwind.example").exists()  # signed in 4 days ago


@pytest.mark.django_db
def test_bootstrap_is_safe_to_run_again():
    first = bootstrap()
    counts = (User.objects.count(), Person.objects.count(), ReclaimPolicy.objects.count())
    second = bootstrap()
    assert printed_logins(first) and printed_logins(second) == {}
    assert "Directory not empty: demo data not loaded." in second and "Admin login:" not in second
    assert (User.objects.count(), Person.objects.count(), ReclaimPolicy.objects.count()) == counts


@pytest.mark.django_db
def test_a_missing_reviewer_login_is_added_on_the_next_run():
    bootstrap()
    User.objects.filter(username="sally").delete()
    assert printed_logins(bootstrap()).keys() == {"sally"}


@pytest.mark.django_db
def test_no_reviewer_passwords_while_company_sso_is_on(settings):
    settings.OIDC = {**settings.OIDC, "ISSUER": "https://idp.example.com", "CLIENT_ID": "gatehouse"}
    output = bootstrap()
    assert printed_logins(output) == {}
    assert not User.objects.filter(username__in=[handle for handle, _ in REVIEWERS]).exists()


@pytest.mark.django_db
def test_the_walk_throughs_github_review_reaches_margaret(client):
    from datetime import timedelta

    from django.utils import timezone

    from catalog.models import Application
    from governance.services import Actor
    from reviews.campaigns import services as campaigns
    from reviews.models import ReviewCampaign

    logins = printed_logins(bootstrap())
    now = timezone.now()
    campaign = ReviewCampaign.objects.create(
        name="Q4 GitHub",
        starts_at=now,
        due_at=now + timedelta(days=14),
        reviewer_strategy="app_owner",
        fallback_reviewer=Person.objects.get(email="priya@northwind.example"),
    )
    campaign.applications.set([Application.objects.get(slug="github")])
    campaigns.launch_campaign(campaign=campaign, actor=Actor.system("tests"))
    client.post("/accounts/login/", {"username": "margaret", "password": logins["margaret"]})
    page = client.get(f"/reviews/{campaign.pk}/").content.decode()
    assert "ken@northwind.example" in page and "barbara@northwind.example" in page
