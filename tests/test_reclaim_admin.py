"""Auto Reclaim in the admin: policy validation, counts per policy, open cases and history."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.urls import reverse

from catalog.models import GroupMembership
from governance.models import AuditEvent
from provisioning.models import LocalMembership
from reviews.models import ReclaimCase, ReclaimPolicy
from reviews.reclaim.services import run_reclaim

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)


@pytest.fixture
def admin_client(client, company):
    user = User.objects.create_superuser("dana", "dana@example.com", "pw")
    client.force_login(user)
    return client


@pytest.fixture
def wiki_policy(company):
    return ReclaimPolicy.objects.create(application=company.wiki, threshold_days=90, grace_days=14, mode="enforce")


def form(company, **over) -> dict:
    data = {
        "application": company.wiki.pk,
        "is_active": "on",
        "mode": "enforce",
        "activity_source": "provider_login",
        "threshold_days": "90",
        "grace_days": "14",
        "warn": "on",
        "warning_text": "",
    }
    data.update(over)
    return data


def test_it_refuses_a_second_active_policy_for_an_app_readably(admin_client, company, wiki_policy):
    page = admin_client.post(reverse("admin:reviews_reclaimpolicy_add"), form(company))
    assert page.status_code == 200
    assert b"This application already has an active reclaim policy" in page.content
    assert ReclaimPolicy.objects.count() == 1


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("threshold_days", "0", b"greater than or equal to 1"),
        ("grace_days", "0", b"greater than or equal to 1"),
        ("warning_text", "Hi {nom}", b"Unknown placeholder"),
    ],
)
def test_it_validates_the_policy_fields(admin_client, company, field, value, message):
    page = admin_client.post(reverse("admin:reviews_reclaimpolicy_add"), form(company, **{field: value}))
    assert page.status_code == 200 and message in page.content
    assert not ReclaimPolicy.objects.exists()


def test_excluding_a_person_in_the_admin_closes_their_open_case(
    admin_client, company, wiki_policy, django_capture_on_commit_callbacks
):
    LocalMembership.objects.create(person=company.charlie, group=company.readers)
    GroupMembership.objects.create(person=company.charlie, group=company.readers, origin="external", since=T0)
    company.charlie.last_login_at = T0 - 100 * DAY
    company.charlie.save()
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        run_reclaim()
    url = reverse("admin:reviews_reclaimpolicy_change", args=[wiki_policy.pk])
    page = admin_client.post(url, form(company, excluded_people=[company.charlie.pk]))
    assert page.status_code == 302
    case = ReclaimCase.objects.get()
    assert (case.status, case.outcome) == ("closed", "excluded")
    assert AuditEvent.objects.get(action="reclaim.excluded").actor == "admin:dana"


def test_the_admin_shows_counts_open_cases_and_history(admin_client, company, wiki_policy):
    now = datetime.now(UTC)
    common = {"policy": wiki_policy, "application": company.wiki, "group": company.readers, "opened_at": now}
    ReclaimCase.objects.create(
        person=company.bob, status="warned", warned_at=now, revoke_after=now + 14 * DAY, **common
    )
    for person, outcome in [(company.alice, "reclaimed"), (company.charlie, "reclaimed"), (company.dana, "excluded")]:
        ReclaimCase.objects.create(
            person=person, status="closed", outcome=outcome, warned_at=now, closed_at=now, **common
        )
    ReclaimCase.objects.create(
        person=company.alice, status="closed", outcome="kept_active_again", closed_at=now - 62 * DAY, **common
    )
    page = admin_client.get(reverse("admin:reviews_reclaimpolicy_changelist"))
    assert page.status_code == 200
    row = page.context["cl"].result_list.get()
    assert (row.n_open, row.n_warned, row.n_reclaimed, row.n_kept, row.n_excluded, row.n_month) == (1, 4, 2, 1, 1, 2)
    assert b"licences reclaimed this month" in page.content.lower()

    open_page = admin_client.get(reverse("admin:reviews_openreclaimcase_changelist"))
    assert [c.person for c in open_page.context["cl"].result_list] == [company.bob]
    assert b"revoke after" in open_page.content.lower()
    closed_page = admin_client.get(reverse("admin:reviews_closedreclaimcase_changelist") + "?outcome=reclaimed")
    assert {c.person for c in closed_page.context["cl"].result_list} == {company.alice, company.charlie}
