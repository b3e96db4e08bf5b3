"""The connector registry: declared settings are read, checked at start-up, masked everywhere, shown in the admin."""

from __future__ import annotations

import io
import logging

import environ
import pytest
from django.contrib.auth.models import Permission, User
from django.core.checks import run_checks
from django.core.exceptions import ValidationError
from django.core.mail import get_connection

from catalog.models import IdpGroup
from provisioning import connectors
from provisioning.connectors import PermanentError, connector_for, declaration_for, read_environment
from provisioning.connectors.declaration import MASK
from provisioning.connectors.redaction import RedactSecrets

SECRET = "ssws-very-secret-token-0123"

#: every environment variable the connectors have read before: contracts, kept exactly
CONTRACT = {
    "okta": {
        "OKTA_ORG_URL",
        "OKTA_API_TOKEN",
        "OKTA_CLIENT_ID",
        "OKTA_PRIVATE_KEY",
        "OKTA_PRIVATE_KEY_FILE",
        "OKTA_KEY_ID",
        "OKTA_SCOPES",
        "OKTA_RATE_LIMIT_MAX_RETRIES",
        "OKTA_RATE_LIMIT_MAX_WAIT_SECONDS",
        "OKTA_REQUEST_TIMEOUT_SECONDS",
    },
    "entra": {
        "ENTRA_TENANT_ID",
        "ENTRA_CLIENT_ID",
        "ENTRA_CLIENT_SECRET",
        "ENTRA_CLIENT_SECRET_FILE",
        "ENTRA_CLIENT_CERTIFICATE_PATH",
        "ENTRA_CLIENT_CERTIFICATE_PASSWORD",
        "ENTRA_GRAPH_BASE_URL",
        "ENTRA_TIMEOUT_SECONDS",
        "ENTRA_MAX_RETRIES",
        "ENTRA_MAX_RETRY_WAIT_SECONDS",
    },
    "google": {
        "GOOGLE_CUSTOMER_ID",
        "GOOGLE_ADMIN_SUBJECT",
        "GOOGLE_SERVICE_ACCOUNT_FILE",
        "GOOGLE_SERVICE_ACCOUNT_JSON",
        "GOOGLE_DOMAIN",
        "GOOGLE_API_URL",
        "GOOGLE_TIMEOUT_SECONDS",
        "GOOGLE_MAX_RETRIES",
        "GOOGLE_MAX_REQUESTS_PER_MINUTE",
    },
}


def errors_about_connectors() -> list:
    return [message for message in run_checks(tags=["gatehouse"]) if message.id == "provisioning.E001"]


# -- declarations and reading -------------------------------------------------------------------
def test_it_declares_every_environment_variable_name_the_connectors_always_had():
    for name, variables in CONTRACT.items():
        assert {setting.env for setting in declaration_for(name).settings} == variables
    assert declaration_for("okta").sensitive_keys == {"API_TOKEN", "PRIVATE_KEY"}
    assert declaration_for("entra").sensitive_keys == {"CLIENT_SECRET", "CLIENT_CERTIFICATE_PASSWORD"}
    assert declaration_for("local").settings == ()
    assert declaration_for("google").sensitive_keys == {"SERVICE_ACCOUNT_KEY"}
    assert {"local", "okta", "entra", "google"} <= set(connectors.available())


def test_it_reads_the_settings_from_the_environment_with_their_types(monkeypatch):
    monkeypatch.setenv("OKTA_ORG_URL", "https://example.okta.com")
    monkeypatch.setenv("OKTA_API_TOKEN", SECRET)
    monkeypatch.setenv("OKTA_SCOPES", "okta.users.read,okta.groups.manage")
    monkeypatch.setenv("OKTA_REQUEST_TIMEOUT_SECONDS", "12")
    monkeypatch.setenv("ENTRA_TIMEOUT_SECONDS", "7.5")

    values = read_environment(environ.Env())

    assert values["OKTA"]["ORG_URL"] == "https://example.okta.com" and values["OKTA"]["API_TOKEN"] == SECRET
    assert values["OKTA"]["SCOPES"] == ["okta.users.read", "okta.groups.manage"]
    assert values["OKTA"]["REQUEST_TIMEOUT_SECONDS"] == 12 and values["OKTA"]["RATE_LIMIT_MAX_RETRIES"] == 1
    assert values["ENTRA"]["TIMEOUT_SECONDS"] == 7.5
    assert values["ENTRA"]["GRAPH_BASE_URL"] == "https://graph.microsoft.com/v1.0"


