"""Access that should end, ending: Jira comments of reviews and reclaim (exactly once), emergency
reviews chased like approvals, and leavers' review items moved to the fallback reviewer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from catalog.models import Person
from governance import services
from governance.grants.emergency import follow_up_emergency_reviews
from governance.jira import adf
from governance.lifecycle.services import run_lifecycle
from governance.models import AuditEvent, EmergencyReview, Grant
from governance.tasks import sweep_jira_updates
from reviews.campaigns import services as campaigns
from reviews.models import ReclaimPolicy, ReviewCampaign, ReviewItem
from reviews.reclaim.services import run_reclaim
from tests import company as c

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


def texts(emulator, key="IT-1") -> list[str]:
    return [adf.plain_text(comment["body"]) for comment in emulator.comments(key)]


def granted(company, tasks, role="reader", key="IT-1"):
    with tasks():
        request = c.submit(key, requester="bob@example.com", role=role)
        c.decide(request, company.alice)
    return c.grant_of(request)


def test_reclaim_warns_and_removes_on_the_grants_own_issue_once_each(company, tasks, jira):
    with time_machine.travel(T0 - 100 * DAY, tick=False):
        grant = granted(company, tasks)
    Person.objects.filter(pk=company.bob.pk).update(last_login_at=T0 - 100 * DAY)
    ReclaimPolicy.objects.create(application=company.wiki, threshold_days=90, grace_days=14, mode="enforce")
    for moment in (T0, T0 + timedelta(hours=1), T0 + 14 * DAY, T0 + 15 * DAY):  # re-runs change nothing
        with time_machine.travel(moment, tick=False), tasks():
            run_reclaim()
            sweep_jira_updates()
            sweep_jira_updates()
    comments = texts(jira)
    warnings = [t for t in comments if t.startswith("Unused access: removal warning")]
    removals = [t for t in comments if t.startswith("Unused access removed")]
    assert len(warnings) == 1 and "will be removed" in warnings[0]
    assert len(removals) == 1 and f"grant #{grant.pk} revoked" in removals[0]


def test_review_decisions_comment_on_the_requests_issue_once(company, tasks, jira):
    grant = granted(company, tasks)
    with tasks():
        campaign = ReviewCampaign.objects.create(
            name="Q1", starts_at=T0, due_at=T0 + 14 * DAY, fallback_reviewer=company.dana
        )
        campaign.applications.set([company.wiki])
        campaigns.launch_campaign(campaign=campaign, actor=services.Actor.system("tests"))
        item = ReviewItem.objects.get(campaign=campaign, grant=grant)
        campaigns.decide_item(campaign_id=campaign.pk, item_id=item.pk, reviewer=company.alice, decision="keep")
        campaigns.decide_item(
            campaign_id=campaign.pk, item_id=item.pk, reviewer=company.alice, decision="revoke", reason="moved team"
        )
        campaigns.submit_review(campaign_id=campaign.pk, reviewer=company.alice)
        sweep_jira_updates()
    comments = texts(jira)
    assert sum(t.startswith("Access review: revoked") for t in comments) == 1
    assert not any(t.startswith("Access review: kept") for t in comments)  # only final decisions comment


def test_a_kept_grant_is_commented_when_the_review_is_submitted(company, tasks, jira):
    granted(company, tasks)
    with tasks():
        campaign = ReviewCampaign.objects.create(
            name="Q1", starts_at=T0, due_at=T0 + 14 * DAY, fallback_reviewer=company.dana
        )
        campaign.applications.set([company.wiki])
        campaigns.launch_campaign(campaign=campaign, actor=services.Actor.system("tests"))
        item = ReviewItem.objects.get(campaign=campaign)
        campaigns.decide_item(campaign_id=campaign.pk, item_id=item.pk, reviewer=company.alice, decision="keep")
        campaigns.submit_review(campaign_id=campaign.pk, reviewer=company.alice)
        sweep_jira_updates()
        sweep_jira_updates()
    assert sum(t.startswith("Access review: kept") for t in texts(jira)) == 1


# -- emergency reviews ---------------------------------------------------------------------------


@pytest.fixture
def emergency(company, tasks):
    company.editor.break_glass_allowed = True
    company.editor.break_glass_max_duration = timedelta(days=30)  # long enough to outlive the deadline
    company.editor.save()
    with time_machine.travel(T0, tick=False), tasks():
        data = services.RequestInput(
            jira_issue_key="IT-9",
            requester="bob@example.com",
            application="wiki",
            role="editor",
            reason="prod is down",
            emergency=True,
        )
        request, _ = services.submit_request(data=data)
    return EmergencyReview.objects.get(request=request)


def test_an_unanswered_emergency_review_is_reminded_then_escalated_once(emergency, company, mailoutbox):
    with time_machine.travel(T0 + timedelta(hours=23), tick=False):
        assert follow_up_emergency_reviews(T0 + timedelta(hours=23))["emergency_reminded"] == 0
    mailoutbox.clear()
    result = follow_up_emergency_reviews(T0 + timedelta(hours=25))
    assert result["emergency_reminded"] == 1
    assert follow_up_emergency_reviews(T0 + timedelta(hours=26))["emergency_reminded"] == 0
    result = follow_up_emergency_reviews(T0 + timedelta(hours=73))
    assert result["emergency_escalated"] == 1
    emergency.refresh_from_db()
    assert set(emergency.reviewers.values_list("email", flat=True)) == {"alice@example.com", "dana@example.com"}
    assert AuditEvent.objects.filter(action="emergency.escalated").count() == 1
    assert follow_up_emergency_reviews(T0 + timedelta(hours=74))["emergency_escalated"] == 0


def test_an_emergency_review_past_its_deadline_revokes_live_access(emergency, tasks):
    grant = Grant.objects.get(request=emergency.request)
    assert grant.status == "active"
    with tasks():
        result = follow_up_emergency_reviews(T0 + 15 * DAY)
    assert result["emergency_expired"] == 1
    emergency.refresh_from_db()
    grant.refresh_from_db()
    assert emergency.status == "expired" and grant.status == "revoked"
    assert "unreviewed" in grant.end_reason


def test_the_approval_sweep_chases_emergency_reviews(emergency):
    from governance.requests.followup import follow_up_approvals

    with time_machine.travel(T0 + timedelta(hours=25), tick=False):
        assert follow_up_approvals()["emergency_reminded"] == 1


# -- leavers and reviews -------------------------------------------------------------------------


def test_a_leavers_open_review_items_move_to_the_fallback_reviewer(company, tasks):
    grant = granted(company, tasks)
    campaign = ReviewCampaign.objects.create(
        name="Q1", starts_at=T0, due_at=T0 + 14 * DAY, fallback_reviewer=company.dana
    )
    campaign.applications.set([company.wiki])
    campaigns.launch_campaign(campaign=campaign, actor=services.Actor.system("tests"))
    assert ReviewItem.objects.get(campaign=campaign, grant=grant).reviewer == company.alice
    run_lifecycle()
    Person.objects.filter(pk=company.alice.pk).update(status="deprovisioned")
    with tasks():
        run_lifecycle()
    item = ReviewItem.objects.get(campaign=campaign, grant=grant)
    assert item.reviewer == company.dana and item.escalated_from == company.alice
    from governance.models import Offboarding

    assert Offboarding.objects.get(person=company.alice).ended["review_items_moved"] == 1
    assert AuditEvent.objects.filter(action="review.items_moved").exists()
