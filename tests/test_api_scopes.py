"""The authorization matrix, generated from the URL conf: every /api/v1/ endpoint × every scope.

A token without the endpoint's scope gets 403 `insufficient_scope` naming it, and nothing changes;
a token with it gets past the scope check. An endpoint that declares no scope fails this suite."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from rest_framework.test import APIClient

from governance.api.authentication import required_scope
from governance.services import Actor, create_api_token
from governance.tokens.scopes import ALL_SCOPES
from tests import company as c
from tests.test_api_auth import BODIES, METHODS, SAMPLE_ARGS, state


def api_endpoints(patterns=None, prefix: str = "") -> list[tuple[str, str, object]]:
    """(method, url name, view class) for every route whose path starts with api/v1/."""
    found = []
    for pattern in patterns if patterns is not None else get_resolver().url_patterns:
        route = prefix + str(pattern.pattern)
        if isinstance(pattern, URLResolver):
            found += api_endpoints(pattern.url_patterns, route)
        elif isinstance(pattern, URLPattern) and route.startswith("api/v1/"):
            view = getattr(pattern.callback, "view_class", None)
            assert view is not None, f"{route} is not a class-based API view"
            found += [(method, pattern.name, view) for method in METHODS if hasattr(view, method)]
    return found


ENDPOINTS = api_endpoints()
IDS = [f"{method} {name}" for method, name, _ in ENDPOINTS]


def test_it_finds_every_api_endpoint():
    assert len({name for _, name, _ in ENDPOINTS}) >= 12


@pytest.mark.parametrize(("method", "name", "view"), ENDPOINTS, ids=IDS)
def test_every_endpoint_declares_a_known_scope(method, name, view):
    scope = required_scope(view, method)
    assert scope is not None, f"{method.upper()} {name} declares no scope: add required_scope = Scope.… to {view}"
    assert scope in ALL_SCOPES


def client_with(*scopes: str, name: str = "") -> APIClient:
    name = name or "+".join(scopes)
    _, secret = create_api_token(name=name, scopes=list(scopes), actor=Actor.system("tests"))
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def call(client: APIClient, method: str, name: str, kwargs: dict):
    return getattr(client, method)(reverse(name, kwargs=kwargs), BODIES.get(name, {}), format="json")


@pytest.mark.parametrize(("method", "name", "view"), ENDPOINTS, ids=IDS)
def test_the_authorization_matrix(live_records, method, name, view):
    needed = required_scope(view, method)
    route = next(p for p in _patterns() if p.name == name)
    kwargs = {arg: SAMPLE_ARGS[arg] for arg in route.pattern.converters}
    if "grant_id" in kwargs:
        kwargs["grant_id"] = c.grant_of(live_records).pk
    clients = {scope: client_with(scope) for scope in ALL_SCOPES}
    before = state()
    for scope in ALL_SCOPES:
        if scope == needed:
            continue
        response = call(clients[scope], method, name, kwargs)
        assert response.status_code == 403, (scope, response.content)
        error = response.json()["error"]
        assert error["code"] == "insufficient_scope" and error["scope"] == needed
        assert needed in error["message"]
    assert state() == before

    response = call(clients[needed], method, name, kwargs)
    assert response.status_code not in (401, 403), response.content
    assert response.status_code < 500


def _patterns() -> list[URLPattern]:
    out = []

    def walk(patterns):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns)
            else:
                out.append(pattern)

    walk(get_resolver().url_patterns)
    return out


def test_a_token_with_every_other_scope_still_lacks_the_one_needed(live_records):
    others = [scope for scope in ALL_SCOPES if scope != "requests:decide"]
    response = client_with(*others, name="all-but-decide").post(
        "/api/v1/access-requests/IT-1/approve/", {"approver": "alice@example.com"}
    )
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "insufficient_scope",
        "message": "API token 'all-but-decide' lacks the scope requests:decide this call needs.",
        "scope": "requests:decide",
    }
