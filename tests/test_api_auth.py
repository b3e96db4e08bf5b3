"""Every API endpoint answers 401 without a valid token, and does nothing."""

from __future__ import annotations

import hashlib

import pytest
from django.urls import URLPattern, reverse
from rest_framework.test import APIClient

from governance.api import urls as api_urls
from governance.models import AccessRequest, ApiToken, AuditEvent, Grant
from governance.services import Actor, create_api_token, revoke_api_token
from tests import company as c

SAMPLE_ARGS = {"key": "IT-1", "email": "bob@example.com", "grant_id": 1}
METHODS = ("get", "post", "put", "patch", "delete")
BODIES = {
    "access-requests": {
        "jira_issue_key": "IT-2",
        "requester": "charlie@example.com",
        "application": "wiki",
        "role": "reader",
        "reason": "x",
    },
    "access-request-approve": {"approver": "alice@example.com"},
    "access-request-deny": {"approver": "alice@example.com"},
    "access-request-cancel": {"by": "bob@example.com"},
    "grant-revoke": {"by": "alice@example.com", "reason": "x"},
    "grant-extend": {"by": "bob@example.com", "duration": "P1D", "reason": "x"},
    "access-request-emergency": {"approver": "alice@example.com", "decision": "reject"},
}


def endpoints() -> list[tuple[str, str, dict]]:
    """(method, url name, kwargs) for every route in governance/api_urls.py."""
    found = []
    for pattern in api_urls.urlpatterns:
        assert isinstance(pattern, URLPattern)
        view = pattern.callback.view_class
        kwargs = {name: SAMPLE_ARGS[name] for name in pattern.pattern.converters}
        found += [(method, pattern.name, kwargs) for method in METHODS if hasattr(view, method)]
    return found


ENDPOINTS = endpoints()


def revoked_secret() -> str:
    token, secret = create_api_token(name="old", scopes="all", actor=Actor.system("tests"))
    revoke_api_token(token=token, actor=Actor.system("tests"))
    return secret


def state() -> tuple:
    return (
        AccessRequest.objects.count(),
        list(AccessRequest.objects.values_list("status", flat=True)),
        list(Grant.objects.values_list("status", flat=True)),
        AuditEvent.objects.count(),
    )


def test_it_lists_every_endpoint():
    names = {name for _, name, _ in ENDPOINTS}
    assert len(names) == len(api_urls.urlpatterns) >= 11  # every route found, none skipped


@pytest.mark.parametrize("credentials", ["none", "malformed", "wrong-scheme", "unknown", "wrong-secret", "revoked"])
@pytest.mark.parametrize(("method", "name", "kwargs"), ENDPOINTS, ids=[f"{m} {n}" for m, n, _ in ENDPOINTS])
def test_it_answers_401_without_a_valid_token(live_records, api_secret, method, name, kwargs, credentials):
    header = {
        "none": None,
        "malformed": "Bearer",
        "wrong-scheme": f"Token {api_secret}",
        "unknown": "Bearer gh_00000000_" + "x" * 43,
        "wrong-secret": "Bearer " + api_secret[:-4] + "AAAA",
        "revoked": f"Bearer {revoked_secret()}",
    }[credentials]
    kwargs = {**kwargs, "grant_id": c.grant_of(live_records).pk} if "grant_id" in kwargs else kwargs
    client = APIClient()
    if header:
        client.credentials(HTTP_AUTHORIZATION=header)
    before = state()

    response = getattr(client, method)(reverse(name, kwargs=kwargs), BODIES.get(name, {}), format="json")

    assert response.status_code == 401, response.content
    assert response["WWW-Authenticate"] == 'Bearer realm="gatehouse"'
    error = response.json()["error"]
    assert error["code"] in ("not_authenticated", "authentication_failed") and error["message"]
    assert state() == before


def test_it_accepts_a_valid_token(live_records, api):
    assert api.get(reverse("access-request", kwargs={"key": "IT-1"})).status_code == 200


def test_it_stores_only_a_hash_of_the_secret(db):
    token, secret = create_api_token(name="jira", scopes="all", actor=Actor.system("tests"))

    stored = ApiToken.objects.get(pk=token.pk)
    _, prefix, raw = secret.split("_", 2)
    assert prefix == stored.prefix
    assert stored.secret_hash not in (secret, raw)
    assert raw not in stored.secret_hash
    assert stored.secret_hash == hashlib.sha256(raw.encode()).hexdigest()
