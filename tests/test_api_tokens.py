"""What a token can do: its actors, expiry, rotation, last use, audit trail, and the commands."""

from __future__ import annotations

import importlib
import io
from datetime import timedelta

import pytest
import time_machine
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone
from rest_framework.test import APIClient

from governance.models import AccessRequest, ApiToken, AuditEvent
from governance.services import Actor, create_api_token, rotate_api_token
from governance.tokens.scopes import ALL_SCOPES
from tests import company as c

APPROVE = "/api/v1/access-requests/IT-1/approve/"


def client_for(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


def token(name: str = "t", scopes=ALL_SCOPES, **options) -> tuple[ApiToken, str]:
    return create_api_token(name=name, scopes=list(scopes), actor=Actor.system("tests"), **options)


@pytest.fixture
def pending(company):
    return c.submit("IT-1")


# Actors ------------------------------------------------------------------------------------


@pytest.mark.parametrize("actors", [["alice@example.com"], ["@example.com"], ["ALICE@Example.com", "x@y.org"]])
def test_it_lets_a_token_speak_for_its_actors(pending, actors):
    _, secret = token(actors=actors)
    response = client_for(secret).post(APPROVE, {"approver": "alice@example.com"}, format="json")
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize(
    "path,body,field",
    [
        (APPROVE, {"approver": "dana@example.com"}, "approver"),
        ("/api/v1/access-requests/IT-1/cancel/", {"by": "bob@example.com"}, "by"),
        (
            "/api/v1/access-requests/",
            {"jira_issue_key": "IT-9", "requester": "bob@example.com", "application": "wiki", "role": "reader",
             "reason": "x"},
            "requester",
        ),
    ],
)  # fmt: skip
def test_it_refuses_to_speak_for_anyone_else(pending, path, body, field):
    _, secret = token(actors=["alice@example.com", "@other.example"])
    before = (AccessRequest.objects.count(), AuditEvent.objects.count())

    response = client_for(secret).post(path, body, format="json")

    assert response.status_code == 403
    error = response.json()["error"]
    assert error["code"] == "actor_not_allowed"
    assert error["fields"] == {field: [error["message"]]}
    assert (AccessRequest.objects.count(), AuditEvent.objects.count()) == before


def test_it_refuses_malformed_actors(db):
    from governance.errors import InvalidInput

    with pytest.raises(InvalidInput, match="neither an email nor a domain"):
        token(actors=["not-an-email"])


# Expiry, rotation, last use ----------------------------------------------------------------


def test_it_stops_accepting_a_token_once_it_expires(pending):
    _, secret = token(expires_in=timedelta(days=90))
    assert client_for(secret).get("/api/v1/access-requests/IT-1/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(days=90, seconds=1)):
        response = client_for(secret).get("/api/v1/access-requests/IT-1/")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]


def test_a_rotated_token_keeps_its_old_secret_for_the_overlap_only(pending):
    stored, old = token()
    _, new = rotate_api_token(token=stored, actor=Actor.system("tests"), overlap=timedelta(hours=24))

    assert new != old
    assert client_for(old).get("/api/v1/access-requests/IT-1/").status_code == 200
    assert client_for(new).get("/api/v1/access-requests/IT-1/").status_code == 200
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        assert client_for(old).get("/api/v1/access-requests/IT-1/").status_code == 401
        assert client_for(new).get("/api/v1/access-requests/IT-1/").status_code == 200
    assert AuditEvent.objects.filter(action="api_token.rotated").count() == 1


def test_a_rotation_without_overlap_ends_the_old_secret_at_once(pending):
    stored, old = token()
    _, new = rotate_api_token(token=stored, actor=Actor.system("tests"), overlap=timedelta(0))
    assert client_for(old).get("/api/v1/access-requests/IT-1/").status_code == 401
    assert client_for(new).get("/api/v1/access-requests/IT-1/").status_code == 200


def test_it_records_last_use_at_most_once_a_minute(pending):
    stored, secret = token()
    client = client_for(secret)
    start = timezone.now()
    with time_machine.travel(start, tick=False):
        client.get("/api/v1/access-requests/IT-1/")
    stored.refresh_from_db()
    assert stored.last_used_at == start
    with time_machine.travel(start + timedelta(seconds=59), tick=False):
        client.get("/api/v1/access-requests/IT-1/")
    stored.refresh_from_db()
    assert stored.last_used_at == start  # not written again within the minute
    with time_machine.travel(start + timedelta(seconds=61), tick=False):
        client.get("/api/v1/access-requests/IT-1/")
    stored.refresh_from_db()
    assert stored.last_used_at == start + timedelta(seconds=61)


# The audit trail names the token ------------------------------------------------------------


def test_every_decision_revocation_and_extension_records_the_token(company, tasks):
    _, secret = token(name="jira-decide")
    client = client_for(secret)
    with tasks():
        c.submit("IT-1")
        assert client.post(APPROVE, {"approver": "alice@example.com"}, format="json").status_code == 200
    grant = c.grant_of(AccessRequest.objects.get(jira_issue_key="IT-1"))
    extend = {"by": "alice@example.com", "duration": "PT6H", "reason": "more"}
    assert client.post(f"/api/v1/grants/{grant.pk}/extend/", extend, format="json").status_code in (200, 202)
    revoke = {"by": "alice@example.com", "reason": "done"}
    with tasks():
        assert client.post(f"/api/v1/grants/{grant.pk}/revoke/", revoke, format="json").status_code == 200

    by_person = AuditEvent.objects.filter(actor="alice@example.com")
    actions = set(by_person.values_list("action", flat=True))
    assert {"step.approved", "grant.revoked"} <= actions
    assert actions & {"grant.extended", "grant.extension_requested"}
    assert all(event.data.get("api_token") == "jira-decide" for event in by_person)


# Commands ----------------------------------------------------------------------------------


def test_the_command_creates_a_scoped_expiring_token_for_some_actors(db):
    out, err = io.StringIO(), io.StringIO()
    call_command(
        "create_api_token", "jira", "--scopes", "requests:submit,requests:read", "--expires-in", "P90D",
        "--actors", "ann@example.com", "@example.org", stdout=out, stderr=err,
    )  # fmt: skip
    stored = ApiToken.objects.get(name="jira")
    assert stored.scopes == ["requests:submit", "requests:read"]
    assert stored.actors == ["@example.org", "ann@example.com"]
    assert timedelta(days=89) < stored.expires_at - timezone.now() <= timedelta(days=90)
    assert out.getvalue().strip().startswith(f"gh_{stored.prefix}_")


@pytest.mark.parametrize(
    "args,message",
    [
        (["--scopes", "requests:submit,requests:approve"], "Unknown scope requests:approve"),
        (["--scopes", "requests:read", "--expires-in", "P1Y"], "years and months"),
        (["--scopes", "requests:read", "--actors", "nobody"], "neither an email nor a domain"),
    ],
)
def test_the_command_refuses_bad_options_readably(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("create_api_token", "jira", *args, stdout=io.StringIO(), stderr=io.StringIO())
    assert not ApiToken.objects.exists()


def test_the_rotate_command_prints_a_new_secret(pending):
    stored, old = token(name="jira")
    out = io.StringIO()
    call_command("rotate_api_token", "jira", "--overlap", "PT1H", stdout=out, stderr=io.StringIO())
    new = out.getvalue().strip()
    assert new.startswith(f"gh_{stored.prefix}_") and new != old
    assert client_for(new).get("/api/v1/access-requests/IT-1/").status_code == 200
    with pytest.raises(CommandError, match="No API token named"):
        call_command("rotate_api_token", "nope", stdout=io.StringIO(), stderr=io.StringIO())


def test_bootstrap_prints_a_submit_token_and_a_decide_token(db):
    out = io.StringIO()
    call_command("bootstrap", "--no-demo", stdout=out)
    assert ApiToken.objects.get(name="jira-automation").scopes == ["requests:submit", "requests:read"]
    decide = ApiToken.objects.get(name="jira-decisions").scopes
    assert decide == [
        "requests:read",
        "requests:decide",
        "grants:read",
        "grants:revoke",
        "grants:extend",
        "people:read",
    ]
    assert "Submit token:" in out.getvalue() and "Decide token:" in out.getvalue()


def test_the_upgrade_gives_existing_tokens_every_scope(db):
    from django.apps import apps

    migration = importlib.import_module("governance.migrations.0011_trust_scoped_tokens_and_uniqueness")
    stored, _ = token(scopes=["requests:read"])
    migration.existing_tokens_keep_every_scope(apps, None)
    stored.refresh_from_db()
    assert stored.scopes == list(ALL_SCOPES)
