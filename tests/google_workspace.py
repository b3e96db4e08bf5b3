"""Test helpers for the Google Workspace connector: a service account key whose token endpoint is
the Directory API emulator, and settings.GOOGLE pointing at it. Nothing of ours is stood in for:
the connector is built from settings exactly as in production."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from provisioning.connectors.google.config import SCOPES
from tests.emulators.google import GoogleDirectoryEmulator

SERVICE_ACCOUNT = "gatehouse@gatehouse-test.iam.gserviceaccount.com"
ADMIN = "admin@example.com"


@functools.cache
def private_key_pem() -> str:
    """One RSA key per test run (generating one takes a moment)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()


def service_account_key(google: GoogleDirectoryEmulator) -> dict:
    """A service account key as Google issues it, whose token_uri is the emulator's."""
    return {
        "type": "service_account",
        "project_id": "gatehouse-test",
        "private_key_id": "0123456789abcdef",
        "private_key": private_key_pem(),
        "client_email": SERVICE_ACCOUNT,
        "client_id": "100000000000000000042",
        "auth_uri": "https://accounts.google.com/o/oauth2/auth",
        "token_uri": f"{google.base_url}/token",
    }


def configure(settings, google: GoogleDirectoryEmulator, key_dir: Path, **overrides) -> dict:
    """settings.GOOGLE for the emulator, with the key in a file and delegation granted; no in-call retries."""
    key_file = key_dir / "gatehouse-sa.json"
    key_file.write_text(json.dumps(service_account_key(google)))
    google.require_token = True
    google.delegations[SERVICE_ACCOUNT] = set(SCOPES)
    settings.GOOGLE = {
        "CUSTOMER_ID": "my_customer",
        "ADMIN_SUBJECT": ADMIN,
        "SERVICE_ACCOUNT_KEY_FILE": str(key_file),
        "SERVICE_ACCOUNT_KEY": "",
        "DOMAIN": "",
        "API_URL": f"{google.base_url}/",
        "TIMEOUT_SECONDS": 5.0,
        "MAX_RETRIES": 0,
        "MAX_REQUESTS_PER_MINUTE": 0,
        **overrides,
    }
    return settings.GOOGLE
