"""Google Workspace (Admin SDK Directory API): its settings (environment variables `GOOGLE_*`,
docs/google.md) and how it is built."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from provisioning.connectors.declaration import ConnectorDeclaration, ConnectorSettings, Setting


def build(values: ConnectorSettings):
    from provisioning.connectors.google.connector import GoogleConnector

    return GoogleConnector.from_settings(values)


def key_problems(values: Mapping[str, Any]) -> list[str]:
    """What is wrong with a given service account key (unreadable, not JSON, not a service account)."""
    from provisioning.connectors.base import PermanentError
    from provisioning.connectors.google.config import service_account_info

    try:
        service_account_info(values)
    except PermanentError as error:
        return [error.message]
    return []


CONNECTOR = ConnectorDeclaration(
    name="google",
    label="Google Workspace",
    build=build,
    settings_name="GOOGLE",
    docs="docs/google.md",
    settings=(
        Setting("CUSTOMER_ID", "GOOGLE_CUSTOMER_ID", default="my_customer", help="Workspace customer id."),
        Setting("ADMIN_SUBJECT", "GOOGLE_ADMIN_SUBJECT", required=True, help="The admin the service account acts as."),
        Setting("SERVICE_ACCOUNT_KEY_FILE", "GOOGLE_SERVICE_ACCOUNT_FILE", help="Path of the service account key."),
        Setting("SERVICE_ACCOUNT_KEY", "GOOGLE_SERVICE_ACCOUNT_JSON", sensitive=True, help="The JSON key itself."),
        Setting("DOMAIN", "GOOGLE_DOMAIN", help="List users and groups of this domain only (default: all)."),
        # The Directory API's root; only tests and proxies change it.
        Setting("API_URL", "GOOGLE_API_URL", help="Directory API root (default https://admin.googleapis.com/)."),
        Setting("TIMEOUT_SECONDS", "GOOGLE_TIMEOUT_SECONDS", default=30.0, kind="float"),
        # In-call retries of reads (429, 5xx, rate-limit 403s) with exponential backoff; writes are
        # retried by the outbox only.
        Setting("MAX_RETRIES", "GOOGLE_MAX_RETRIES", default=3, kind="int"),
        # Each connector paces itself below this; Google's default quota is 2,400 a minute per admin.
        Setting("MAX_REQUESTS_PER_MINUTE", "GOOGLE_MAX_REQUESTS_PER_MINUTE", default=1200, kind="int"),
    ),
    alternatives=(("SERVICE_ACCOUNT_KEY|SERVICE_ACCOUNT_KEY_FILE",),),
    validate=key_problems,
)
