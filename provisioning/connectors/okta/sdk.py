"""Plumbing between Gatehouse and the okta SDK: its HTTP client with a timeout (keeping the raw
response headers), reading SDK models, rate-limit waits, Link-header paging and group types."""

from __future__ import annotations

import time
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from okta.errors.okta_api_error import OktaAPIError
from okta.http_client import HTTPClient
from okta.request_executor import RequestExecutor

from lib.http import RateWindow, parse_rate_window, parse_retry_after
from provisioning.connectors.base import ConnectorError, PermanentError, RetryableError
from provisioning.connectors.links import LinkHeaderError, next_target
from provisioning.connectors.okta.buckets import bucket_of

WRITABLE_GROUP_TYPE = "OKTA_GROUP"
NOT_WRITABLE = {
    "APP_GROUP": "its members are imported from an application (e.g. Active Directory) and managed there",
    "BUILT_IN": "it is Okta's built-in Everyone group, whose members Okta manages itself",
}
RETRYABLE_STATUSES = {429, 500, 502, 503, 504}


@dataclass
class Exchange:
    """What the HTTP client saw for one SDK call: kept per asyncio task, so calls in flight at
    the same time on one event loop do not read each other's status or headers."""

    transport_error: BaseException | None = None
    status: int | None = None
    headers: Any = None


#: the exchange of the SDK call running in the current task (set by the connector per call)
CURRENT_EXCHANGE: ContextVar[Exchange | None] = ContextVar("okta_exchange", default=None)


class TimedHTTPClient(HTTPClient):
    """The SDK's HTTP client with a per-request timeout, remembering the last transport error.

    The SDK's own `requestTimeout` also caps its rate-limit waits (and then fails without a
    response), so it stays 0 and the timeout is set on each HTTP call here instead.
    """

    def __init__(self, http_config: dict, timeout_seconds: float):
        super().__init__(http_config)
        self._timeout = aiohttp.ClientTimeout(total=timeout_seconds)
        self.last_transport_error: BaseException | None = None
        self.last_status: int | None = None
        self.last_headers: Any = None
        #: bucket -> the latest window Okta described for it (read and cleared by the connector)
        self.windows: dict[str, RateWindow] = {}

    async def send_request(self, request: dict) -> tuple:
        result = await super().send_request(request)
        if result[1] is not None:
            window = parse_rate_window(result[1].headers, status=result[1].status)
            if window is not None:
                bucket = bucket_of(request.get("method", "GET"), request.get("url", ""))
                self.windows[bucket] = merge_windows(self.windows.get(bucket), window)
        self.last_transport_error = result[3]
        self.last_status = result[1].status if result[1] is not None else None
        # The raw aiohttp headers (a multidict): the SDK's ApiResponse keeps one value per name.
        self.last_headers = result[1].headers if result[1] is not None else None
        exchange = CURRENT_EXCHANGE.get()
        if exchange is not None:
            exchange.transport_error, exchange.status, exchange.headers = (
                self.last_transport_error,
                self.last_status,
                self.last_headers,
            )
        return result

    @staticmethod
    def check_response_for_error(url: str, response_details: Any, response_body: Any) -> tuple:
        """The SDK's check, without decoding a successful body only to drop it (the request
        executor keeps only the error; whoever asked decodes the body)."""
        if 200 <= response_details.status <= 299:
            return None, None
        return HTTPClient.check_response_for_error(url, response_details, response_body)


def merge_windows(old: RateWindow | None, new: RateWindow) -> RateWindow:
    """The later window of two answers; of two about the same window, the lower remaining."""
    if old is None or new.reset_at > old.reset_at + 2:
        return new
    if old.reset_at > new.reset_at + 2:
        return old
    return new if new.remaining <= old.remaining else old


