"""The extension and emergency-review endpoints."""

from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from governance import services
from governance.models import Grant


@pytest.fixture
def api(db):
    _, token = services.create_api_token(name="jira", scopes="all", actor=services.Actor.system("test"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def grant(company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = services.submit_request(
            data=services.RequestInput(
                jira_issue_key="IT-1",
                requester="bob@example.com",
                application="wiki",
                role="editor",
                duration=timedelta(hours=6),
                reason="docs",
            )
        )[0]
        services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
    return Grant.objects.get(request=request)


def test_it_extends_at_once_within_policy(api, grant):
    response = api.post(
        f"/api/v1/grants/{grant.pk}/extend/",
        {"by": "bob@example.com", "duration": "P1D", "reason": "more"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["extensions"][0]["added"] == "P1D" and body["status"] == "active"


def test_it_answers_202_with_the_routed_request(api, grant, company):
    company.editor.max_duration = timedelta(days=1)
    company.editor.save()
    company.default_policy.exception_policy = company.default_policy
    company.default_policy.save()
    response = api.post(
        f"/api/v1/grants/{grant.pk}/extend/",
        {"by": "bob@example.com", "duration": "P1D", "reason": "more", "jira_issue_key": "IT-2"},
        format="json",
    )
    assert response.status_code == 202, response.json()
    assert response.json()["extends_grant"] == grant.pk and response.json()["status"] == "pending_approval"


@pytest.mark.parametrize(
    "body,status,field",
    [
        ({"by": "charlie@example.com", "duration": "P1D", "reason": "x"}, 403, "by"),
        ({"by": "bob@example.com", "duration": "tomorrow", "reason": "x"}, 400, "duration"),
        ({"by": "bob@example.com", "duration": "P1D", "reason": ""}, 400, "reason"),
        ({"by": "nobody@example.com", "duration": "P1D", "reason": "x"}, 400, "by"),
    ],
)
def test_it_refuses_bad_extensions(api, grant, body, status, field):
    response = api.post(f"/api/v1/grants/{grant.pk}/extend/", body, format="json")
    assert response.status_code == status
    assert field in response.json()["error"]["fields"]
    grant.refresh_from_db()
    assert not grant.extensions.exists()


def test_it_refuses_to_extend_an_ended_grant(api, grant, company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_grant(grant=grant, actor=services.Actor.of_person(company.alice), reason="done")
    response = api.post(
        f"/api/v1/grants/{grant.pk}/extend/", {"by": "bob@example.com", "duration": "P1D", "reason": "x"}, format="json"
    )
    assert response.status_code == 409 and response.json()["error"]["code"] == "not_active"


def test_it_takes_the_emergency_review(api, company, django_capture_on_commit_callbacks):
    company.editor.break_glass_allowed = True
    company.editor.save()
    with django_capture_on_commit_callbacks(execute=True):
        created = api.post(
            "/api/v1/access-requests/",
            {
                "jira_issue_key": "IT-9",
                "requester": "bob@example.com",
                "application": "wiki",
                "role": "editor",
                "reason": "outage",
                "emergency": True,
            },
            format="json",
        )
    assert created.status_code == 201 and created.json()["emergency"] is True
    assert created.json()["grant"]["status"] == "pending"  # the outbox runs after commit
    assert api.get("/api/v1/access-requests/IT-9/").json()["grant"]["status"] == "active"
    denied = api.post(
        "/api/v1/access-requests/IT-9/emergency-review/",
        {"approver": "charlie@example.com", "decision": "confirm"},
        format="json",
    )
    assert denied.status_code == 403
    ok = api.post(
        "/api/v1/access-requests/IT-9/emergency-review/",
        {"approver": "alice@example.com", "decision": "confirm", "comment": "justified"},
        format="json",
    )
    assert ok.status_code == 200
    again = api.post(
        "/api/v1/access-requests/IT-9/emergency-review/",
        {"approver": "alice@example.com", "decision": "reject"},
        format="json",
    )
    assert again.status_code == 409


def test_it_answers_400_for_an_absurd_duration(api, company):
    response = api.post(
        "/api/v1/access-requests/",
        {
            "jira_issue_key": "IT-3",
            "requester": "bob@example.com",
            "application": "wiki",
            "role": "reader",
            "duration": "P3000000D",
            "reason": "forever",
        },
        format="json",
    )
    assert response.status_code == 400 and "duration" in response.json()["error"]["fields"]
