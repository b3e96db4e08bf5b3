"""Recurring reviews: a template launches its period's campaign once, whoever runs the schedule."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission, User
from django.db import IntegrityError, connection, transaction

from catalog.models import GroupMembership
from governance.models import AuditEvent, OutboundMessage
from provisioning.models import LocalMembership
from reviews.campaigns import tasks
from reviews.campaigns.recurring import add_months, launch_due_templates, period_of, run_after, schedule_template
from reviews.models import ReviewCampaign, ReviewItem, ReviewTemplate
from tests import company as c

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def make_template(company, *, starts_at: datetime = NOW - timedelta(hours=1), apps=None, **extra) -> ReviewTemplate:
    template = ReviewTemplate.objects.create(
        name=extra.pop("name", "Wiki access"), starts_at=starts_at, fallback_reviewer=company.dana, **extra
    )
    template.applications.set(apps if apps is not None else [company.wiki])
    return schedule_template(template=template)


@pytest.fixture
def holders(company):
    """bob is in wiki-readers in the provider (drift: one review item), reviewed by the fallback."""
    LocalMembership.objects.create(person=company.bob, group=company.readers)
    GroupMembership.objects.create(
        person=company.bob, group=company.readers, origin=GroupMembership.Origin.EXTERNAL, since=NOW
    )
    return company


# --- Schedule arithmetic ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("starts", "after", "expected"),
    [
        ("2026-11-15T09:00", "2026-11-15T09:00", "2027-02-15T09:00"),  # across the year end
        ("2026-11-15T09:00", "2027-02-15T09:00", "2027-05-15T09:00"),
        ("2026-12-31T09:00", "2026-12-31T09:00", "2027-03-31T09:00"),
        ("2026-12-31T09:00", "2027-03-31T09:00", "2027-06-30T09:00"),  # a month end stays a month end
        ("2026-12-31T09:00", "2027-06-30T09:00", "2027-09-30T09:00"),
        ("2026-12-31T09:00", "2027-09-30T09:00", "2027-12-31T09:00"),
        ("2026-10-01T00:00", "2026-12-31T23:59", "2027-01-01T00:00"),
        ("2026-01-05T09:00", "2026-11-01T00:00", "2027-01-05T09:00"),  # missed runs are not caught up
        ("2026-11-30T09:00", "2026-11-30T09:00", "2027-02-28T09:00"),
        ("2026-11-30T09:00", "2027-02-28T09:00", "2027-05-31T09:00"),
        ("2027-06-01T09:00", "2026-03-02T09:00", "2027-06-01T09:00"),  # the first run is still ahead
    ],
)
def test_quarterly_runs_follow_the_start(starts, after, expected):
    assert run_after(at(starts), "quarterly", at(after)) == at(expected)


def test_other_recurrences_count_from_the_start_without_drifting():
    assert run_after(at("2027-01-31T08:00"), "monthly", at("2027-01-31T08:00")) == at("2027-02-28T08:00")
    assert run_after(at("2027-01-30T08:00"), "monthly", at("2027-02-28T08:00")) == at("2027-03-30T08:00")
    assert run_after(at("2026-08-10T08:00"), "semiannual", at("2026-08-10T08:00")) == at("2027-02-10T08:00")
    assert run_after(at("2028-02-29T08:00"), "annual", at("2028-02-29T08:00")) == at("2029-02-28T08:00")
    assert run_after(at("2028-02-29T08:00"), "annual", at("2031-03-01T08:00")) == at("2032-02-29T08:00")
    assert add_months(at("2026-12-15T00:00"), 1) == at("2027-01-15T00:00")


def test_periods_are_named_by_the_calendar():
    run = at("2026-11-15T09:00")
    assert [period_of(run, r) for r in ("monthly", "quarterly", "semiannual", "annual")] == [
        "2026-11",
        "2026-Q4",
        "2026-H2",
        "2026",
    ]
    assert period_of(at("2027-01-01T00:00"), "quarterly") == "2027-Q1"


# --- Launching ----------------------------------------------------------------------------------


def test_a_due_template_launches_its_campaign_once(holders):
    template = make_template(holders)
    assert template.next_run_at == NOW - timedelta(hours=1)

    assert launch_due_templates(now=NOW) == 1
    assert launch_due_templates(now=NOW) == 0
    assert launch_due_templates(now=NOW + timedelta(days=30)) == 0

    campaign = ReviewCampaign.objects.get()
    assert (campaign.name, campaign.template, campaign.period, campaign.status) == (
        "Wiki access 2026-Q1",
        template,
        "2026-Q1",
        "active",
    )
    assert (campaign.starts_at, campaign.due_at) == (NOW, NOW + timedelta(days=14))
    assert campaign.fallback_reviewer == holders.dana
    assert list(campaign.applications.all()) == [holders.wiki]
    assert ReviewItem.objects.filter(campaign=campaign, account_email="bob@example.com").exists()
    template.refresh_from_db()
    assert template.next_run_at == at("2026-06-02T08:00") and template.last_launched_at == NOW
    created = AuditEvent.objects.get(action="review.recurring_campaign_created")
    assert created.data["period"] == "2026-Q1" and created.data["launched"] is True
    assert created.data["campaign"] == campaign.pk
    assert AuditEvent.objects.filter(action="review.campaign_launched").count() == 1


def test_the_next_period_launches_the_next_campaign(holders):
    make_template(holders)
    launch_due_templates(now=NOW)

    assert launch_due_templates(now=at("2026-06-02T08:30")) == 1

    assert sorted(ReviewCampaign.objects.values_list("period", flat=True)) == ["2026-Q1", "2026-Q2"]


def test_the_scheduled_task_launches_due_templates(holders):
    make_template(holders)
    with time_machine.travel(NOW, tick=False):
        assert tasks.launch_recurring_reviews() == 1
    assert ReviewCampaign.objects.get().period == "2026-Q1"


def test_a_template_that_is_not_due_launches_nothing(holders):
    make_template(holders, starts_at=NOW + timedelta(days=1))
    make_template(holders, name="Paused", is_active=False)
    events = AuditEvent.objects.count()

    assert launch_due_templates(now=NOW) == 0

    assert not ReviewCampaign.objects.exists()
    assert AuditEvent.objects.count() == events
    assert ReviewTemplate.objects.get(name="Paused").next_run_at is None


def test_a_period_that_has_its_campaign_is_skipped(holders):
    template = make_template(holders)
    launch_due_templates(now=NOW)
    # IT moves the start within the same quarter: the schedule comes due again, in Q1.
    template.starts_at = NOW + timedelta(days=10)
    template.last_launched_at = None
    template.save()
    schedule_template(template=template)

    assert launch_due_templates(now=NOW + timedelta(days=11)) == 0

    assert ReviewCampaign.objects.count() == 1
    assert AuditEvent.objects.filter(action="review.recurring_period_skipped").count() == 1
    template.refresh_from_db()
    assert template.next_run_at == at("2026-06-12T09:00")


def test_the_database_refuses_a_second_campaign_for_a_period(holders):
    template = make_template(holders)
    launch_due_templates(now=NOW)
    campaign = ReviewCampaign.objects.get()
    with pytest.raises(IntegrityError), transaction.atomic():
        ReviewCampaign.objects.create(
            name="again",
            template=template,
            period=campaign.period,
            starts_at=NOW,
            due_at=NOW + timedelta(days=1),
            fallback_reviewer=holders.dana,
        )


def test_all_privileged_applications_are_in_scope_at_each_launch(holders):
    vault = c.app("vault", risk="privileged")
    c.role(vault, "admin", c.group("vault-admins"))
    make_template(holders, apps=[], privileged_applications=True)
    later = c.app("prod-db", risk="high")  # classified after the template was made
    c.role(later, "dba", c.group("dbas"))

    launch_due_templates(now=NOW)

    assert set(ReviewCampaign.objects.get().applications.values_list("slug", flat=True)) == {"vault", "prod-db"}


def test_a_campaign_needing_an_account_list_waits_as_a_draft(holders):
    figma = c.app("figma")
    c.role(figma, "designer")  # no mapped group: the population is an uploaded account list
    make_template(holders, apps=[figma])

    assert launch_due_templates(now=NOW) == 1

    campaign = ReviewCampaign.objects.get()
    assert campaign.status == "draft" and campaign.period == "2026-Q1"
    created = AuditEvent.objects.get(action="review.recurring_campaign_created")
    assert created.data["launched"] is False and "Upload the account list" in created.data["waiting"]
    message = OutboundMessage.objects.get(recipient="dana@example.com")
    assert "waits for you" in message.subject
    assert launch_due_templates(now=NOW) == 0


# --- Two workers at once (SQLite and PostgreSQL) ------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_concurrent_runs_launch_one_campaign(holders):
    make_template(holders)
    workers = 4
    barrier = threading.Barrier(workers)
    results: list[int | BaseException] = []

    def run() -> None:
        try:
            barrier.wait(timeout=30)
            results.append(launch_due_templates(now=NOW))
        except BaseException as error:
            results.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)

    assert sorted(results) == [0] * (workers - 1) + [1], results
    assert ReviewCampaign.objects.count() == 1
    assert AuditEvent.objects.filter(action="review.recurring_campaign_created").count() == 1
    # The claim settled it: no worker got as far as the unique key.
    assert not AuditEvent.objects.filter(action="review.recurring_period_skipped").exists()


# --- Admin --------------------------------------------------------------------------------------


def template_form(company, **fields) -> dict:
    """The admin's add form for a quarterly template, as a browser posts it."""
    return {
        "name": "Privileged access",
        "is_active": "on",
        "recurrence": "quarterly",
        "starts_at_0": "2026-04-01",
        "starts_at_1": "09:00:00",
        "duration_days": "14",
        "reviewer_strategy": "manager",
        "fallback_reviewer": company.dana.pk,
        "undecided_action": "nothing",
        "inactivity_days": "90",
        "reminder_every_days": "3",
        "escalate_days_before_due": "2",
        **fields,
    }


