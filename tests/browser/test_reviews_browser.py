"""The reviewer page in headless Chromium: sign in, filter, bulk accept, revoke with a reason, submit."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import GroupMembership
from governance import services
from governance.models import Grant
from provisioning.models import LocalMembership
from reviews.campaigns import services as campaigns
from reviews.models import ReviewCampaign, ReviewItem
from tests import company as c

pytestmark = [pytest.mark.browser]


def grant(requester: str, role: str, key: str, approver) -> None:
    request = services.submit_request(
        data=services.RequestInput(
            jira_issue_key=key, requester=requester, application="wiki", role=role, reason="work"
        )
    )[0]
    services.decide_step(request=request, actor=services.Actor.of_person(approver), approve=True)


@pytest.fixture
def review(company, django_capture_on_commit_callbacks):
    """alice reviews bob (granted, recent login: keep), erin (granted, suspended: revoke) and
    frank (in the provider group without a grant: revoke)."""
    erin = c.person("erin@example.com", "Erin Away", manager=company.alice, department="Engineering", title="QA")
    frank = c.person("frank@example.com", "Frank Drift", manager=company.alice, department="Engineering")
    with django_capture_on_commit_callbacks(execute=True):
        grant("bob@example.com", "reader", "IT-1", company.alice)
        grant("erin@example.com", "reader", "IT-2", company.alice)
    LocalMembership.objects.create(person=frank, group=company.readers)
    GroupMembership.objects.create(person=frank, group=company.readers, origin="external", since=timezone.now())
    now = timezone.now()
    for person in (company.bob, erin, frank):
        person.last_login_at = now - timedelta(days=1)
        person.save()
    erin.status = "suspended"
    erin.save()
    campaign = ReviewCampaign.objects.create(
        name="Wiki Q1", starts_at=now, due_at=now + timedelta(days=14), fallback_reviewer=company.dana
    )
    campaign.applications.set([company.wiki])
    campaign = campaigns.launch_campaign(campaign=campaign, actor=services.Actor.system("test"))
    user = get_user_model().objects.create_user(username="alice", password="alice-pass-1")
    company.alice.user = user
    company.alice.save()
    return campaign, company, erin, frank


def test_a_reviewer_signs_in_filters_bulk_accepts_revokes_and_submits(review, live_server, browser, artifacts):
    campaign, company, erin, _frank = review
    context = browser.new_context(viewport={"width": 390, "height": 844})  # a phone-sized screen
    page = context.new_page()
    page.goto(f"{live_server.url}/reviews/{campaign.pk}/")
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-pass-1")
    page.keyboard.press("Enter")
    page.wait_for_selector("#progress-text")
    assert "0 / 3" in page.inner_text("#progress-text")

    # Filter to the revoke recommendations and accept them in bulk.
    page.select_option("#f-rec", "revoke")
    page.click("button:has-text('Filter')")
    page.wait_for_url("**recommendation=revoke**")
    assert page.locator("article.item").count() == 2
    page.click("button:has-text('Accept recommendations')")
    page.wait_for_selector("text=2 undecided item(s) decided.")
    assert "2 / 3" in page.inner_text("#progress-text")

    # Back to everything; revoke bob with a reason, using the keyboard only.
    page.click("text=Clear")
    bob = ReviewItem.objects.get(campaign=campaign, account_email="bob@example.com")
    page.focus(f"#reason-{bob.pk}")
    page.keyboard.type("moved to the sales team")
    page.keyboard.press("Tab")  # Keep
    page.keyboard.press("Tab")  # Revoke
    page.keyboard.press("Enter")
    page.wait_for_selector("text=Bob Builder: Revoke.")
    assert "3 / 3" in page.inner_text("#progress-text")
    page.screenshot(path=str(artifacts / "reviews-before-submit.png"), full_page=True)

    page.click("button:has-text('Submit my review')")
    page.wait_for_selector("text=Submitted 3 decisions.")
    assert page.locator("text=Your review is submitted").count() == 1
    assert page.locator("button:has-text('Revoke')").count() == 0
    page.reload()  # the removals were confirmed after the submit's commit
    assert page.locator("dd.removal:has-text('removed, confirmed')").count() == 3
    page.screenshot(path=str(artifacts / "reviews-submitted.png"), full_page=True)
    context.close()

    assert Grant.objects.get(person=company.bob).status == "revoked"
    assert Grant.objects.get(person=erin).status == "revoked"
    assert not LocalMembership.objects.filter(group=company.readers).exists()
    decided = dict(ReviewItem.objects.filter(campaign=campaign).values_list("account_email", "decision"))
    assert decided == {"bob@example.com": "revoke", "erin@example.com": "revoke", "frank@example.com": "revoke"}
    assert set(ReviewItem.objects.filter(campaign=campaign).values_list("ticket_status", flat=True)) == {"to_resolve"}
    assert ReviewItem.objects.get(pk=bob.pk).reason == "moved to the sales team"


def test_a_revoke_without_a_reason_is_refused_in_the_page(review, live_server, browser):
    campaign = review[0]
    page = browser.new_page()
    page.goto(f"{live_server.url}/accounts/login/?next=/reviews/{campaign.pk}/")
    page.fill("#id_username", "alice")
    page.fill("#id_password", "alice-pass-1")
    page.click("button:has-text('Sign in')")
    page.wait_for_selector("#progress-text")
    frank_item = ReviewItem.objects.get(campaign=campaign, account_email="frank@example.com")
    page.click(f"#item-{frank_item.pk} button:has-text('Revoke')")
    page.wait_for_selector("[role=alert]")
    assert "Say why the access should be revoked." in page.inner_text("[role=alert]")
    assert "0 / 3" in page.inner_text("#progress-text")
    page.close()
