"""Configuring the Google Workspace connector: service account, domain-wide delegation, secrets, offline build."""

from __future__ import annotations

import json
import socket

import pytest
from django.core import checks
from django.views.debug import SafeExceptionReporterFilter

from provisioning.connectors import AddResult, PermanentError, UserRef, connector_for, declaration_for
from provisioning.connectors.google.config import SCOPES
from provisioning.connectors.google.connector import GoogleConnector
from tests.emulators.google import GoogleDirectoryEmulator
from tests.google_workspace import ADMIN, SERVICE_ACCOUNT, configure, private_key_pem, service_account_key


@pytest.fixture
def google():
    with GoogleDirectoryEmulator() as emulator:
        emulator.add_user("alice@example.com", "Alice", "Owner")
        emulator.add_group("wiki-editors@example.com")
        yield emulator


def test_it_acts_as_the_admin_by_domain_wide_delegation(settings, google, tmp_path):
    configure(settings, google, tmp_path)

    conn = connector_for("google")
    try:
        assert conn.add_member("wiki-editors@example.com", UserRef("alice@example.com")) == AddResult.ADDED
    finally:
        conn.close()

    assert isinstance(conn, GoogleConnector)
    (claims,) = google.token_claims  # one token for every call
    assert (claims["iss"], claims["sub"]) == (SERVICE_ACCOUNT, ADMIN)
    assert claims["aud"] == "https://oauth2.googleapis.com/token"  # the audience Google checks, wherever it is posted
    assert set(claims["scope"].split()) == set(SCOPES)
    api_calls = [c for c in google.calls if c.path.startswith("/admin/")]
    assert len(api_calls) == 2 and all(c.headers["authorization"].startswith("Bearer ya29.") for c in api_calls)


def test_it_reads_the_key_from_the_json_variable_too(settings, google, tmp_path):
    configure(settings, google, tmp_path, SERVICE_ACCOUNT_KEY_FILE="")
    settings.GOOGLE["SERVICE_ACCOUNT_KEY"] = json.dumps(service_account_key(google), indent=2)

    conn = connector_for("google")
    try:
        assert len(list(conn.iter_groups())) == 1
    finally:
        conn.close()
    assert google.token_claims[0]["sub"] == ADMIN


def test_it_explains_missing_delegation_permanently(settings, google, tmp_path):
    configure(settings, google, tmp_path)
    google.delegations[SERVICE_ACCOUNT] = {SCOPES[0]}  # the group scopes were not granted

    conn = connector_for("google")
    try:
        with pytest.raises(PermanentError, match=r"unauthorized_client.*Domain-wide delegation") as refused:
            list(conn.iter_groups())
    finally:
        conn.close()
    assert "PRIVATE KEY" not in refused.value.message


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        ({"ADMIN_SUBJECT": ""}, "set GOOGLE_ADMIN_SUBJECT"),
        ({"SERVICE_ACCOUNT_KEY_FILE": ""}, "set GOOGLE_SERVICE_ACCOUNT_FILE or GOOGLE_SERVICE_ACCOUNT_JSON"),
        (
            {"SERVICE_ACCOUNT_KEY_FILE": "/nonexistent/key.json"},
            "cannot read GOOGLE_SERVICE_ACCOUNT_FILE .*No such file",
        ),
        (
            {"SERVICE_ACCOUNT_KEY_FILE": "", "SERVICE_ACCOUNT_KEY": "{not json"},
            "GOOGLE_SERVICE_ACCOUNT_JSON is not JSON",
        ),
        ({"SERVICE_ACCOUNT_KEY_FILE": "", "SERVICE_ACCOUNT_KEY": '{"type": "authorized_user"}'}, "lacks client_email"),
    ],
)
def test_it_says_what_is_missing_or_unreadable(settings, google, tmp_path, overrides, expected):
    configure(settings, google, tmp_path, **overrides)

    with pytest.raises(PermanentError, match=f"Google Workspace is not configured: .*{expected}"):
        connector_for("google")


