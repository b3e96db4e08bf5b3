"""The evidence API: one call traces a person × an application; requests and grants are listable."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from governance.models import AuditEvent, Grant
from tests import company as company_factory

BASE = "/api/v1"


def submit(api, key: str, *, requester: str = "bob@example.com", role: str = "editor", duration: str | None = "PT6H"):
    body = {"jira_issue_key": key, "requester": requester, "application": "wiki", "role": role}
    body.update({"reason": f"reason for {key}", **({"duration": duration} if duration else {})})
    response = api.post(f"{BASE}/access-requests/", body, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def approve(api, key: str, approver: str = "alice@example.com"):
    response = api.post(f"{BASE}/access-requests/{key}/approve/", {"approver": approver}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


@pytest.fixture
def history(company, api, tasks):
    """bob: editor approved, provisioned and revoked; reader approved and live; one denied request."""
    with tasks():
        submit(api, "ITHELP-1")
        approve(api, "ITHELP-1")
        grant_id = api.get(f"{BASE}/access-requests/ITHELP-1/").json()["grant"]["id"]
        api.post(f"{BASE}/grants/{grant_id}/revoke/", {"by": "alice@example.com", "reason": "done"}, format="json")
        submit(api, "ITHELP-2", role="reader", duration="")
        approve(api, "ITHELP-2")
        submit(api, "ITHELP-3", requester="charlie@example.com")
    other = company_factory.app("crm", owner=company.alice)
    company_factory.role(other, "user", company_factory.group("crm-users"))
    return company


def test_it_traces_a_person_and_an_application_in_one_call(api, history):
    response = api.get(f"{BASE}/trace/", {"person": "bob@example.com", "application": "wiki"})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["person"]["email"] == "bob@example.com" and body["application"]["slug"] == "wiki"
    keys = [r["jira_issue_key"] for r in body["requests"]]
    assert keys == ["ITHELP-2", "ITHELP-1"]
    first = body["requests"][1]
    assert first["reason"] == "reason for ITHELP-1" and first["policy_version"] == 1
    assert first["decisions"] == [
        {
            "step": 1,
            "person": "alice@example.com",
            "admin_user": None,
            "approved": True,
            "decided_at": first["decisions"][0]["decided_at"],
            "channel": "api",
            "comment": "",
            "on_behalf_of": None,
        }
    ]
    revoked = first["grant"]
    assert revoked["status"] == "revoked" and revoked["removed_at"]
    assert {(c["action"], c["group"], c["status"]) for c in revoked["changes"]} >= {
        ("add", "wiki-editors", "succeeded"),
        ("remove", "wiki-editors", "succeeded"),
    }
    assert [g["role"] for g in body["current"]["grants"]] == ["reader"]
    memberships = {m["group"]: m["explained_by_grant"] for m in body["current"]["memberships"]}
    assert memberships == {"wiki-readers": True}
    actions = [e["action"] for e in body["events"]]
    assert actions[0] == "request.submitted" and "grant.revoked" in actions
    assert [e["seq"] for e in body["events"]] == sorted(e["seq"] for e in body["events"])
    assert all(e["request"] in ("ITHELP-1", "ITHELP-2") or e["request"] is None for e in body["events"])
    assert body["next"] is None


def test_the_timeline_pages_by_sequence(api, history):
    everything = api.get(f"{BASE}/trace/", {"person": "bob@example.com", "limit": 1000}).json()["events"]
    first = api.get(f"{BASE}/trace/", {"person": "bob@example.com", "limit": 3}).json()
    assert [e["seq"] for e in first["events"]] == [e["seq"] for e in everything[:3]]
    follow = api.get(first["next"]).json()
    assert [e["seq"] for e in follow["events"]] == [e["seq"] for e in everything[3:6]]


def test_an_application_alone_traces_everyone(api, history):
    body = api.get(f"{BASE}/trace/", {"application": "wiki"}).json()
    assert body["person"] is None
    assert {r["jira_issue_key"] for r in body["requests"]} == {"ITHELP-1", "ITHELP-2", "ITHELP-3"}
    assert body["events"] and all(e["action"] for e in body["events"])


def test_the_trace_query_count_does_not_grow_with_history(api, history, tasks):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(f"{BASE}/trace/", {"person": "bob@example.com", "application": "wiki"}).status_code == 200
        return len(captured)

    before = queries()
    with tasks():
        for n in range(4, 9):
            submit(api, f"ITHELP-{n}")
            approve(api, f"ITHELP-{n}")
            grant_id = api.get(f"{BASE}/access-requests/ITHELP-{n}/").json()["grant"]["id"]
            api.post(f"{BASE}/grants/{grant_id}/revoke/", {"by": "alice@example.com", "reason": "x"}, format="json")
    assert queries() == before


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "person"),
        ({"person": "nobody@example.com"}, "person"),
        ({"application": "nope"}, "application"),
        ({"person": "bob@example.com", "colour": "red"}, "colour"),
        ({"person": "bob@example.com", "limit": "0"}, "limit"),
    ],
)
def test_bad_trace_queries_are_400s_naming_the_field(api, company, params, field):
    response = api.get(f"{BASE}/trace/", params)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_the_lists_filter_order_and_paginate(api, history):
    listed = api.get(f"{BASE}/access-requests/", {"person": "bob@example.com", "ordering": "created_at"}).json()
    assert [r["jira_issue_key"] for r in listed["results"]] == ["ITHELP-1", "ITHELP-2"]
    denied_or_pending = api.get(f"{BASE}/access-requests/", {"status": "pending_approval"}).json()
    assert [r["jira_issue_key"] for r in denied_or_pending["results"]] == ["ITHELP-3"]
    page = api.get(f"{BASE}/access-requests/", {"limit": 2}).json()
    assert len(page["results"]) == 2 and page["next"]
    rest = api.get(page["next"]).json()
    seen = [r["jira_issue_key"] for r in page["results"] + rest["results"]]
    assert sorted(seen) == ["ITHELP-1", "ITHELP-2", "ITHELP-3"] and len(set(seen)) == 3

    grants = api.get(f"{BASE}/grants/", {"person": "bob@example.com", "status": "revoked"}).json()["results"]
    assert [(g["role"], g["status"]) for g in grants] == [("editor", "revoked")]
    live = api.get(f"{BASE}/grants/", {"status": "active,pending", "application": "wiki"}).json()["results"]
    assert [g["role"] for g in live] == ["reader"]
    ended = Grant.objects.get(status="revoked").ended_at
    after = api.get(f"{BASE}/grants/", {"ended_after": ended.isoformat()}).json()["results"]
    assert [g["status"] for g in after] == ["revoked"]


@pytest.mark.parametrize(
    ("url", "params", "field"),
    [
        ("/access-requests/", {"status": "nonsense"}, "status"),
        ("/access-requests/", {"person": "ghost@example.com"}, "person"),
        ("/access-requests/", {"ordering": "reason"}, "ordering"),
        ("/access-requests/", {"cursor": "garbage"}, "cursor"),
        ("/grants/", {"colour": "red"}, "colour"),
        ("/grants/", {"created_after": "yesterday"}, "created_after"),
        ("/grants/", {"limit": "501"}, "limit"),
    ],
)
def test_bad_list_filters_are_400s_naming_them(api, company, url, params, field):
    response = api.get(f"{BASE}{url}", params)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_list_query_counts_are_constant(api, history, tasks):
    def queries(url: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(f"{BASE}{url}").status_code == 200
        return len(captured)

    before = (queries("/access-requests/"), queries("/grants/"))
    with tasks():
        for n in range(10, 15):
            newcomer = company_factory.person(f"p{n}@example.com", f"Person {n}", manager=history.alice)
            submit(api, f"ITHELP-{n}", requester=newcomer.email)
    assert (queries("/access-requests/"), queries("/grants/")) == before


def test_every_event_of_a_request_names_its_application(history):
    events = AuditEvent.objects.filter(request__jira_issue_key="ITHELP-1")
    assert events.exists()
    assert set(events.values_list("application__slug", flat=True)) == {"wiki"}


def test_the_evidence_endpoints_need_a_token(client, company):
    for url in ("/trace/?person=bob@example.com", "/access-requests/", "/grants/"):
        assert client.get(f"{BASE}{url}").status_code == 401


def test_the_api_docs_load_swagger_ui_from_this_server(client, db):
    page = client.get("/api/docs/").content.decode()
    assert "/static/drf_spectacular_sidecar/swagger-ui-dist/swagger-ui-bundle.js" in page
    assert "cdn" not in page.lower() and "unpkg" not in page.lower() and "jsdelivr" not in page.lower()
