"""The offboarding call and the activity feed, over HTTP; the Jira evidence of an offboarding."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from catalog.models import AppActivity
from governance.jira import adf
from governance.models import AuditEvent, Grant, Offboarding
from governance.tasks import sweep_jira_updates
from tests import company as c


def offboard_url(email: str) -> str:
    return f"/api/v1/people/{email}/offboard/"


def granted(company, tasks, key="IT-1", role="editor", requester="bob@example.com"):
    with tasks():
        request = c.submit(key, requester=requester, role=role)
        c.decide(request, company.alice)
    return c.grant_of(request)


def test_it_offboards_through_the_api_once_per_issue(company, api, tasks):
    grant = granted(company, tasks)
    body = {"by": "hr@example.com", "reason": "last day 30 Nov", "jira_issue_key": "HR-7"}
    with tasks():
        first = api.post(offboard_url("bob@example.com"), body, format="json")
    assert first.status_code == 201, first.json()
    data = first.json()
    assert data["status"] in ("in_progress", "completed") and data["jira_issue_key"] == "HR-7"
    assert [g["id"] for g in data["ended"]["grants"]] == [grant.pk]
    assert data["requested_by"] == "hr@example.com"
    again = api.post(offboard_url("BOB@example.com"), body, format="json")
    assert again.status_code == 200 and again.json()["id"] == data["id"]
    assert Offboarding.objects.count() == 1
    assert Grant.objects.get(pk=grant.pk).status == "revoked"


def test_a_future_effective_date_schedules_the_offboarding(company, api, tasks):
    grant = granted(company, tasks)
    later = (timezone.now() + timedelta(days=3)).isoformat()
    response = api.post(
        offboard_url("bob@example.com"), {"by": "hr@example.com", "reason": "leaving", "effective_at": later}, "json"
    )
    assert response.status_code == 201
    assert response.json()["status"] == "scheduled"
    assert Grant.objects.get(pk=grant.pk).status == "active"
    import time_machine

    from governance.lifecycle.services import run_lifecycle

    with time_machine.travel(timezone.now() + timedelta(days=4)), tasks():
        run_lifecycle()
    assert Grant.objects.get(pk=grant.pk).status == "revoked"
    assert Offboarding.objects.get().status in ("in_progress", "completed")


def test_an_unknown_person_is_a_404_in_the_error_shape(company, api):
    response = api.post(offboard_url("nobody@example.com"), {"by": "hr@example.com", "reason": "x"}, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert "nobody@example.com" in response.json()["error"]["message"]


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"reason": "x"}, "by"),
        ({"by": "not-an-email", "reason": "x"}, "by"),
        ({"by": "hr@example.com"}, "reason"),
        ({"by": "hr@example.com", "reason": "x", "jira_issue_key": "not a key"}, "jira_issue_key"),
        ({"by": "hr@example.com", "reason": "x", "effective_at": "next tuesday"}, "effective_at"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(company, api, body, field):
    response = api.post(offboard_url("bob@example.com"), body, format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    assert not Offboarding.objects.exists()


def test_the_endpoints_need_a_token(company, client):
    assert client.post(offboard_url("bob@example.com"), {}, content_type="application/json").status_code == 401
    assert client.post("/api/v1/activity/", {}, content_type="application/json").status_code == 401


def test_the_person_shows_lifecycle_events_and_offboardings(company, api, tasks):
    granted(company, tasks)
    with tasks():
        api.post(offboard_url("bob@example.com"), {"by": "hr@example.com", "reason": "left"}, format="json")
    person = api.get("/api/v1/people/bob@example.com/").json()
    assert [e["kind"] for e in person["lifecycle_events"]] == ["leaver"]
    assert person["lifecycle_events"][0]["trigger"] == "api"
    assert person["offboardings"][0]["pending"]["grants"] == 1
    assert person["active_grants"] == []


# -- activity ------------------------------------------------------------------------------------

SEEN = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)


def test_it_records_application_activity_idempotently(company, api):
    rows = [
        {"application": "wiki", "person": "bob@example.com", "last_active_at": SEEN.isoformat()},
        {"application": "wiki", "person": "Charlie@example.com", "last_active_at": SEEN.isoformat()},
        {"application": "wiki", "person": "bob@example.com", "last_active_at": (SEEN - timedelta(days=3)).isoformat()},
    ]
    first = api.post("/api/v1/activity/", {"activity": rows}, format="json")
    assert first.status_code == 200, first.json()
    assert first.json() == {"received": 3, "created": 2, "updated": 0, "unchanged": 0}
    again = api.post("/api/v1/activity/", {"activity": rows}, format="json")
    assert again.json() == {"received": 3, "created": 0, "updated": 0, "unchanged": 2}
    assert AppActivity.objects.get(person=company.bob).last_activity_at == SEEN
    assert AuditEvent.objects.filter(action="activity.recorded").count() == 1
    older = [{"application": "wiki", "person": "bob@example.com", "last_active_at": "2026-01-01T00:00:00Z"}]
    api.post("/api/v1/activity/", {"activity": older}, format="json")
    assert AppActivity.objects.get(person=company.bob).last_activity_at == SEEN  # never moves back


@pytest.mark.parametrize(
    ("row", "field"),
    [
        ({"application": "nope", "person": "bob@example.com", "last_active_at": "2026-11-01T00:00:00Z"}, "application"),
        ({"application": "wiki", "person": "who@example.com", "last_active_at": "2026-11-01T00:00:00Z"}, "person"),
        ({"application": "wiki", "person": "bob@example.com", "last_active_at": "yesterday"}, "last_active_at"),
        (
            {"application": "wiki", "person": "bob@example.com", "last_active_at": "2099-01-01T00:00:00Z"},
            "last_active_at",
        ),
    ],
)
def test_bad_activity_is_a_400_naming_the_row_and_field(company, api, row, field):
    good = {"application": "wiki", "person": "bob@example.com", "last_active_at": "2026-11-01T00:00:00Z"}
    response = api.post("/api/v1/activity/", {"activity": [good, row]}, format="json")
    assert response.status_code == 400, response.json()
    assert f"activity[1].{field}" in response.json()["error"]["fields"]
    assert not AppActivity.objects.exists()  # all or nothing


def test_an_empty_batch_is_refused(company, api):
    response = api.post("/api/v1/activity/", {"activity": []}, format="json")
    assert response.status_code == 400 and "activity" in response.json()["error"]["fields"]


# -- Jira evidence -------------------------------------------------------------------------------


@pytest.fixture
def jira(jira, settings):
    settings.JIRA_TICKETS = {**settings.JIRA_TICKETS, "PROJECT": "ITOPS"}
    return jira


def texts(emulator, key: str) -> list[str]:
    return [adf.plain_text(comment["body"]) for comment in emulator.comments(key)]


def test_the_hr_issue_and_the_grants_issue_show_the_offboarding(company, api, tasks, jira):
    grant = granted(company, tasks)
    with tasks():
        api.post(
            offboard_url("bob@example.com"),
            {"by": "hr@example.com", "reason": "left", "jira_issue_key": "HR-7"},
            format="json",
        )
    from governance.lifecycle.services import run_lifecycle

    with tasks():
        run_lifecycle()
        sweep_jira_updates()
    hr = texts(jira, "HR-7")
    assert len(hr) == 2, hr
    assert hr[0].startswith("Offboarding started") and f"Grant #{grant.pk}: Wiki / Editor (IT-1)" in hr[0]
    assert hr[1].startswith("Offboarding complete")
    own = texts(jira, "IT-1")
    assert any(t.startswith("Access revoked") and "offboarding" in t for t in own)
    assert any(t.startswith("Removal confirmed") for t in own)
    assert not [k for k in jira.issues if k.startswith("ITOPS-")]  # nothing manual remains


def test_a_ticket_is_opened_when_manual_removals_remain(company, api, tasks, jira):
    payroll = c.app("payroll", owner=company.alice, mode="manual")
    c.role(payroll, "clerk")
    with tasks():
        request = c.submit("IT-1", requester="bob@example.com", application="payroll", role="clerk")
        c.decide(request, company.alice)
    from django.contrib.auth import get_user_model

    from provisioning.models import FulfilmentTask
    from provisioning.outbox.services import complete_fulfilment_task

    admin = get_user_model().objects.create_superuser("it", "it@example.com", "pw")
    complete_fulfilment_task(task=FulfilmentTask.objects.get(action="grant"), user=admin)
    with tasks():
        api.post(
            offboard_url("bob@example.com"),
            {"by": "hr@example.com", "reason": "left", "jira_issue_key": "HR-7"},
            format="json",
        )
        sweep_jira_updates()
    tickets = [k for k in jira.issues if k.startswith("ITOPS-")]
    assert len(tickets) == 1
    assert "Payroll" in adf.plain_text(jira.issues[tickets[0]]["fields"]["description"])


def test_a_row_that_is_not_an_object_is_a_400_naming_it(company, api):
    response = api.post("/api/v1/activity/", {"activity": [[None, None]]}, format="json")
    assert response.status_code == 400, response.content
    assert "activity[0]" in response.json()["error"]["fields"]
