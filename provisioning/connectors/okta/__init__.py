"""Okta: its settings (environment variables `OKTA_*`, docs/okta.md) and how it is built."""

from __future__ import annotations

from provisioning.connectors.declaration import ConnectorDeclaration, ConnectorSettings, Setting

DEFAULT_SCOPES = ("okta.users.read", "okta.groups.read", "okta.groups.manage", "okta.apps.read")


def build(values: ConnectorSettings):
    from provisioning.connectors.okta.connector import OktaConnector

    return OktaConnector.from_settings(values)


CONNECTOR = ConnectorDeclaration(
    name="okta",
    label="Okta",
    build=build,
    settings_name="OKTA",
    docs="docs/okta.md",
    settings=(
        Setting("ORG_URL", "OKTA_ORG_URL", required=True, help="Your Okta org, e.g. https://example.okta.com."),
        Setting("API_TOKEN", "OKTA_API_TOKEN", sensitive=True, help="An API token (sent as SSWS)."),
        Setting("CLIENT_ID", "OKTA_CLIENT_ID", help="OAuth 2.0 service app (private-key JWT)."),
        Setting("PRIVATE_KEY", "OKTA_PRIVATE_KEY", kind="multiline", sensitive=True, help="PEM or JWK private key."),
        Setting("PRIVATE_KEY_FILE", "OKTA_PRIVATE_KEY_FILE", help="A file holding the private key."),
        Setting("KEY_ID", "OKTA_KEY_ID", help="The key id (kid) registered with the service app."),
        Setting("SCOPES", "OKTA_SCOPES", default=DEFAULT_SCOPES, kind="list", help="OAuth scopes."),
        # Rate-limit retries inside one call, each only when Okta's reset is at most
        # RATE_LIMIT_MAX_WAIT_SECONDS away; a longer wait hands the change back to the outbox
        # until the reset (no worker sleeps through a throttled window).
        Setting("RATE_LIMIT_MAX_RETRIES", "OKTA_RATE_LIMIT_MAX_RETRIES", default=1, kind="int"),
        Setting("RATE_LIMIT_MAX_WAIT_SECONDS", "OKTA_RATE_LIMIT_MAX_WAIT_SECONDS", default=5.0, kind="float"),
        Setting("REQUEST_TIMEOUT_SECONDS", "OKTA_REQUEST_TIMEOUT_SECONDS", default=30, kind="int"),
    ),
    alternatives=(("API_TOKEN",), ("CLIENT_ID", "PRIVATE_KEY|PRIVATE_KEY_FILE")),
)
