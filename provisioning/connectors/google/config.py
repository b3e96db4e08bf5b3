"""Turning the Google Workspace connector's settings (declared in `google/__init__.py`, read into
`settings.GOOGLE`) into credentials. The service account key is the only secret: it never appears
in an error message, a log line or the admin (its settings key contains "KEY", which Django's
error pages redact too).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from provisioning.connectors.base import PermanentError

#: OAuth scopes the service account is granted by domain-wide delegation (see docs/google.md).
SCOPES = (
    "https://www.googleapis.com/auth/admin.directory.user.readonly",  # users: list, get (lastLoginTime)
    "https://www.googleapis.com/auth/admin.directory.group.readonly",  # groups: list, get
    "https://www.googleapis.com/auth/admin.directory.group.member",  # members: list, insert, delete
)


def configuration_problems(config: Mapping[str, Any]) -> list[str]:
    """What is missing or unusable in settings.GOOGLE, in words an administrator can act on."""
    problems = []
    if not config.get("ADMIN_SUBJECT"):
        problems.append("set GOOGLE_ADMIN_SUBJECT (the email of the admin the service account acts as)")
    try:
        service_account_info(config)
    except PermanentError as error:
        problems.append(error.message)
    return problems


def service_account_info(config: Mapping[str, Any]) -> dict[str, Any]:
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


def service_account_credentials(config: Mapping[str, Any]) -> Any:
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
