"""Okta, through the official `okta` SDK (3.x, async), driven from sync code.

Each connector instance owns one event loop and one aiohttp session; `close()` releases both.
Membership changes are made idempotent by looking first: Okta answers 204 both when it adds a
member and when the user already was one (and likewise for removal), so the connector asks for
the user's groups before it writes. That tells the outbox whether a membership existed before
Gatehouse touched it (ALREADY_MEMBER is recorded as external and never silently removed later).
A change made by someone else between the look and the write is still a success either way.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator
from typing import Any

import aiohttp
from okta.client import Client
from okta.errors.okta_api_error import OktaAPIError

from lib.http import parse_retry_after
from provisioning.connectors.base import (
    AddResult,
    Connector,
    ConnectorError,
    DirectoryApplication,
    DirectoryGroup,
    DirectoryUser,
    PermanentError,
    RemoveResult,
    RetryableError,
    UserRef,
)
from provisioning.connectors.okta.sdk import (
    RETRYABLE_STATUSES,
    WRITABLE_GROUP_TYPE,
    TimedHTTPClient,
    aware,
    model_value,
    next_cursor,
    not_writable_reason,
)

logger = logging.getLogger(__name__)

USERS_PAGE = 200  # the most /api/v1/users serves per page
GROUPS_PAGE = 200  # Okta recommends at most 200
MEMBERS_PAGE = 200  # Okta recommends 200 (its default, 1000, is "for historical reasons")
APPS_PAGE = 200  # the SDK refuses more (le=200)

_STATUS = {"SUSPENDED": "suspended", "DEPROVISIONED": "deprovisioned"}  # everything else: "active"


class OktaConnector(Connector):
    """Users, groups, memberships and apps of one Okta org. Not thread-safe: one per worker."""

    name = "okta"
    parameters = (
        "OKTA_ORG_URL",
        "OKTA_API_TOKEN",
        "OKTA_CLIENT_ID",
        "OKTA_PRIVATE_KEY",
        "OKTA_PRIVATE_KEY_FILE",
        "OKTA_KEY_ID",
        "OKTA_SCOPES",
        "OKTA_RATE_LIMIT_MAX_RETRIES",
        "OKTA_REQUEST_TIMEOUT_SECONDS",
    )
    sensitive_parameters = ("OKTA_API_TOKEN", "OKTA_PRIVATE_KEY")

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
    def from_settings(cls) -> OktaConnector:
        """Build from settings.OKTA (environment variables, see docs/okta.md)."""
        from django.conf import settings

        conf = getattr(settings, "OKTA", {}) or {}
        private_key = conf.get("PRIVATE_KEY", "")
        if not private_key and conf.get("PRIVATE_KEY_FILE"):
            try:
                with open(conf["PRIVATE_KEY_FILE"], encoding="utf-8") as key_file:
                    private_key = key_file.read()
            except OSError as error:
                raise PermanentError(f"Cannot read OKTA_PRIVATE_KEY_FILE: {error.strerror}.") from None
        return cls(
            org_url=conf.get("ORG_URL", ""),
            api_token=conf.get("API_TOKEN", ""),
            client_id=conf.get("CLIENT_ID", ""),
            private_key=private_key,
            key_id=conf.get("KEY_ID", ""),
            scopes=conf.get("SCOPES", ()),
            max_retries=conf.get("RATE_LIMIT_MAX_RETRIES", 1),
            request_timeout=conf.get("REQUEST_TIMEOUT_SECONDS", 30),
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
        """Run one SDK call; return (data, response) or raise a typed ConnectorError.

        The SDK answers a 3-tuple (data, response, error), except that calls without a response
        body answer a 2-tuple (response, error) on error; and with no HTTP response at all
        (connection refused, timeout) it fails inside its own code, so that is caught here.
        """
        if self._http is not None:
            self._http.last_transport_error, self._http.last_status = None, None
        try:
            result = self._run(method(*args, **kwargs))
        except ConnectorError:
            raise
        except Exception as error:
            transport_error = self._http.last_transport_error if self._http else None
            status = self._http.last_status if self._http else None
            if transport_error is None and status is not None:
                # e.g. a 429/503 without Date or X-Rate-Limit-Reset: the SDK gives up without a response.
                message = f"Okta answered HTTP {status} while trying to {what}, and the SDK could not use it: {error!r}"
                if status in RETRYABLE_STATUSES:
                    raise RetryableError(message, status=status) from None
                raise PermanentError(message, status=status) from None
            cause = transport_error or error
            raise RetryableError(f"Okta did not answer while trying to {what}: {cause!r}") from None
        if len(result) == 2:
            data, (response, error) = None, result
        else:
            data, response, error = result
        if error is not None:
            raise self._classify(error, what)
        return data, response

    @staticmethod
    def _classify(error: Exception, what: str) -> ConnectorError:
        status = getattr(error, "status", None)
        headers = getattr(error, "headers", None) or getattr(error, "response_headers", None) or {}
        if isinstance(error, OktaAPIError):
            detail = f"{error.error_code}: {error.error_summary}".strip()
            causes = "; ".join(c.get("errorSummary", "") for c in error.error_causes or [] if c.get("errorSummary"))
            if causes:
                detail = f"{detail} ({causes})"
        else:
            detail = str(getattr(error, "message", "") or error)
        message = f"Okta could not {what}: HTTP {status} {detail}" if status else f"Okta could not {what}: {detail}"
        if status is None or status in RETRYABLE_STATUSES:
            # X-Rate-Limit-Reset is on every answer; it means "wait" only on a 429.
            retry_after = parse_retry_after(headers, include_reset=status == 429)
            return RetryableError(message, retry_after=retry_after, status=status)
        return PermanentError(message, status=status)

    def _pages(self, what: str, method: Callable[..., Any], *args: Any, limit: int, **kwargs: Any) -> Iterator[list]:
        """Every page of a list call, following Link rel="next"; errors raise (never a silent stop).

        The cursor is read from every `Link` header of the raw response, not from the SDK: its
        response object keeps one header per name (the last), and its paginator the first
        comma-separated value, so either drops `rel="next"` when Okta sends it in another order.
        """
        after, seen = None, set()
        while True:
            data, _ = self._call(what, method, *args, after=after, limit=limit, **kwargs)
            headers = self._http.last_headers if self._http is not None else None
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
        emails = {user.id: self._email(user) for user in users}
        for user in users:
            yield self._as_user(user, emails)

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
            found[user_id] = self._as_user(user, {})
        return found

    @staticmethod
    def _email(user: Any) -> str:
        return (model_value(user.profile, "email") or model_value(user.profile, "login") or "").lower()

    def _as_user(self, user: Any, emails: dict[str, str]) -> DirectoryUser:
        """`profile.managerId` names the manager; `profile.manager` is a display name (an email in
        some orgs), passed on for the sync to match only when it is unambiguous."""
        profile = user.profile
        name = " ".join(p for p in (model_value(profile, "first_name"), model_value(profile, "last_name")) if p)
        manager_id = model_value(profile, "manager_id") or None
        manager_text = (model_value(profile, "manager") or "").strip()
        manager_email = emails.get(manager_id) if manager_id else None
        if manager_email is None and "@" in manager_text:
            manager_email = manager_text.lower()
        status = user.status.value if hasattr(user.status, "value") else str(user.status or "")
        return DirectoryUser(
            external_id=user.id,
            email=self._email(user),
            name=name or self._email(user),
            status=_STATUS.get(status, "active"),
            manager_email=manager_email,
            manager_external_id=manager_id,
            manager_name=manager_text if manager_text and "@" not in manager_text else None,
            department=model_value(profile, "department") or "",
            title=model_value(profile, "title") or "",
            last_login=aware(user.last_login),
            state=status,
        )

    def _lookup(self, email: str) -> Any | None:
        """The Okta user whose login (then, failing that, email) is `email`; None when absent."""
        try:
            user, _ = self._call(f"look up user {email}", self._client.get_user, email)
            return user
        except PermanentError as error:
            if error.status != 404:
                raise
        search = f'profile.email eq "{email}"'
        users, _ = self._call(f"search for user {email}", self._client.list_users, search=search, limit=2)
        users = list(users or [])
        if len(users) > 1:
            raise PermanentError(f"More than one Okta user has the email {email}; cannot tell which is meant.")
        return users[0] if users else None

    def _user_id(self, user: UserRef) -> str:
        if user.external_id:
            return user.external_id
        key = user.email.lower()
        if key not in self._user_ids:
            found = self._lookup(user.email)
            if found is None:
                raise PermanentError(f"No Okta user has the login or email {user.email}.", status=404)
            self._user_ids[key] = found.id
        return self._user_ids[key]

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
                emails[manager_id] = self._email(manager)
            except PermanentError:
                pass  # a manager Okta no longer has: leave it unknown
        return self._as_user(user, emails)

    # -- groups ----------------------------------------------------------------------------
    def iter_groups(self) -> Iterator[DirectoryGroup]:
        for page in self._pages("list groups", self._client.list_groups, limit=GROUPS_PAGE):
            for group in page:
                group_type = group.type.value if hasattr(group.type, "value") else str(group.type or "")
                yield DirectoryGroup(
                    external_id=group.id,
                    name=model_value(group.profile, "name") or group.id,
                    description=model_value(group.profile, "description") or "",
                    writable=group_type == WRITABLE_GROUP_TYPE,
                    not_writable_reason=not_writable_reason(group_type),
                )

    def iter_group_members(self, group_id: str) -> Iterator[str]:
        what = f"list the members of group {group_id}"
        for page in self._pages(what, self._client.list_group_users, group_id, limit=MEMBERS_PAGE):
            for user in page:
                yield user.id

    def _is_member(self, group_id: str, user_id: str, email: str) -> bool:
        groups, _ = self._call(f"list the groups of {email}", self._client.list_user_groups, user_id)
        return any(group.id == group_id for group in groups or [])

    def add_member(self, group_id: str, user: UserRef) -> AddResult:
        user_id = self._user_id(user)
        if self._is_member(group_id, user_id, user.email):
            return AddResult.ALREADY_MEMBER
        self._change(f"add {user.email} to group {group_id}", self._client.assign_user_to_group, group_id, user_id)
        return AddResult.ADDED

    def remove_member(self, group_id: str, user: UserRef) -> RemoveResult:
        user_id = self._user_id(user)
        if not self._is_member(group_id, user_id, user.email):
            return RemoveResult.NOT_A_MEMBER
        what = f"remove {user.email} from group {group_id}"
        self._change(what, self._client.unassign_user_from_group, group_id, user_id)
        return RemoveResult.REMOVED

    def _change(self, what: str, method: Callable[..., Any], group_id: str, user_id: str) -> None:
        try:
            self._call(what, method, group_id, user_id)
        except PermanentError as error:
            if error.status in (400, 403):
                raise self._explain_refusal(group_id, error) from None
            raise

    def _explain_refusal(self, group_id: str, error: PermanentError) -> PermanentError:
        """Okta answers a plain 403 for app-imported groups; say so when that is the reason."""
        try:
            group, _ = self._call(f"read group {group_id}", self._client.get_group, group_id)
        except ConnectorError:
            return error
        group_type = group.type.value if hasattr(group.type, "value") else str(group.type or "")
        if group_type and group_type != "OKTA_GROUP":
            name = model_value(group.profile, "name") or group_id
            return PermanentError(
                f"Okta group {name!r} ({group_id}) is of type {group_type}: its members are managed by "
                f"its source (e.g. an Active Directory import), so Okta refuses changes. {error.message}",
                status=error.status,
            )
        return PermanentError(
            f"{error.message} — check that the Okta admin role or OAuth scopes allow managing this group.",
            status=error.status,
        )

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