def test_the_admin_creates_a_template_scheduled_and_audited(admin_client, company):
    response = admin_client.post(
        "/admin/reviews/reviewtemplate/add/", template_form(company, privileged_applications="on")
    )

    assert response.status_code == 302, response.content.decode()[:2000]
    template = ReviewTemplate.objects.get()
    assert template.next_run_at == at("2026-04-01T09:00")
    event = AuditEvent.objects.get(action="reviews.reviewtemplate.created")
    assert event.data["after"]["recurrence"] == "quarterly"


def test_the_admin_refuses_a_template_without_scope(admin_client, company):
    response = admin_client.post("/admin/reviews/reviewtemplate/add/", template_form(company, name="Nothing"))
    assert response.status_code == 200
    assert "Choose the applications or roles to review" in response.content.decode()
    assert not ReviewTemplate.objects.exists()


def test_a_view_only_user_cannot_change_templates(client, company):
    make_template(company)
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_reviewtemplate"))
    client.force_login(user)
    template = ReviewTemplate.objects.get()

    assert client.get("/admin/reviews/reviewtemplate/").status_code == 200
    assert client.get("/admin/reviews/reviewtemplate/add/").status_code == 403
    response = client.post(f"/admin/reviews/reviewtemplate/{template.pk}/change/", {"name": "Hacked"})
    assert response.status_code == 403
    assert ReviewTemplate.objects.get().name == "Wiki access"
