"""A logging filter that masks every configured secret, wherever it appears in a log line."""

from __future__ import annotations

import logging
import traceback

from provisioning.connectors.declaration import MASK

#: settings outside the connectors that hold secrets
OTHER_SECRET_SETTINGS = ("JIRA_API_TOKEN", "EMAIL_HOST_PASSWORD", "SECRET_KEY")
#: shorter values are not masked: they would mask ordinary words
SHORTEST_SECRET = 6


def configured_secrets() -> list[str]:
    """Every secret value Gatehouse is configured with now, longest first."""
    from django.conf import settings

    from provisioning.connectors import configured_values, declarations

    found: set[str] = set()
    for declaration in declarations():
        values = configured_values(declaration)
        found.update(str(values[key]) for key in declaration.sensitive_keys if values.get(key))
    found.update(str(getattr(settings, name, "") or "") for name in OTHER_SECRET_SETTINGS)
    return sorted((value for value in found if len(value) >= SHORTEST_SECRET), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    for secret in secrets:
        text = text.replace(secret, MASK)
    return text


class RedactSecrets(logging.Filter):
    """Rewrites each record's message (and traceback) with every configured secret masked."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            secrets = configured_secrets()
        except Exception:  # settings not ready (very early start-up): nothing is configured yet
            return True
        if not secrets:
            return True
        message = record.getMessage()
        cleaned = redact(message, secrets)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = "".join(traceback.format_exception(*record.exc_info)).rstrip("\n")
        if record.exc_text:
            record.exc_text = redact(record.exc_text, secrets)
        return True
