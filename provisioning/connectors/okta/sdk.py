"""Plumbing between Gatehouse and the okta SDK: its HTTP client with a timeout (keeping the raw
response headers), reading SDK models, rate-limit waits, Link-header paging and group types."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
from okta.http_client import HTTPClient

from provisioning.connectors.base import PermanentError
from provisioning.connectors.links import LinkHeaderError, next_target

WRITABLE_GROUP_TYPE = "OKTA_GROUP"
NOT_WRITABLE = {
    "APP_GROUP": "its members are imported from an application (e.g. Active Directory) and managed there",
    "BUILT_IN": "it is Okta's built-in Everyone group, whose members Okta manages itself",
}
RETRYABLE_STATUSES = {429, 500, 502, 503, 504}


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

    async def send_request(self, request: dict) -> tuple:
        result = await super().send_request(request)
        self.last_transport_error = result[3]
        self.last_status = result[1].status if result[1] is not None else None
        # The raw aiohttp headers (a multidict): the SDK's ApiResponse keeps one value per name.
        self.last_headers = result[1].headers if result[1] is not None else None
        return result


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
