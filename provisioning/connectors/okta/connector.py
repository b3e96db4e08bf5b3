"""Okta, through the official `okta` SDK (3.x, async), driven from sync code.

Each connector instance owns one event loop and one aiohttp session; `close()` releases both.
Membership writes are blind: Okta's `PUT` and `DELETE /api/v1/groups/{gid}/users/{uid}` answer
204 whether or not the membership existed (a DELETE of an absent user 404), so nothing is read
before a write; whether access pre-existed is known from the directory sync (`blind_writes`).
`apply_changes` runs a batch of writes concurrently on the one loop and session. Users, groups,
members and applications are read as JSON through the SDK's request executor (its auth, retries
and rate-limit waits; `_aget`) without building its models (records.py). Every answer's
`X-Rate-Limit-*` headers are kept per bucket (`take_rate_windows`) for the shared rate budget,
and the SDK's own rate-limit retry never sleeps longer than `max_wait_seconds`.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from datetime import datetime
from typing import Any
from urllib.parse import quote, urlencode

import aiohttp
from okta.client import Client

from provisioning.connectors.async_reads import Prefetch, gathered
from provisioning.connectors.base import (
    Connector,
    ConnectorError,
    DirectoryApplication,
    DirectoryGroup,
    DirectoryUser,
    PermanentError,
    RetryableError,
)
from provisioning.connectors.okta.records import as_group, as_user, email_of
from provisioning.connectors.okta.sdk import (
    CURRENT_EXCHANGE,
    RETRYABLE_STATUSES,
    Exchange,
    TimedHTTPClient,
    classify,
    next_cursor,
    okta_time,
    short_wait_executor,
)
from provisioning.connectors.okta.writes import MembershipWrites

logger = logging.getLogger(__name__)

USERS_PAGE = 200  # the most /api/v1/users serves per page
GROUPS_PAGE = 200  # Okta recommends at most 200
MEMBERS_PAGE = 200  # Okta recommends 200 (its default, 1000, is "for historical reasons")
APPS_PAGE = 200  # the SDK refuses more (le=200)
USERS, GROUPS, APPS = "/api/v1/users", "/api/v1/groups", "/api/v1/apps"


class OktaConnector(MembershipWrites, Connector):
    """Users, groups, memberships and apps of one Okta org. Not thread-safe: one per worker."""

    name = "okta"
    lists_changes_since = True
    blind_writes = True

    def __init__(
        self,
        *,
        org_url: str,
        api_token: str = "",
        client_id: str = "",
        private_key: str = "",
        key_id: str = "",
        scopes: list[str] | tuple[str, ...] = (),
        max_retries: int = 1,
        request_timeout: float = 30.0,
        max_wait_seconds: float = 5.0,
    ):
        if not org_url:
            raise PermanentError("Okta is not configured: set OKTA_ORG_URL.")
        config: dict[str, Any] = {"orgUrl": org_url.rstrip("/"), "rateLimit": {"maxRetries": max_retries}}
        if api_token:
            config.update(authorizationMode="SSWS", token=api_token)
        elif client_id and private_key:
            config.update(
                authorizationMode="PrivateKey", clientId=client_id, privateKey=private_key, scopes=list(scopes)
            )
            if key_id:
                config["kid"] = key_id
        else:
            raise PermanentError(
                "Okta is not configured: set OKTA_API_TOKEN, or OKTA_CLIENT_ID with OKTA_PRIVATE_KEY "
                "(or OKTA_PRIVATE_KEY_FILE) for OAuth."
            )
        self._http: TimedHTTPClient | None = None

        def http_client(http_config: dict) -> TimedHTTPClient:
            self._http = TimedHTTPClient(http_config, request_timeout)
            return self._http

        config["httpClient"] = http_client
        config["requestExecutor"] = short_wait_executor(max_wait_seconds)
        sdk_logger = logging.getLogger("okta-sdk-python")
        handlers = list(sdk_logger.handlers)
        try:
            self._client = Client(config)
        except ValueError as error:  # the SDK's config validation; never echoes the secret
            raise PermanentError(f"Okta configuration is invalid: {error}") from None
        finally:
            # Each Client adds a stream handler to the SDK logger; keep exactly the ones we had.
            sdk_logger.handlers = handlers
        self._loop = asyncio.new_event_loop()
        self._session: aiohttp.ClientSession | None = None
        self._user_ids: dict[str, str] = {}
        self._prefetch = Prefetch()

    @classmethod
    def from_settings(cls, values: Mapping[str, Any]) -> OktaConnector:
        """Build from the declared settings (environment variables `OKTA_*`, see docs/okta.md)."""
        from provisioning.connectors.okta import CONNECTOR

        CONNECTOR.ensure_configured(values)
        private_key = values.get("PRIVATE_KEY", "")
        if not private_key and values.get("PRIVATE_KEY_FILE"):
            try:
                with open(values["PRIVATE_KEY_FILE"], encoding="utf-8") as key_file:
                    private_key = key_file.read()
            except OSError as error:
                raise PermanentError(f"Cannot read OKTA_PRIVATE_KEY_FILE: {error.strerror}.") from None
        return cls(
            org_url=values.get("ORG_URL", ""),
            api_token=values.get("API_TOKEN", ""),
            client_id=values.get("CLIENT_ID", ""),
            private_key=private_key,
            key_id=values.get("KEY_ID", ""),
            scopes=values.get("SCOPES", ()),
            max_retries=values.get("RATE_LIMIT_MAX_RETRIES", 1),
            request_timeout=values.get("REQUEST_TIMEOUT_SECONDS", 30),
            max_wait_seconds=values.get("RATE_LIMIT_MAX_WAIT_SECONDS", 5.0),
        )

    # -- running the async SDK -------------------------------------------------------------
    def _run(self, coroutine: Any) -> Any:
        if self._loop.is_closed():
            raise PermanentError("This Okta connector was closed.")
        if self._session is None:
            self._loop.run_until_complete(self._open_session())
        return self._loop.run_until_complete(coroutine)

    async def _open_session(self) -> None:
        self._session = aiohttp.ClientSession()
        self._client.get_request_executor().set_session(self._session)

    def close(self) -> None:
        if self._loop.is_closed():
            return
        self._loop.run_until_complete(self._prefetch.cancel())
        if self._session is not None:
            self._loop.run_until_complete(self._session.close())
            self._session = None
        self._loop.close()

    async def _acall(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any, Any]:
        """One SDK call on the loop: (data, response, raw headers), or a typed ConnectorError.

        The SDK answers a 3-tuple (data, response, error), except that calls without a response
        body answer a 2-tuple (response, error) on error; and with no HTTP response at all
        (connection refused, timeout) it fails inside its own code, so that is caught here.
        What the HTTP client saw is kept per task (`CURRENT_EXCHANGE`), so concurrent calls on
        this loop never read each other's status or headers.
        """
        exchange = Exchange()
        CURRENT_EXCHANGE.set(exchange)
        try:
            result = await method(*args, **kwargs)
        except ConnectorError:
            raise
        except Exception as error:
            raise _unusable(exchange, what, error) from None
        if len(result) == 2:
            data, (response, error) = None, result
        else:
            data, response, error = result
        if error is not None:
            raise classify(error, what)
        return data, response, exchange.headers

    async def _aget(self, what: str, path: str, params: Mapping[str, Any] | None = None) -> tuple[Any, Any]:
        """GET `path` (with `params`) as parsed JSON, and the answer's raw headers.

        The request goes through the SDK's own request executor (auth, its rate-limit retry,
        this connector's HTTP client) but the body is read with `json`, not into SDK models.
        The query is encoded as the SDK encodes it (`%20`, not `+`)."""
        query = urlencode({k: v for k, v in (params or {}).items() if v is not None}, quote_via=quote)
        url = f"{path}?{query}" if query else path
        executor = self._client.get_request_executor()

        async def send() -> tuple[Any, Any, Any]:
            request, error = await executor.create_request("GET", url, None, {"Accept": "application/json"})
            if error is not None:  # e.g. the OAuth token request failed: classified as for the SDK's methods
                return None, None, error
            response, body, error = await executor.execute_uncached(request)
            if response is None and error is not None:
                raise error  # no usable HTTP answer: explained from what the HTTP client saw, as for the SDK's methods
            return body, response, error

        body, _, headers = await self._acall(what, send)
        return (json.loads(body) if body else None), headers

    def _pages(self, what: str, path: str, params: Mapping[str, Any], *, limit: int) -> Iterator[list[dict]]:
        """Every page of a listing, following Link rel="next"; errors raise (never a silent stop)."""
        pages = self._apages(what, path, params, limit=limit)
        while True:
            try:
                yield self._run(anext(pages))
            except StopAsyncIteration:
                return

    async def _apages(
        self, what: str, path: str, params: Mapping[str, Any], *, limit: int
    ) -> AsyncIterator[list[dict[str, Any]]]:
        """The pages of a listing (lists of JSON objects), on the loop.

        The cursor is read from every `Link` header of the raw response, not from the SDK: its
        response object keeps one header per name (the last), and its paginator the first
        comma-separated value, so either drops `rel="next"` when Okta sends it in another order.
        """
        after, seen = None, set()
        while True:
            data, headers = await self._aget(what, path, {**params, "after": after, "limit": limit})
            yield list(data or [])
            after = next_cursor(headers, what)
            if not after:
                return
            if after in seen:
                raise PermanentError(f"Okta's paging repeats itself while trying to {what} (cursor {after!r}).")
            seen.add(after)

    # -- users -----------------------------------------------------------------------------
    def _all_users(self) -> list[dict[str, Any]]:
        users = []
        for page in self._pages("list users", USERS, {}, limit=USERS_PAGE):
            users.extend(page)
        # A plain listing omits deprovisioned users; a filter returns them.
        deprovisioned = {"filter": 'status eq "DEPROVISIONED"'}
        for page in self._pages("list deprovisioned users", USERS, deprovisioned, limit=USERS_PAGE):
            users.extend(page)
        return users

    def iter_users(self) -> Iterator[DirectoryUser]:
        users = self._all_users()
        emails = {user["id"]: email_of(user) for user in users}
        for user in users:
            yield as_user(user, emails)

    def iter_users_changed_since(self, since: datetime) -> Iterator[DirectoryUser]:
        """`filter=lastUpdated gt "…"` (Okta's up-to-date filter, not the eventually consistent
        search); a filtered listing includes DEPROVISIONED users."""
        changed = {"filter": f'lastUpdated gt "{okta_time(since)}"'}
        for page in self._pages("list changed users", USERS, changed, limit=USERS_PAGE):
            for user in page:
                yield as_user(user, {})

    async def _aget_user(self, what: str, id_or_login: str) -> dict[str, Any]:
        user, _ = await self._aget(what, f"{USERS}/{quote(id_or_login, safe='')}")
        return user

    def read_users(self, external_ids: list[str]) -> dict[str, DirectoryUser | None]:
        """Each user by id: Okta answers 404 only for a user that was deleted (after deprovisioning)."""
        found: dict[str, DirectoryUser | None] = {}
        for user_id in external_ids:
            try:
                user = self._run(self._aget_user(f"read user {user_id}", user_id))
            except PermanentError as error:
                if error.status != 404:
                    raise
                found[user_id] = None
                continue
            found[user_id] = as_user(user, {})
        return found

    def _lookup(self, email: str) -> dict[str, Any] | None:
        return self._run(self._alookup(email))

    async def _alookup(self, email: str) -> dict[str, Any] | None:
        """The Okta user whose login (then, failing that, email) is `email`; None when absent."""
        try:
            return await self._aget_user(f"look up user {email}", email)
        except PermanentError as error:
            if error.status != 404:
                raise
        search = {"search": f'profile.email eq "{email}"', "limit": 2}
        users, _ = await self._aget(f"search for user {email}", USERS, search)
        users = list(users or [])
        if len(users) > 1:
            raise PermanentError(f"More than one Okta user has the email {email}; cannot tell which is meant.")
        return users[0] if users else None

    def find_user_by_email(self, email: str) -> DirectoryUser | None:
        user = self._lookup(email)
        if user is None:
            return None
        self._user_ids[email.lower()] = user["id"]
        emails: dict[str, str] = {}
        manager_id = (user.get("profile") or {}).get("managerId")
        if manager_id:
            try:
                manager = self._run(self._aget_user("look up the manager", manager_id))
                emails[manager_id] = email_of(manager)
            except PermanentError:
                pass  # a manager Okta no longer has: leave it unknown
        return as_user(user, emails)

    # -- groups ----------------------------------------------------------------------------
    def iter_groups(self) -> Iterator[DirectoryGroup]:
        yield from map(as_group, self._run(self._prefetch.listing("groups", self._aall_groups)))

    async def _aall_groups(self) -> list[dict[str, Any]]:
        return [group async for page in self._apages("list groups", GROUPS, {}, limit=GROUPS_PAGE) for group in page]

    def iter_groups_changed_since(self, since: datetime) -> Iterator[DirectoryGroup]:
        """Groups whose profile (`lastUpdated`) or members (`lastMembershipUpdated`) changed."""
        stamp = okta_time(since)
        changed = {"filter": f'lastUpdated gt "{stamp}" or lastMembershipUpdated gt "{stamp}"'}
        for page in self._pages("list changed groups", GROUPS, changed, limit=GROUPS_PAGE):
            yield from map(as_group, page)

    def _member_pages(self, group_id: str) -> AsyncIterator[list[dict[str, Any]]]:
        what = f"list the members of group {group_id}"
        return self._apages(what, f"{GROUPS}/{quote(group_id, safe='')}/users", {}, limit=MEMBERS_PAGE)

    def iter_group_members(self, group_id: str) -> Iterator[str]:
        members = self.read_group_members([group_id])[group_id]
        if isinstance(members, ConnectorError):
            raise members
        yield from members

    def prefetch_full_pass(self, group_ids: list[str], concurrency: int = 1) -> None:
        """The reads run on this connector's loop during its next calls (the users listing)."""
        self._run(self._astart_prefetch(group_ids, concurrency))

    async def _astart_prefetch(self, group_ids: list[str], concurrency: int) -> None:
        gate = self._prefetch.shared_gate(concurrency)
        self._prefetch.start_members(group_ids, self._amember_ids, gate)
        self._prefetch.start_listing("groups", self._aall_groups())
        self._prefetch.start_listing("applications", self._aapplications(concurrency))

    def read_group_members(self, group_ids: list[str], concurrency: int = 1) -> dict[str, list[str] | ConnectorError]:
        """Several groups at once on this connector's one event loop and session: at most
        `concurrency` listings in flight (each one still pages in order); prefetched ones collected."""
        return self._run(self._prefetch.members(group_ids, self._amember_ids, concurrency))

    async def _amember_ids(self, group_id: str) -> list[str]:
        return [user["id"] async for page in self._member_pages(group_id) for user in page]

    # -- applications ----------------------------------------------------------------------
    def iter_applications(self, concurrency: int = 1) -> Iterator[DirectoryApplication]:
        """The org's applications with the groups assigned to each (those read `concurrency` at once)."""
        yield from self._run(self._prefetch.listing("applications", lambda: self._aapplications(concurrency)))

    async def _aapplications(self, concurrency: int) -> list[DirectoryApplication]:
        apps = [app async for page in self._apages("list applications", APPS, {}, limit=APPS_PAGE) for app in page]
        ids = [app["id"] for app in apps]
        assigned = await gathered(ids, self._aassigned_groups, concurrency, gate=self._prefetch.gate)
        found = []
        for app in apps:
            group_ids = assigned[app["id"]]
            if isinstance(group_ids, ConnectorError):
                raise group_ids
            label = app.get("label") or app.get("name") or app["id"]
            found.append(DirectoryApplication(external_id=app["id"], name=label, group_ids=group_ids))
        return found

    async def _aassigned_groups(self, app_id: str) -> list[str]:
        what = f"list the groups assigned to application {app_id}"
        pages = self._apages(what, f"{APPS}/{quote(app_id, safe='')}/groups", {}, limit=APPS_PAGE)
        return [assignment["id"] async for page in pages for assignment in page]


def _unusable(exchange: Exchange, what: str, error: BaseException) -> ConnectorError:
    """The error of a call that got no HTTP answer, or one the SDK could not use."""
    if exchange.transport_error is None and exchange.status is not None:
        # e.g. a 429/503 without Date or X-Rate-Limit-Reset: the SDK gives up without a response.
        status = exchange.status
        message = f"Okta answered HTTP {status} while trying to {what}, and the SDK could not use it: {error!r}"
        if status in RETRYABLE_STATUSES:
            return RetryableError(message, status=status)
        return PermanentError(message, status=status)
    cause = exchange.transport_error or error
    return RetryableError(f"Okta did not answer while trying to {what}: {cause!r}")