def test_the_values_never_show_a_secret_in_repr_or_str(monkeypatch):
    monkeypatch.setenv("OKTA_API_TOKEN", SECRET)
    okta = read_environment(environ.Env())["OKTA"]
    assert SECRET not in repr(okta) and SECRET not in str(okta) and MASK in repr(okta)
    assert SECRET not in repr({"OKTA": okta})


def test_a_connector_repr_holds_no_setting(settings, okta_emulator):
    settings.OKTA = {"ORG_URL": okta_emulator.base_url, "API_TOKEN": SECRET}
    connector = connector_for("okta")
    try:
        assert repr(connector) == "<OktaConnector 'okta'>"
    finally:
        connector.close()


@pytest.fixture
def okta_emulator(monkeypatch):
    from tests.emulators.okta import OktaEmulator

    # The SDK refuses http:// org URLs unless its https check is off; only tests turn it off.
    monkeypatch.setenv("OKTA_TESTING_TESTINGDISABLEHTTPSCHECK", "true")
    with OktaEmulator(token=SECRET) as emulator:
        yield emulator


# -- the start-up check -------------------------------------------------------------------------
def test_unconfigured_connectors_pass_the_check(settings):
    settings.OKTA = settings.GOOGLE = {}
    settings.ENTRA = {"GRAPH_BASE_URL": "https://graph.microsoft.us/v1.0", "TIMEOUT_SECONDS": 60}  # tuning only
    assert errors_about_connectors() == []


def test_a_half_configured_connector_is_an_error_naming_what_is_missing(settings):
    settings.OKTA = {"API_TOKEN": SECRET}
    settings.ENTRA = {"TENANT_ID": "tenant", "CLIENT_ID": "app"}

    errors = {error.obj: error for error in errors_about_connectors()}

    assert set(errors) == {"connector okta", "connector entra"}
    assert errors["connector okta"].msg == "Okta is not configured: set OKTA_ORG_URL."
    assert "ENTRA_CLIENT_SECRET (or ENTRA_CLIENT_SECRET_FILE), or ENTRA_CLIENT_CERTIFICATE_PATH" in (
        errors["connector entra"].msg
    )
    assert all(SECRET not in f"{error.msg} {error.hint}" for error in errors.values())


def test_an_oauth_set_up_missing_its_key_names_the_key(settings):
    settings.OKTA = {"ORG_URL": "https://example.okta.com", "CLIENT_ID": "0oa1"}
    [error] = errors_about_connectors()
    assert error.msg == "Okta is not configured: set OKTA_PRIVATE_KEY (or OKTA_PRIVATE_KEY_FILE)."


def test_a_configured_connector_passes_and_builds(settings, okta_emulator):
    settings.OKTA = {"ORG_URL": okta_emulator.base_url, "API_TOKEN": SECRET}
    assert errors_about_connectors() == []
    connector_for("okta").close()


def test_building_a_half_configured_connector_says_the_same(settings):
    settings.OKTA = {"API_TOKEN": SECRET}
    with pytest.raises(PermanentError) as error:
        connector_for("okta")
    assert str(error.value) == "Okta is not configured: set OKTA_ORG_URL."


# -- logs -----------------------------------------------------------------------------------------
def test_the_console_log_handler_masks_configured_secrets(settings):
    settings.OKTA = {"ORG_URL": "https://example.okta.com", "API_TOKEN": SECRET}
    settings.ENTRA = {"CLIENT_SECRET": "entra-client-secret-value"}
    assert "secrets" in settings.LOGGING["handlers"]["console"]["filters"]
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactSecrets())
    log = logging.getLogger("tests.redaction")
    log.addHandler(handler)
    try:
        log.warning("calling Okta with %s", f"Authorization: SSWS {SECRET}")
        try:
            raise RuntimeError("token entra-client-secret-value refused")
        except RuntimeError:
            log.exception("failed")
    finally:
        log.removeHandler(handler)
    text = stream.getvalue()
    assert SECRET not in text and "entra-client-secret-value" not in text
    assert f"Authorization: SSWS {MASK}" in text and f"token {MASK} refused" in text