def test_a_broken_private_key_never_shows_in_the_error(settings, google, tmp_path):
    key = service_account_key(google) | {
        "private_key": "-----BEGIN PRIVATE KEY-----\nsecretstuff\n-----END PRIVATE KEY-----\n"
    }
    configure(settings, google, tmp_path, SERVICE_ACCOUNT_KEY_FILE="", SERVICE_ACCOUNT_KEY=json.dumps(key))

    with pytest.raises(PermanentError, match=r"cannot be loaded .* download a new JSON key") as refused:
        connector_for("google")

    assert "secretstuff" not in str(refused.value)


def test_the_key_is_declared_sensitive_and_redacted_on_error_pages(settings, google, tmp_path):
    configure(settings, google, tmp_path, SERVICE_ACCOUNT_KEY=json.dumps(service_account_key(google)))

    shown = SafeExceptionReporterFilter().get_safe_settings()["GOOGLE"]

    assert private_key_pem() not in json.dumps(shown)
    assert shown["ADMIN_SUBJECT"] == ADMIN
    declaration = declaration_for("google")
    assert [s.env for s in declaration.settings if s.sensitive] == ["GOOGLE_SERVICE_ACCOUNT_JSON"]
    assert {"GOOGLE_CUSTOMER_ID", "GOOGLE_ADMIN_SUBJECT", "GOOGLE_SERVICE_ACCOUNT_FILE", "GOOGLE_DOMAIN"} <= {
        s.env for s in declaration.settings
    }


def test_the_start_up_check_reports_a_half_configured_connector(settings, google, tmp_path):
    def check_google_configuration():
        return [m for m in checks.run_checks(tags=["gatehouse"]) if m.obj == "connector google"]

    settings.GOOGLE = {"ADMIN_SUBJECT": "", "SERVICE_ACCOUNT_KEY_FILE": "", "SERVICE_ACCOUNT_KEY": ""}
    assert check_google_configuration() == []  # not configured at all: nothing to say
    configure(settings, google, tmp_path)
    assert check_google_configuration() == []
    settings.GOOGLE["SERVICE_ACCOUNT_KEY_FILE"] = str(tmp_path / "missing.json")

    (error,) = check_google_configuration()

    assert error.level == checks.ERROR and error.id == "provisioning.E002"
    assert "cannot read GOOGLE_SERVICE_ACCOUNT_FILE" in error.msg
    settings.GOOGLE = {"ADMIN_SUBJECT": "", "SERVICE_ACCOUNT_KEY_FILE": str(tmp_path / "key.json")}

    (error,) = check_google_configuration()

    assert error.id == "provisioning.E001"
    assert error.msg == "Google Workspace is not configured: set GOOGLE_ADMIN_SUBJECT."


def test_the_client_is_built_offline_from_the_shipped_discovery_document(google, monkeypatch):
    from google.auth.credentials import AnonymousCredentials

    real_connect = socket.socket.connect

    def loopback_only(sock, address):
        if address[0] != "127.0.0.1":
            raise OSError(f"test refused a connection to {address[0]}")
        return real_connect(sock, address)

    monkeypatch.setattr(socket.socket, "connect", loopback_only)
    monkeypatch.setattr(socket, "getaddrinfo", _no_dns(socket.getaddrinfo))

    conn = GoogleConnector(credentials=AnonymousCredentials(), api_url=f"{google.base_url}/", max_retries=0)
    try:
        assert [g.external_id for g in conn.iter_groups()] == ["wiki-editors@example.com"]
    finally:
        conn.close()


def _no_dns(real):
    def resolve(host, *args, **kwargs):
        if host not in ("127.0.0.1", "localhost"):
            raise socket.gaierror(f"test refused to resolve {host}")
        return real(host, *args, **kwargs)

    return resolve
