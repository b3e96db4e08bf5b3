"""API tokens in the admin: created with scopes (secret shown once), rotated, never shown again."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import Permission, User
from django.urls import reverse

from governance.models import ApiToken, AuditEvent
from governance.services import Actor, create_api_token, verify_api_token

ADD = "admin:governance_apitoken_add"
CHANGELIST = "admin:governance_apitoken_changelist"


@pytest.fixture
def admin_client(client, db):
    client.force_login(User.objects.create_superuser("it", "it@example.com", "pw"))
    return client


@pytest.fixture
def viewer_client(client, db):
    user = User.objects.create_user("viewer", "viewer@example.com", "pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_apitoken"))
    client.force_login(user)
    return client


def secret_on(page: str) -> str:
    return re.search(r"<code>(gh_[A-Za-z0-9_\-]+)</code>", page).group(1)


def test_it_creates_a_scoped_token_and_shows_its_secret_once(admin_client):
    form = {
        "name": "jira-submit",
        "scopes": ["requests:submit", "requests:read"],
        "actors": "@example.com",
        "expires_in": "P90D",
    }
    response = admin_client.post(reverse(ADD), form)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    secret = secret_on(response.content.decode())
    token = ApiToken.objects.get(name="jira-submit")
    assert verify_api_token(secret) == token
    assert (token.scopes, token.actors) == (["requests:submit", "requests:read"], ["@example.com"])
    assert token.expires_at is not None
    assert AuditEvent.objects.filter(action="api_token.created", actor="admin:it").exists()
    change = admin_client.get(reverse("admin:governance_apitoken_change", args=[token.pk])).content.decode()
    assert secret.split("_", 2)[2] not in change and token.secret_hash not in change  # the random part may hold "_"


@pytest.mark.parametrize(
    "form,error",
    [
        ({"name": "x", "expires_in": "P90D"}, "This field is required"),
        ({"name": "x", "scopes": ["requests:read"], "expires_in": "P1Y"}, "years and months"),
        ({"name": "x", "scopes": ["requests:read"], "actors": "nobody"}, "neither an email nor a domain"),
    ],
)
def test_it_explains_what_is_wrong_with_the_form(admin_client, form, error):
    response = admin_client.post(reverse(ADD), form)
    assert response.status_code == 200
    assert error in response.content.decode()
    assert not ApiToken.objects.exists()


def test_it_rotates_from_the_admin_and_the_old_secret_overlaps(admin_client):
    token, old = create_api_token(name="jira", scopes=["requests:read"], actor=Actor.system("tests"))
    response = admin_client.post(reverse(CHANGELIST), {"action": "rotate_tokens", "_selected_action": [token.pk]})

    assert response.status_code == 200
    new = secret_on(response.content.decode())
    assert new != old
    assert verify_api_token(new) == token and verify_api_token(old) == token
    assert "the old secret works until" in response.content.decode()


def test_a_view_only_user_can_neither_create_nor_rotate(viewer_client):
    token, old = create_api_token(name="jira", scopes=["requests:read"], actor=Actor.system("tests"))

    assert viewer_client.post(reverse(ADD), {"name": "x", "scopes": ["requests:read"]}).status_code == 403
    viewer_client.post(reverse(CHANGELIST), {"action": "rotate_tokens", "_selected_action": [token.pk]})

    token.refresh_from_db()
    assert token.rotated_at is None and verify_api_token(old) == token
    assert ApiToken.objects.count() == 1
