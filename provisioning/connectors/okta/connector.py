"""Okta, through the official `okta` SDK (3.x, async), driven from sync code.

Each connector instance owns one event loop and one aiohttp session; `close()` releases both.
Membership writes are blind: Okta's `PUT` and `DELETE /api/v1/groups/{gid}/users/{uid}` answer
204 whether or not the membership existed (a DELETE of an absent user 404), so nothing is read
before a write; whether access pre-existed is known from the directory sync (`blind_writes`).
`apply_changes` runs a batch of writes concurrently on the one loop and session. Every answer's
`X-Rate-Limit-*` headers are kept per bucket (`take_rate_windows`) for the shared rate budget,
and the SDK's own rate-limit retry never sleeps longer than `max_wait_seconds`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Mapping
from datetime import datetime
from typing import Any

import aiohttp
from okta.client import Client

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
    model_value,
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
        if self._session is not None:
            self._loop.run_until_complete(self._session.close())
            self._session = None
        self._loop.close()

    def _call(self, what: str, method: Callable[..., Any], *args: Any, **kwargs: Any) -> tuple[Any, Any]:
        """Run one SDK call; return (data, response) or raise a typed ConnectorError."""
        data, response, _ = self._run(self._acall(what, method, *args, **kwargs))
        return data, response

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
            if exchange.transport_error is None and exchange.status is not None:
                # e.g. a 429/503 without Date or X-Rate-Limit-Reset: the SDK gives up without a response.
                status = exchange.status
                message = f"Okta answered HTTP {status} while trying to {what}, and the SDK could not use it: {error!r}"
                if status in RETRYABLE_STATUSES:
                    raise RetryableError(message, status=status) from None
                raise PermanentError(message, status=status) from None
            cause = exchange.transport_error or error
            raise RetryableError(f"Okta did not answer while trying to {what}: {cause!r}") from None
        if len(result) == 2:
            data, (response, error) = None, result
        else:
            data, response, error = result
        if error is not None:
            raise classify(error, what)
        return data, response, exchange.headers

    def _pages(self, what: str, method: Callable[..., Any], *args: Any, limit: int, **kwargs: Any) -> Iterator[list]:
        """Every page of a list call, following Link rel="next"; errors raise (never a silent stop)."""
        pages = self._apages(what, method, *args, limit=limit, **kwargs)
        while True:
            try:
                yield self._run(anext(pages))
            except StopAsyncIteration:
                return

    async def _apages(self, what: str, method: Callable[..., Any], *args: Any, limit: int, **kwargs: Any):
        """The pages of a list call, on the loop.

        The cursor is read from every `Link` header of the raw response, not from the SDK: its
        response object keeps one header per name (the last), and its paginator the first
        comma-separated value, so either drops `rel="next"` when Okta sends it in another order.
        """
        after, seen = None, set()
        while True:
            data, _, headers = await self._acall(what, method, *args, after=after, limit=limit, **kwargs)
            yield list(data or [])
            after = next_cursor(headers, what)
            if not after:
                return
            if after in seen:
                raise PermanentError(f"Okta's paging repeats itself while trying to {what} (cursor {after!r}).")
            seen.add(after)

    # -- users -----------------------------------------------------------------------------
    def _all_users(self) -> list[Any]:
        users = []
        for page in self._pages("list users", self._client.list_users, limit=USERS_PAGE):
            users.extend(page)
        # A plain listing omits deprovisioned users; a filter returns them.
        deprovisioned = 'status eq "DEPROVISIONED"'
        for page in self._pages(
            "list deprovisioned users", self._client.list_users, limit=USERS_PAGE, filter=deprovisioned
        ):
            users.extend(page)
        return users

    def iter_users(self) -> Iterator[DirectoryUser]:
        users = self._all_users()
        emails = {user.id: email_of(user) for user in users}
        for user in users:
            yield as_user(user, emails)

    def iter_users_changed_since(self, since: datetime) -> Iterator[DirectoryUser]:
        """`filter=lastUpdated gt "…"` (Okta's up-to-date filter, not the eventually consistent
        search); a filtered listing includes DEPROVISIONED users."""
        expression = f'lastUpdated gt "{okta_time(since)}"'
        for page in self._pages("list changed users", self._client.list_users, limit=USERS_PAGE, filter=expression):
            for user in page:
                yield as_user(user, {})

    def read_users(self, external_ids: list[str]) -> dict[str, DirectoryUser | None]:
        """Each user by id: Okta answers 404 only for a user that was deleted (after deprovisioning)."""
        found: dict[str, DirectoryUser | None] = {}
        for user_id in external_ids:
            try:
                user, _ = self._call(f"read user {user_id}", self._client.get_user, user_id)
            except PermanentError as error:
                if error.status != 404:
                    raise
                found[user_id] = None
                continue
            found[user_id] = as_user(user, {})
        return found

    def _lookup(self, email: str) -> Any | None:
        return self._run(self._alookup(email))

    async def _alookup(self, email: str) -> Any | None:
        """The Okta user whose login (then, failing that, email) is `email`; None when absent."""
        try:
            user, _, _ = await self._acall(f"look up user {email}", self._client.get_user, email)
            return user
        except PermanentError as error:
            if error.status != 404:
                raise
        search = f'profile.email eq "{email}"'
        users, _, _ = await self._acall(f"search for user {email}", self._client.list_users, search=search, limit=2)
        users = list(users or [])
        if len(users) > 1:
            raise PermanentError(f"More than one Okta user has the email {email}; cannot tell which is meant.")
        return users[0] if users else None

    def find_user_by_email(self, email: str) -> DirectoryUser | None:
        user = self._lookup(email)
        if user is None:
            return None
        self._user_ids[email.lower()] = user.id
        emails: dict[str, str] = {}
        manager_id = model_value(user.profile, "manager_id")
        if manager_id:
            try:
                manager, _ = self._call("look up the manager", self._client.get_user, manager_id)
                emails[manager_id] = email_of(manager)
            except PermanentError:
                pass  # a manager Okta no longer has: leave it unknown
        return as_user(user, emails)

    # -- groups ----------------------------------------------------------------------------
    def iter_groups(self) -> Iterator[DirectoryGroup]:
        for page in self._pages("list groups", self._client.list_groups, limit=GROUPS_PAGE):
            yield from map(as_group, page)

    def iter_groups_changed_since(self, since: datetime) -> Iterator[DirectoryGroup]:
        """Groups whose profile (`lastUpdated`) or members (`lastMembershipUpdated`) changed."""
        stamp = okta_time(since)
        expression = f'lastUpdated gt "{stamp}" or lastMembershipUpdated gt "{stamp}"'
        for page in self._pages("list changed groups", self._client.list_groups, limit=GROUPS_PAGE, filter=expression):
            yield from map(as_group, page)

    def iter_group_members(self, group_id: str) -> Iterator[str]:
        what = f"list the members of group {group_id}"
        for page in self._pages(what, self._client.list_group_users, group_id, limit=MEMBERS_PAGE):
            for user in page:
                yield user.id

    def read_group_members(self, group_ids: list[str], concurrency: int = 1) -> dict[str, list[str] | ConnectorError]:
        """Several groups at once on this connector's one event loop and session: at most
        `concurrency` listings in flight (each one still pages in order)."""
        return self._run(self._amembers_of(group_ids, max(concurrency, 1)))

    async def _amembers_of(self, group_ids: list[str], concurrency: int) -> dict[str, list[str] | ConnectorError]:
        gate = asyncio.Semaphore(concurrency)

        async def members_of(group_id: str) -> list[str] | ConnectorError:
            what = f"list the members of group {group_id}"
            async with gate:
                try:
                    pages = self._apages(what, self._client.list_group_users, group_id, limit=MEMBERS_PAGE)
                    return [user.id async for page in pages for user in page]
                except ConnectorError as error:
                    return error

        results = await asyncio.gather(*(members_of(group_id) for group_id in group_ids))
        return dict(zip(group_ids, results, strict=True))

    # -- applications ----------------------------------------------------------------------
    def iter_applications(self) -> Iterator[DirectoryApplication]:
        for page in self._pages("list applications", self._client.list_applications, limit=APPS_PAGE):
            for app in page:
                app_id = model_value(app, "id")
                group_ids: list[str] = []
                what = f"list the groups assigned to application {app_id}"
                method = self._client.list_application_group_assignments
                for assignments in self._pages(what, method, app_id, limit=APPS_PAGE):
                    group_ids.extend(a.id for a in assignments)
                label = model_value(app, "label") or model_value(app, "name") or app_id
                yield DirectoryApplication(external_id=app_id, name=label, group_ids=group_ids)