# -- the admin's providers page -------------------------------------------------------------------
def test_the_providers_page_shows_what_is_configured_with_secrets_masked(admin_client, settings):
    settings.OKTA = {"ORG_URL": "https://example.okta.com", "API_TOKEN": SECRET}
    settings.ENTRA = {"TENANT_ID": "tenant-1"}

    page = admin_client.get("/admin/providers/").content.decode()

    assert SECRET not in page
    okta = page[page.index('id="provider-okta"') : page.index('id="provider-entra"')]
    entra = page[page.index('id="provider-entra"') :]
    assert "configured" in okta and "https://example.okta.com" in okta and MASK in okta
    assert "incomplete" in entra and "set ENTRA_CLIENT_ID" in entra and "tenant-1" in entra
    assert 'id="provider-local"' in page
    assert "/admin/providers/" in admin_client.get("/admin/").content.decode()


def test_the_providers_page_needs_a_staff_login_with_view_permission(client, db):
    assert client.get("/admin/providers/").status_code == 302
    staff = User.objects.create_user("it", password="pw-it-12345", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/providers/").status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_idpgroup"))
    staff = User.objects.get(pk=staff.pk)
    client.force_login(staff)
    assert client.get("/admin/providers/").status_code == 200


# -- choices from the registry --------------------------------------------------------------------
def test_group_connector_choices_come_from_the_registry(db):
    choices = dict(IdpGroup._meta.get_field("connector").choices)
    assert {"local": "Local directory", "okta": "Okta", "entra": "Entra ID"}.items() <= choices.items()
    group = IdpGroup(connector="nowhere", external_id="x", name="x")
    with pytest.raises(ValidationError) as error:
        group.full_clean()
    assert "connector" in error.value.message_dict
    IdpGroup(connector="okta", external_id="x", name="x").full_clean()


def test_the_group_admin_offers_the_registered_connectors(admin_client):
    page = admin_client.get("/admin/catalog/idpgroup/add/").content.decode()
    assert '<option value="entra">Entra ID</option>' in page and '<option value="okta">Okta</option>' in page


# -- timeouts ---------------------------------------------------------------------------------------
def test_smtp_has_a_timeout(settings):
    assert settings.EMAIL_TIMEOUT == 10.0
    assert get_connection("django.core.mail.backends.smtp.EmailBackend").timeout == 10.0


def test_the_okta_oauth_token_request_has_the_request_timeout(settings, okta_emulator, tmp_path):
    from jwcrypto import jwk

    key_file = tmp_path / "okta-key.pem"
    key_file.write_bytes(jwk.JWK.generate(kty="RSA", size=2048).export_to_pem(private_key=True, password=None))
    okta_emulator.oauth_clients["0oagatehouse"] = {"okta.groups.read"}
    okta_emulator.latency = 3.0  # longer than the timeout below
    settings.OKTA = {
        "ORG_URL": okta_emulator.base_url,
        "CLIENT_ID": "0oagatehouse",
        "PRIVATE_KEY_FILE": str(key_file),
        "SCOPES": ["okta.groups.read"],
        "REQUEST_TIMEOUT_SECONDS": 1,
        "RATE_LIMIT_MAX_RETRIES": 0,
    }
    connector = connector_for("okta")
    try:
        with pytest.raises(connectors.RetryableError, match="Okta could not list groups: TimeoutError"):
            list(connector.iter_groups())
    finally:
        connector.close()
    assert [call.path for call in okta_emulator.calls] == ["/oauth2/v1/token"]


@pytest.mark.parametrize("kind", ["secret", "certificate"])
def test_the_entra_credential_requests_tokens_with_the_graph_timeout(settings, tmp_path, kind):
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    settings.ENTRA = {"TENANT_ID": "tenant", "CLIENT_ID": "app", "TIMEOUT_SECONDS": 7.0, "CLIENT_SECRET": "s3cret"}
    if kind == "certificate":
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "gatehouse")])
        import datetime

        now = datetime.datetime.now(datetime.UTC)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now)
            .not_valid_after(now + datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        pem = tmp_path / "app.pem"
        pem.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            )
            + cert.public_bytes(serialization.Encoding.PEM)
        )
        settings.ENTRA = {**settings.ENTRA, "CLIENT_SECRET": "", "CLIENT_CERTIFICATE_PATH": str(pem)}
    connector = connector_for("entra")
    try:
        transport = connector._credential._client._pipeline._transport
        assert transport.connection_config.timeout == 7.0
        assert transport.connection_config.read_timeout == 7.0
    finally:
        connector.close()
