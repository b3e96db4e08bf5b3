"""Strict input, one error shape: unknown fields, durations, issue keys, deep/huge/NUL input, JSON errors."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse

from governance.models import AccessRequest, AuditEvent, Grant
from tests import company as c
from tests.test_api_auth import BODIES
from tests.test_api_scopes import ENDPOINTS

WRITES = [(name, view) for method, name, view in ENDPOINTS if method in ("post", "put", "patch")]
SUBMIT = {
    "jira_issue_key": "ITHELP-104",
    "requester": "bob@example.com",
    "application": "wiki",
    "role": "reader",
    "reason": "reading the docs",
}


def state() -> tuple:
    return (AccessRequest.objects.count(), Grant.objects.count(), AuditEvent.objects.count())


def assert_error(response, status: int, code: str | None = None) -> dict:
    assert response.status_code == status, response.content
    assert response["Content-Type"].startswith("application/json")
    error = response.json()["error"]
    assert error["message"]
    if code:
        assert error["code"] == code
    return error


def url_of(name: str, live_records) -> str:
    kwargs = {"key": "IT-1", "grant_id": c.grant_of(live_records).pk, "email": "bob@example.com"}
    from tests.test_api_scopes import _patterns

    route = next(p for p in _patterns() if p.name == name)
    return reverse(name, kwargs={arg: kwargs[arg] for arg in route.pattern.converters})


# Unknown fields ----------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "view"), WRITES, ids=[name for name, _ in WRITES])
def test_every_write_endpoint_names_unknown_fields(api, live_records, name, view):
    before = state()
    body = {**BODIES.get(name, {}), "duraton": "PT1H", "benificiary": "charlie@example.com"}

    response = api.post(url_of(name, live_records), body, format="json")

    error = assert_error(response, 400, "invalid")
    assert set(error["fields"]) == {"duraton", "benificiary"}
    assert "Unknown field" in error["fields"]["duraton"][0]
    assert state() == before


def test_an_unknown_field_with_an_unstorable_name_is_named_safely(api, company):
    body = json.dumps({**SUBMIT, "x\ud800": 1})
    response = api.generic("POST", "/api/v1/access-requests/", body, content_type="application/json")
    error = assert_error(response, 400, "invalid")
    assert list(error["fields"]) == ["x\\ud800"]


@pytest.mark.parametrize(("name", "view"), WRITES, ids=[name for name, _ in WRITES])
@pytest.mark.parametrize("body", ["[]", '"text"', "42", "{bad json", '{"a": NaN}'])
def test_every_write_endpoint_wants_a_json_object(api, live_records, name, view, body):
    before = state()
    response = api.generic("POST", url_of(name, live_records), body, content_type="application/json")
    assert_error(response, 400)
    assert state() == before


# Durations ---------------------------------------------------------------------------------


def test_the_roles_maximum_applies_when_no_duration_is_sent(api, company):
    c.role(company.wiki, "maintainer", company.editors, max_duration=timedelta(days=90))
    response = api.post("/api/v1/access-requests/", {**SUBMIT, "role": "maintainer"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["duration"] == "P90D"
    event = AuditEvent.objects.get(action="request.submitted")
    assert event.data["duration_source"] == "the role's maximum"


def test_the_default_duration_wins_over_the_maximum(api, company):
    c.role(
        company.wiki, "maintainer", company.editors, max_duration=timedelta(days=90), default_duration=timedelta(days=7)
    )
    response = api.post("/api/v1/access-requests/", {**SUBMIT, "role": "maintainer"}, format="json")
    assert response.json()["duration"] == "P7D"


def test_weeks_are_understood(api, company):
    c.role(company.wiki, "maintainer", company.editors, max_duration=timedelta(days=90))
    response = api.post("/api/v1/access-requests/", {**SUBMIT, "role": "maintainer", "duration": "P2W"}, format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["duration"] == "P14D"


@pytest.mark.parametrize("duration", ["P1Y", "P6M", "P1Y2M"])
def test_years_and_months_are_refused_with_what_is_allowed(api, company, duration):
    response = api.post("/api/v1/access-requests/", {**SUBMIT, "duration": duration}, format="json")
    error = assert_error(response, 400, "invalid")
    message = error["fields"]["duration"][0]
    assert "years and months" in message and "P2W, P7D, PT6H" in message
    assert not AccessRequest.objects.exists()


# Issue keys --------------------------------------------------------------------------------


def test_issue_keys_are_case_insensitive_and_stored_upper_case(api, company):
    created = api.post("/api/v1/access-requests/", {**SUBMIT, "jira_issue_key": "ithelp-104"}, format="json")
    assert created.status_code == 201
    assert created.json()["jira_issue_key"] == "ITHELP-104"
    again = api.post("/api/v1/access-requests/", SUBMIT, format="json")
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]
    assert api.get("/api/v1/access-requests/ithelp-104/").json()["id"] == created.json()["id"]
    assert AccessRequest.objects.get().jira_issue_key == "ITHELP-104"


# Deep, huge and unstorable input -------------------------------------------------------------


@pytest.mark.parametrize("depth", [33, 1000, 100_000])
def test_deeply_nested_json_is_a_400(api, company, depth):
    body = '{"reason": ' + "[" * depth + "]" * depth + "}"
    response = api.generic("POST", "/api/v1/access-requests/", body, content_type="application/json")
    error = assert_error(response, 400, "parse_error")
    assert "deeper than 32" in error["message"]


def test_a_body_over_the_limit_is_a_413_in_the_json_shape(api, company, settings):
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 10_000
    body = json.dumps({**SUBMIT, "reason": "x" * 20_000})
    response = api.generic("POST", "/api/v1/access-requests/", body, content_type="application/json")
    assert_error(response, 413, "too_large")
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize("field", ["reason", "requester", "application", "jira_issue_key"])
@pytest.mark.parametrize("bad", ["A\x00B", "A\ud800B"])
def test_nul_and_unstorable_characters_in_a_body_are_a_400(api, company, field, bad):
    body = json.dumps({**SUBMIT, field: bad})  # a lone surrogate travels as the escape \ud800
    response = api.generic("POST", "/api/v1/access-requests/", body, content_type="application/json")
    error = assert_error(response, 400, "invalid")
    assert field in error["fields"]
    assert not AccessRequest.objects.exists()


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/access-requests/A%00B/",
        "/api/v1/people/a%00b@example.com/",
        "/api/v1/access-requests/IT-1%00/approve/",
        "/api/v1/drift/?status=open%00",
    ],
)
def test_nul_bytes_in_the_address_are_a_400(api, live_records, path):
    response = api.get(path) if "approve" not in path else api.post(path, {}, format="json")
    assert_error(response, 400, "invalid")


# Every error under /api/ is JSON --------------------------------------------------------------


@pytest.mark.parametrize(
    "method,path,status",
    [
        ("get", "/api/v1/nope/", 404),
        ("get", "/api/v1/grants/abc/", 404),
        ("post", "/api/v1/grants/abc/revoke/", 404),
        ("get", "/api/v2/", 404),
        ("delete", "/api/v1/access-requests/IT-1/", 405),
        ("get", "/api/v1/access-requests/IT-1/approve/", 405),
        ("get", "/api/v1/access-requests/NOPE-1/", 404),
        ("get", "/api/v1/grants/999999/", 404),
    ],
)
def test_every_api_error_is_json(api, live_records, method, path, status):
    assert_error(getattr(api, method)(path), status)


def test_a_page_outside_the_api_still_gets_an_html_404(client, db):
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert not response["Content-Type"].startswith("application/json")


@pytest.mark.parametrize("decision", ["A\ud800B", "x\x00"])
def test_an_error_quoting_unstorable_input_is_still_json(api, live_records, decision):
    body = json.dumps({"approver": "alice@example.com", "decision": decision})
    response = api.generic(
        "POST", "/api/v1/access-requests/IT-1/emergency-review/", body, content_type="application/json"
    )
    error = assert_error(response, 400, "invalid")
    assert "decision" in error["fields"]


def test_list_errors_keyed_by_index_are_named_not_a_500():
    from governance.api.errors import _flatten

    assert _flatten({"activity": {1: {"person": ["Enter a valid email address."]}}}) == {
        "activity[1].person": ["Enter a valid email address."]
    }
    assert _flatten({"activity": {0: ["Not a valid string."]}}) == {"activity[0]": ["Not a valid string."]}
