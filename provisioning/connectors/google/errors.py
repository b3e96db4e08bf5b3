"""Google's answers and transport failures as typed connector errors.

Retryable: 408, 429, 5xx, and the 403s whose reason is a rate limit (`userRateLimitExceeded`,
`rateLimitExceeded`, `quotaExceeded`); timeouts and connection failures. Everything else (400
invalid input, 401, plain 403 `forbidden`, 404, 409…) is permanent and carries Google's message.
"""

from __future__ import annotations

import json
from typing import Any

import httplib2
from google.auth import exceptions as auth_exceptions
from googleapiclient.errors import HttpError

from lib.http import parse_retry_after
from provisioning.connectors.base import ConnectorError, PermanentError, RetryableError

RATE_LIMIT_REASONS = frozenset({"userRateLimitExceeded", "rateLimitExceeded", "quotaExceeded"})


def error_reason(error: HttpError) -> str:
    """The first `errors[].reason` of Google's error body ("" when the body is not Google's shape)."""
    details = error.error_details
    if isinstance(details, list) and details and isinstance(details[0], dict):
        return str(details[0].get("reason") or "")
    try:
        body = json.loads(error.content.decode("utf-8"))
        return str(body["error"]["errors"][0]["reason"])
    except (ValueError, KeyError, IndexError, TypeError, AttributeError):
        return ""


def is_retryable(status: int, reason: str) -> bool:
    return status in (408, 429) or status >= 500 or (status == 403 and reason in RATE_LIMIT_REASONS)


def _retry_after(headers: Any) -> float | None:
    return parse_retry_after(headers, include_reset=False)


def classify(error: Exception, action: str) -> ConnectorError:
    """Turn a client-library or transport exception into RetryableError / PermanentError."""
    if isinstance(error, ConnectorError):
        return error
    if isinstance(error, HttpError):
        status, reason = error.status_code, error_reason(error)
        text = f"Google Workspace could not {action}: HTTP {status} {reason}: {error.reason}".replace(" : ", ": ")
        if is_retryable(status, reason):
            # Google's 403 rateLimitExceeded means what a 429 does: the call did not run.
            throttled = status == 429 or reason in RATE_LIMIT_REASONS
            return RetryableError(text, retry_after=_retry_after(error.resp), status=status, throttled=throttled)
        if status == 403:
            text += " (check the admin's role and the scopes granted to the service account by domain-wide delegation)"
        return PermanentError(text, status=status)
    if isinstance(error, auth_exceptions.RefreshError):
        return _refresh_error(error, action)
    if isinstance(error, TimeoutError):
        return RetryableError(f"Google Workspace did not answer in time while trying to {action}.")
    if isinstance(error, OSError | httplib2.HttpLib2Error | auth_exceptions.TransportError):
        return RetryableError(f"Could not reach Google Workspace while trying to {action}: {error!r}")
    return RetryableError(f"Unexpected error from the Google client while trying to {action}: {error!r}")


def _refresh_error(error: auth_exceptions.RefreshError, action: str) -> ConnectorError:
    """The token endpoint refused the service account (or was unwell)."""
    detail = error.args[0] if error.args else str(error)
    text = f"Google refused the service account's token request while trying to {action}: {detail}"
    if getattr(error, "retryable", False):
        return RetryableError(text)
    if "unauthorized_client" in str(detail):
        text += (
            " — in the Admin console (Security > Access and data control > API controls > Domain-wide "
            "delegation) grant the service account's client id the scopes in docs/google.md"
        )
    return PermanentError(text)
