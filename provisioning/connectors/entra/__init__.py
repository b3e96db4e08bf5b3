"""Microsoft Entra ID: its settings (environment variables `ENTRA_*`, docs/entra.md) and how it is built."""

from __future__ import annotations

from provisioning.connectors.declaration import ConnectorDeclaration, ConnectorSettings, Setting

DEFAULT_BASE_URL = "https://graph.microsoft.com/v1.0"


def build(values: ConnectorSettings):
    from provisioning.connectors.entra.connector import EntraConnector

    return EntraConnector.from_settings(values)


CONNECTOR = ConnectorDeclaration(
    name="entra",
    label="Entra ID",
    build=build,
    settings_name="ENTRA",
    docs="docs/entra.md",
    settings=(
        Setting("TENANT_ID", "ENTRA_TENANT_ID", required=True, help="Directory (tenant) id."),
        Setting("CLIENT_ID", "ENTRA_CLIENT_ID", required=True, help="The app registration's Application id."),
        Setting("CLIENT_SECRET", "ENTRA_CLIENT_SECRET", sensitive=True, help="The app's client secret."),
        Setting("CLIENT_SECRET_FILE", "ENTRA_CLIENT_SECRET_FILE", help="A file holding the client secret."),
        Setting("CLIENT_CERTIFICATE_PATH", "ENTRA_CLIENT_CERTIFICATE_PATH", help="PEM or PKCS12 certificate."),
        Setting("CLIENT_CERTIFICATE_PASSWORD", "ENTRA_CLIENT_CERTIFICATE_PASSWORD", sensitive=True),
        Setting("GRAPH_BASE_URL", "ENTRA_GRAPH_BASE_URL", default=DEFAULT_BASE_URL, help="Graph endpoint."),
        # Seconds before a Graph or token call is abandoned (then retried later by the outbox).
        Setting("TIMEOUT_SECONDS", "ENTRA_TIMEOUT_SECONDS", default=30.0, kind="float"),
        # In-process retries of 429/503/504 by the SDK, and the longest Retry-After waited for in-process;
        # a longer one is handed to the outbox, which reschedules the change instead of blocking a worker.
        Setting("MAX_RETRIES", "ENTRA_MAX_RETRIES", default=3, kind="int"),
        Setting("MAX_RETRY_WAIT_SECONDS", "ENTRA_MAX_RETRY_WAIT_SECONDS", default=5.0, kind="float"),
    ),
    alternatives=(("CLIENT_SECRET|CLIENT_SECRET_FILE",), ("CLIENT_CERTIFICATE_PATH",)),
)
