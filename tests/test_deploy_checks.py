"""Production-shaped settings pass `manage.py check --deploy`; pages carry the security headers."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def deploy_check(tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    production = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DEBUG": "false",
        "ALLOWED_HOSTS": "gatehouse.example.com",
        "GATEHOUSE_BASE_URL": "https://gatehouse.example.com",
        "SECURE_PROXY_SSL_HEADER": "HTTP_X_FORWARDED_PROTO,https",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "true",
        "SECURE_HSTS_PRELOAD": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **env,
    }
    command = [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING", "--tag", "security"]
    return subprocess.run(command, cwd=ROOT, env=production, capture_output=True, text=True, timeout=120)


def test_production_settings_pass_the_deploy_check(tmp_path):
    result = deploy_check(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "security." not in result.stdout + result.stderr


def test_the_deploy_check_can_fail(tmp_path):
    result = deploy_check(tmp_path, SECURE_COOKIES="false", SECURE_HSTS_SECONDS="0")
    assert result.returncode != 0 and "security.W012" in result.stderr and "security.W004" in result.stderr


@pytest.mark.parametrize("value", ["0", "-5"])
def test_a_batch_size_below_one_stops_start_up_with_a_readable_message(tmp_path, value):
    result = deploy_check(tmp_path, GATEHOUSE_CHANGE_BATCH_SIZE=value)
    assert result.returncode != 0
    assert "GATEHOUSE_CHANGE_BATCH_SIZE must be a whole number of changes per task, 1 or more." in result.stderr


def test_a_negative_number_of_task_results_kept_stops_start_up_with_a_readable_message(tmp_path):
    result = deploy_check(tmp_path, GATEHOUSE_TASK_RESULTS_KEPT="-1")
    assert result.returncode != 0
    assert "GATEHOUSE_TASK_RESULTS_KEPT must be a whole number of successful tasks, 0 or more." in result.stderr


@pytest.mark.parametrize("value", ["0", "-1", "600"])
def test_a_database_broker_poll_out_of_range_stops_start_up_with_a_readable_message(tmp_path, value):
    result = deploy_check(tmp_path, Q_POLL=value)
    assert result.returncode != 0
    assert "Q_POLL must be seconds from 0.01 to 60 between looks for new tasks, e.g. 0.1." in result.stderr


def broker_poll(tmp_path: Path, **env: str) -> str:
    """The database broker's poll interval as the product's settings read it (no REDIS_URL)."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "governance.settings",
        "GATEHOUSE_DEV_DEFAULTS": "true",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        **env,
    }
    code = "import django; django.setup(); from django.conf import settings; print(settings.Q_CLUSTER['poll'])"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_database_broker_polls_every_tenth_of_a_second_unless_q_poll_says(tmp_path):
    assert broker_poll(tmp_path) == "0.1"
    assert broker_poll(tmp_path, Q_POLL="0.5") == "0.5"


@pytest.mark.parametrize("path", ["/accounts/login/", "/api/docs/", "/admin/login/", "/api/v1/requests"])
def test_every_page_has_a_content_security_policy(client, db, path):
    response = client.get(path)
    policy = response["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "'unsafe-inline'" not in policy and "object-src 'none'" in policy
    assert response["X-Content-Type-Options"] == "nosniff" and response["Referrer-Policy"] == "same-origin"


def test_swagger_ui_needs_no_inline_script_or_cdn(client, db):
    page = client.get("/api/docs/").content.decode()
    assert "<script>" not in page and "<style>" not in page and "cdn.jsdelivr.net" not in page
    script = client.get("/api/docs/?script=")
    assert script.status_code == 200 and script["Content-Type"].startswith("application/javascript")


def test_the_admin_and_our_pages_use_no_inline_styles_or_scripts(admin_client):
    for path in ("/admin/", "/admin/governance/grant/", "/accounts/login/"):
        html = admin_client.get(path).content.decode()
        assert "<style" not in html and "<script>" not in html and ' style="' not in html, path


def test_error_reports_hide_the_sso_client_secret(settings):
    from django.views.debug import SafeExceptionReporterFilter

    settings.OIDC = {**settings.OIDC, "CLIENT_SECRET": "a-real-looking-secret"}
    safe = SafeExceptionReporterFilter().get_safe_settings()
    assert "a-real-looking-secret" not in repr(safe) and safe["OIDC"]["CLIENT_SECRET"].startswith("****")