class ShortWaitExecutor(RequestExecutor):
    """The SDK's request executor, but its rate-limit retry never sleeps longer than
    `max_wait_seconds`: a longer wait (until `X-Rate-Limit-Reset`) becomes a 429 RetryableError,
    which the outbox turns into a hand-back of the row until the reset."""

    max_wait_seconds: float = 5.0

    async def execute_uncached(self, request: dict) -> tuple[Any, Any, Any]:
        """`execute` without the SDK's response cache, which this connector leaves off and which
        decodes every successful answer to see whether it may keep it: (response, body, error)."""
        _, response, body, error = await self.fire_request_helper(request, 0, time.time())
        if error is not None:
            return None, None, error
        _, error = self._http_client.check_response_for_error(request["url"], response, body)
        return response, body, error

    async def pause_for_backoff(self, backoff_time: float) -> None:
        if float(backoff_time) > self.max_wait_seconds:
            raise RetryableError(
                f"Okta's rate limit is spent for {float(backoff_time):.0f} s",
                retry_after=float(backoff_time),
                status=429,
            )
        await super().pause_for_backoff(backoff_time)


def short_wait_executor(max_wait_seconds: float) -> type[ShortWaitExecutor]:
    """A ShortWaitExecutor class with its own cap (the SDK instantiates the class itself)."""
    return type("ShortWaitExecutor", (ShortWaitExecutor,), {"max_wait_seconds": max_wait_seconds})


def model_value(obj: Any, name: str) -> Any:
    """An attribute of an SDK model, looking through anyOf wrappers (`actual_instance`)."""
    if obj is None:
        return None
    inner = getattr(obj, "actual_instance", None)
    if inner is not None:
        obj = inner
    value = getattr(obj, name, None)
    if value is None:
        value = (getattr(obj, "additional_properties", None) or {}).get(name)
    return value


def aware(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def okta_time(value: datetime) -> str:
    """A time as Okta's filter expressions take it: `2026-12-01T14:00:00.000Z` (UTC)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def classify(error: Exception, what: str) -> ConnectorError:
    """The SDK's error for one call as a typed ConnectorError (retryable: 429, 5xx, no status)."""
    status = getattr(error, "status", None)
    headers = getattr(error, "headers", None) or getattr(error, "response_headers", None) or {}
    if isinstance(error, OktaAPIError):
        detail = f"{error.error_code}: {error.error_summary}".strip()
        causes = "; ".join(c.get("errorSummary", "") for c in error.error_causes or [] if c.get("errorSummary"))
        if causes:
            detail = f"{detail} ({causes})"
    else:
        detail = str(getattr(error, "message", "") or error) or repr(error)  # e.g. a bare TimeoutError()
    message = f"Okta could not {what}: HTTP {status} {detail}" if status else f"Okta could not {what}: {detail}"
    if status is None or status in RETRYABLE_STATUSES:
        # X-Rate-Limit-Reset is on every answer; it means "wait" only on a 429.
        retry_after = parse_retry_after(headers, include_reset=status == 429)
        return RetryableError(message, retry_after=retry_after, status=status)
    return PermanentError(message, status=status)


def next_cursor(headers: Any, what: str) -> str | None:
    """The `after` cursor of the rel="next" link, across every Link header and value."""
    if not headers:
        return None
    values = headers.getall("Link", []) if hasattr(headers, "getall") else [headers.get("Link") or ""]
    try:
        target = next_target(v for v in values if v)
    except LinkHeaderError as error:
        raise PermanentError(f"Okta sent an unreadable Link header while trying to {what}: {error}") from None
    if target is None:
        return None
    cursor = parse_qs(urlsplit(target).query).get("after")
    if not cursor or not cursor[0]:
        raise PermanentError(f"Okta's rel=next link has no after= cursor while trying to {what}: {target}")
    return cursor[0]


def not_writable_reason(group_type: str) -> str:
    """Why Okta refuses membership changes to a group of this type ("" for OKTA_GROUP)."""
    if group_type == WRITABLE_GROUP_TYPE:
        return ""
    why = NOT_WRITABLE.get(group_type, "only OKTA_GROUP groups accept membership changes")
    return f"Okta group type {group_type or 'unknown'}: {why}; Okta refuses membership changes to it."
