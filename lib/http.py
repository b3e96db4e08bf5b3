"""HTTP helpers shared by every plain `requests` caller: a session that always has a timeout, and
the one parser of a provider's "wait this long" headers."""

from __future__ import annotations

import contextlib
import email.utils
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import requests

DEFAULT_TIMEOUT_SECONDS = 10.0


class TimeoutSession(requests.Session):
    """A `requests.Session` whose every request has a timeout (requests itself has none)."""

    def __init__(self, timeout: float = DEFAULT_TIMEOUT_SECONDS):
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def _lower(headers: Mapping[str, Any] | None) -> dict[str, str]:
    return {str(name).lower(): str(value).strip() for name, value in dict(headers or {}).items() if value is not None}


def _seconds_until(when: datetime, now: datetime) -> float:
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max((when - now).total_seconds(), 0.0)


def _retry_after_value(value: str, now: datetime) -> float | None:
    """RFC 9110 Retry-After: delta-seconds or an HTTP date."""
    try:
        return max(float(value), 0.0)
    except ValueError:
        pass
    try:
        return _seconds_until(email.utils.parsedate_to_datetime(value), now)
    except (TypeError, ValueError):
        return None


def _epoch_reset(value: str, date: str | None, now: datetime) -> float | None:
    """Okta's X-Rate-Limit-Reset: epoch seconds, measured against the response's own Date (the
    server's clock, not ours), plus one second for the whole-second rounding on the wire."""
    try:
        reset = float(value)
    except ValueError:
        return None
    reference = now.timestamp()
    if date:
        with contextlib.suppress(TypeError, ValueError):
            reference = email.utils.parsedate_to_datetime(date).timestamp()
    return max(reset - reference, 0.0) + 1.0


def _iso_or_epoch_reset(value: str, date: str | None, now: datetime) -> float | None:
    """X-RateLimit-Reset: an ISO 8601 time (Jira) or epoch seconds (others)."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return _epoch_reset(value, date, now)
    return _seconds_until(when, now)


def parse_retry_after(
    headers: Mapping[str, Any] | None, *, now: datetime | None = None, include_reset: bool = True
) -> float | None:
    """Seconds to wait before calling again, or None when the provider did not say.

    Reads `Retry-After` (seconds or HTTP date) first, then, when `include_reset`, a rate-limit
    window's reset: `X-Rate-Limit-Reset` (Okta, epoch seconds) or `X-RateLimit-Reset` (Jira, ISO
    8601). Pass `include_reset=False` for answers other than 429: those headers are on every
    response and do not mean "wait".
    """
    now = now or datetime.now(UTC)
    values = _lower(headers)
    if values.get("retry-after"):
        seconds = _retry_after_value(values["retry-after"], now)
        if seconds is not None:
            return seconds
    if not include_reset:
        return None
    if values.get("x-rate-limit-reset"):
        return _epoch_reset(values["x-rate-limit-reset"], values.get("date"), now)
    if values.get("x-ratelimit-reset"):
        return _iso_or_epoch_reset(values["x-ratelimit-reset"], values.get("date"), now)
    return None


@dataclass(frozen=True)
class RateWindow:
    """What a provider said about one rate-limit bucket: `remaining` calls allowed until
    `reset_at` (epoch seconds on our clock); `limit` per window when it said so."""

    limit: int | None
    remaining: int
    reset_at: float


def _whole(value: str | None) -> int | None:
    try:
        return int(float(value)) if value else None
    except ValueError:
        return None


def parse_rate_window(
    headers: Mapping[str, Any] | None, *, status: int | None = None, now: datetime | None = None
) -> RateWindow | None:
    """The bucket's window an answer describes, or None when it describes none.

    Okta sends `X-Rate-Limit-Limit/-Remaining/-Reset` on every answer (the reset read against the
    answer's `Date`, as `parse_retry_after` does); a 429 with only `Retry-After` (Graph, Google,
    Slack, Jira) means no call until then.
    """
    now = now or datetime.now(UTC)
    values = _lower(headers)
    remaining = _whole(values.get("x-rate-limit-remaining"))
    if remaining is not None and values.get("x-rate-limit-reset"):
        seconds = _epoch_reset(values["x-rate-limit-reset"], values.get("date"), now)
        if seconds is not None:
            remaining = 0 if status == 429 else remaining
            return RateWindow(_whole(values.get("x-rate-limit-limit")), max(remaining, 0), now.timestamp() + seconds)
    if status == 429:
        seconds = parse_retry_after(headers, now=now)
        if seconds is not None:
            return RateWindow(None, 0, now.timestamp() + seconds)
    return None
