"""The Google Workspace connector's settings, and turning them into credentials.

`SETTINGS` declares every environment variable the connector reads and which are secret, so a
settings registry can validate and redact them; `governance/settings.py` reads them into
`settings.GOOGLE` (the keys below). The service account key is the only secret: it never appears
in an error message, a log line or the admin (its settings key contains "KEY", which Django's
error pages redact too).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from provisioning.connectors.base import PermanentError

#: OAuth scopes the service account is granted by domain-wide delegation (see docs/google.md).
SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user.readonly",  # users: list, get (lastLoginTime)
    "https://www.googleapis.com/auth/admin.directory.group.readonly",  # groups: list, get
    "https://www.googleapis.com/auth/admin.directory.group.member",  # members: list, insert, delete
)


@dataclass(frozen=True)
class Setting:
    """One environment variable: its key in settings.GOOGLE, whether it is secret, what it is for."""

    key: str
    sensitive: bool = False
    help: str = ""


SETTINGS: dict[str, Setting] = {
    "GOOGLE_CUSTOMER_ID": Setting("CUSTOMER_ID", help="Workspace customer id; default my_customer (the admin's own)."),
    "GOOGLE_ADMIN_SUBJECT": Setting("ADMIN_SUBJECT", help="Email of the admin the service account acts as."),
    "GOOGLE_SERVICE_ACCOUNT_FILE": Setting("SERVICE_ACCOUNT_KEY_FILE", help="Path of the service account JSON key."),
    "GOOGLE_SERVICE_ACCOUNT_JSON": Setting("SERVICE_ACCOUNT_KEY", sensitive=True, help="The JSON key itself."),
    "GOOGLE_DOMAIN": Setting("DOMAIN", help="List users and groups of this domain only (default: every domain)."),
    "GOOGLE_API_URL": Setting("API_URL", help="Directory API root; default https://admin.googleapis.com/."),
    "GOOGLE_TIMEOUT_SECONDS": Setting("TIMEOUT_SECONDS", help="Seconds before a call is abandoned."),
    "GOOGLE_MAX_RETRIES": Setting("MAX_RETRIES", help="In-call retries of reads on 429/403 rate limits/5xx."),
    "GOOGLE_MAX_REQUESTS_PER_MINUTE": Setting("MAX_REQUESTS_PER_MINUTE", help="Client-side pace per connector."),
}


def configured(config: dict[str, Any]) -> bool:
    """True when any of the connector's own settings is given (then all of them must be right)."""
    return any(config.get(key) for key in ("ADMIN_SUBJECT", "SERVICE_ACCOUNT_KEY", "SERVICE_ACCOUNT_KEY_FILE"))


def configuration_problems(config: dict[str, Any]) -> list[str]:
    """What is missing or unusable in settings.GOOGLE, in words an administrator can act on."""
    problems = []
    if not config.get("ADMIN_SUBJECT"):
        problems.append("set GOOGLE_ADMIN_SUBJECT (the email of the admin the service account acts as)")
    try:
        service_account_info(config)
    except PermanentError as error:
        problems.append(error.message)
    return problems


def service_account_info(config: dict[str, Any]) -> dict[str, Any]:
    """The parsed service account key from GOOGLE_SERVICE_ACCOUNT_JSON or GOOGLE_SERVICE_ACCOUNT_FILE."""
    raw, source = config.get("SERVICE_ACCOUNT_KEY") or "", "GOOGLE_SERVICE_ACCOUNT_JSON"
    if not raw:
        path = config.get("SERVICE_ACCOUNT_KEY_FILE") or ""
        if not path:
            raise PermanentError(
                "set GOOGLE_SERVICE_ACCOUNT_FILE or GOOGLE_SERVICE_ACCOUNT_JSON (the service account key)"
            )
        source = f"GOOGLE_SERVICE_ACCOUNT_FILE {path}"
        try:
            raw = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as error:
            reason = getattr(error, "strerror", None) or type(error).__name__
            raise PermanentError(f"cannot read {source}: {reason}") from None
    try:
        info = json.loads(raw, strict=False)  # a key pasted with real line breaks in private_key is fine
    except ValueError:
        raise PermanentError(f"{source} is not JSON (expected the service account key file Google issued)") from None
    missing = [
        k for k in ("type", "client_email", "private_key", "token_uri") if not isinstance(info, dict) or not info.get(k)
    ]
    if missing:
        raise PermanentError(f"{source} is not a service account key: it lacks {', '.join(missing)}")
    if info["type"] != "service_account":
        raise PermanentError(f"{source} is a {info['type']!r} key, not a service account key")
    return info


def service_account_credentials(config: dict[str, Any]) -> Any:
    """Domain-wide delegated credentials: the service account acting as GOOGLE_ADMIN_SUBJECT."""
    from google.oauth2 import service_account

    problems = configuration_problems(config)
    if problems:
        raise PermanentError(f"Google Workspace is not configured: {'; '.join(problems)}.")
    info = service_account_info(config)
    try:
        return service_account.Credentials.from_service_account_info(
            info, scopes=list(SCOPES), subject=config["ADMIN_SUBJECT"]
        )
    except (ValueError, TypeError, KeyError) as error:
        # The parser's messages name fields, never the key's content; type names only, to be sure.
        raise PermanentError(
            f"Google Workspace is not configured: the service account key of {info['client_email']} cannot be "
            f"loaded ({type(error).__name__}); download a new JSON key."
        ) from None
