"""Password sign-in: open while SSO is off; with SSO on only the break-glass superuser; throttled."""

from __future__ import annotations

import io

import pytest
from axes.models import AccessAttempt, AccessFailureLog
from django.contrib.auth.models import User
from django.core import mail
from django.core.cache import cache

from governance.models import AuditEvent
from tests.sso import provider


@pytest.fixture(autouse=True)
def no_lockouts_from_other_tests():
    cache.clear()


@pytest.fixture
def sso_on(settings):
    with provider(settings, "okta-org") as idp:
        yield idp


@pytest.fixture
def people(db):
    root = User.objects.create_superuser("admin", "admin@example.com", "a-long-break-glass-pw")
    staff = User.objects.create_user("staffer", password="staff-password-1", is_staff=True)
    return root, staff


def password_sign_in(client, username: str, password: str, next_url: str = "/admin/"):
    return client.post("/accounts/login/", {"username": username, "password": password, "next": next_url})


def test_it_signs_in_with_a_password_while_sso_is_off(client, people):
    response = password_sign_in(client, "staffer", "staff-password-1")
    assert response.status_code == 302 and response["Location"] == "/admin/"
    assert not AuditEvent.objects.filter(action="auth.break_glass").exists()
    assert 'name="password"' in client.get("/accounts/login/").content.decode()


def test_with_sso_on_passwords_are_off(client, sso_on, people):
    page = client.get("/accounts/login/").content.decode()
    assert "Sign in with company SSO" in page and 'name="password"' not in page
    response = password_sign_in(client, "admin", "a-long-break-glass-pw")
    assert response.status_code == 403 and "_auth_user_id" not in client.session
    assert AuditEvent.objects.filter(action="sso.refused", data__code="password_off").exists()


def test_break_glass_is_audited_and_told_to_it(client, settings, sso_on, people, django_capture_on_commit_callbacks):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "LOCAL_LOGIN": True, "IT_EMAIL": ["it@example.com"]}
    assert "Break-glass sign-in" in client.get("/accounts/login/").content.decode()
    with django_capture_on_commit_callbacks(execute=True):
        response = password_sign_in(client, "admin", "a-long-break-glass-pw")
    assert response.status_code == 302 and client.get("/admin/").status_code == 200
    event = AuditEvent.objects.get(action="auth.break_glass")
    assert event.data["username"] == "admin" and event.data["ip"] == "127.0.0.1"
    assert [m.to for m in mail.outbox] == [["it@example.com"]]
    assert "break-glass" in mail.outbox[0].subject and "a-long-break-glass-pw" not in mail.outbox[0].body


def test_break_glass_is_for_superusers_only(client, settings, sso_on, people):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "LOCAL_LOGIN": True}
    response = password_sign_in(client, "staffer", "staff-password-1")
    assert response.status_code == 200 and "did not match" in response.content.decode()
    assert "_auth_user_id" not in client.session
    assert not AuditEvent.objects.filter(action="auth.break_glass").exists()


def test_it_locks_a_login_after_repeated_wrong_passwords(client, settings, people):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert password_sign_in(client, "staffer", "wrong").status_code == 200
    assert password_sign_in(client, "staffer", "wrong").status_code == 429  # the limit-th failure locks
    locked = password_sign_in(client, "staffer", "staff-password-1")
    assert locked.status_code == 429 and "Too many failed sign-ins" in locked.content.decode()
    assert "_auth_user_id" not in client.session
    recorded = repr(list(AccessAttempt.objects.values())) + repr(list(AccessFailureLog.objects.values()))
    assert "staff-password-1" not in recorded and "wrong" not in recorded  # passwords are masked


def test_the_admin_login_is_the_one_sign_in_page(client):
    response = client.get("/admin/login/?next=/admin/governance/grant/")
    assert response.status_code == 302
    assert response["Location"] == "/accounts/login/?next=%2Fadmin%2Fgovernance%2Fgrant%2F"
    assert client.get("/admin/").status_code == 302


def test_bootstrap_leaves_the_break_glass_superuser_unlinked_with_sso_on(sso_on, company):
    from django.core.management import call_command

    call_command("bootstrap", "--no-demo", "--admin-email", "alice@example.com", stdout=io.StringIO())
    company.alice.refresh_from_db()
    assert User.objects.get(username="admin").is_superuser and company.alice.user is None
