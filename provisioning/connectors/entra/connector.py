"""Microsoft Entra ID through Microsoft Graph v1.0 (`msgraph-sdk`, app-only client credentials).

The SDK is async; Gatehouse's callers are sync. Each connector owns one event loop and runs every
Graph call on it: a GraphServiceClient (its httpx client and credential) is bound to the loop it
first ran on, and reusing it across separate `asyncio.run()` calls fails with "Event loop is
closed". `close()` closes the client, the credential and the loop. An instance is therefore not
thread-safe: use one per thread (the registry builds a fresh one per use).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx
from azure.core.exceptions import ClientAuthenticationError, ServiceRequestError
from kiota_abstractions.api_error import APIError
from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from kiota_http.kiota_client_factory import KiotaClientFactory
from kiota_http.middleware import RetryHandler
from kiota_http.middleware.options import RetryHandlerOption
from msgraph import GraphRequestAdapter, GraphServiceClient
from msgraph.generated.models.o_data_errors.o_data_error import ODataError
from msgraph.generated.models.reference_create import ReferenceCreate
from msgraph.graph_request_adapter import options as GRAPH_ADAPTER_OPTIONS
from msgraph_core import GraphClientFactory
from msgraph_core.middleware import GraphTelemetryHandler
from msgraph_core.middleware.options import GraphTelemetryHandlerOption

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

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BASE_URL = "https://graph.microsoft.com/v1.0"
# Graph names directory objects by this URL in $ref bodies, whatever host the request went to.
DIRECTORY_OBJECT_URL = "https://graph.microsoft.com/v1.0/directoryObjects/"
PAGE_SIZE = 999  # Graph's maximum; its default is 100
# Graph's documentation has given both 999 and 500 as the limit when signInActivity is selected.
SIGN_IN_PAGE_SIZE = 500
USER_FIELDS = ["id", "mail", "userPrincipalName", "displayName", "accountEnabled", "department", "jobTitle"]
MANAGER_EXPAND = "manager($select=mail,userPrincipalName)"
GROUP_FIELDS = [
    "id",
    "displayName",
    "description",
    "groupTypes",
    "securityEnabled",
    "mailEnabled",
    "membershipRule",
    "onPremisesSyncEnabled",
]
# Enterprise applications shown in the Entra admin centre carry this tag; without the filter the
# list includes hundreds of Microsoft first-party service principals.
ENTERPRISE_APP_FILTER = "tags/any(t:t eq 'WindowsAzureActiveDirectoryIntegratedApp')"
ALREADY_MEMBER_TEXT = "already exist"

_sign_in_warned: set[str] = set()  # tenants for which the missing sign-in data was already logged


class _BoundedRetryHandler(RetryHandler):
    """kiota's retry handler (429/503/504, honouring Retry-After), but never sleeping longer than
    `max_wait` in-process: a longer wait is handed back as a RetryableError so the outbox
    reschedules the change rather than holding a worker (django-q's default task timeout is 120 s)."""

    def __init__(self, options: RetryHandlerOption, max_wait: float) -> None:
        super().__init__(options)
        self.max_wait = max_wait

    def get_delay_time(self, retry_count: int, response: httpx.Response | None = None, delay: float = 3.0) -> float:
        wait = super().get_delay_time(retry_count, response, delay)
        # kiota does not retry when the delay reaches RetryHandlerOption.MAX_DELAY.
        return RetryHandlerOption.MAX_DELAY if wait > self.max_wait else wait


def _http_client(*, timeout: float, max_retries: int, max_wait: float) -> httpx.AsyncClient:
    """Graph's default middleware with our timeout and a bounded retry handler."""
    options = dict(GRAPH_ADAPTER_OPTIONS)
    retry_option = RetryHandlerOption(max_retries=max_retries)
    options[RetryHandlerOption.get_key()] = retry_option
    middleware = [
        _BoundedRetryHandler(retry_option, max_wait) if isinstance(m, RetryHandler) else m
        for m in KiotaClientFactory.get_default_middleware(options)
    ]
    telemetry = options.get(GraphTelemetryHandlerOption.get_key())
    middleware.append(GraphTelemetryHandler(options=telemetry))
    client = httpx.AsyncClient(timeout=httpx.Timeout(timeout), http2=True)
    return GraphClientFactory.create_with_custom_middleware(middleware, client=client)


def retry_after_seconds(headers: Any) -> float | None:
    """Retry-After as seconds: a number of seconds or an HTTP date (RFC 9110)."""
    if not headers:
        return None
    value = {str(k).lower(): v for k, v in dict(headers).items()}.get("retry-after")
    if not value:
        return None
    value = str(value).strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def graph_error_parts(error: APIError) -> tuple[str, str]:
    """Graph's error.code and error.message (empty code when the body was not Graph's shape)."""
    if isinstance(error, ODataError) and error.error is not None:
        return error.error.code or "", error.error.message or ""
    return "", error.message or str(error)


def classify(error: Exception, action: str) -> ConnectorError:
    """Turn an SDK/transport exception into our typed error: 429/5xx/timeouts are retryable."""
    if isinstance(error, APIError):
        status = error.response_status_code or 0
        code, message = graph_error_parts(error)
        text = f"Microsoft Graph refused {action}: HTTP {status} {code}: {message}".replace(" : ", ": ")
        if status in (408, 429) or status >= 500:
            return RetryableError(text, retry_after=retry_after_seconds(error.response_headers), status=status)
        return PermanentError(text, status=status)
    if isinstance(error, httpx.TimeoutException):
        return RetryableError(f"Microsoft Graph did not answer in time while {action} ({error!r}).")
    if isinstance(error, httpx.TransportError | ServiceRequestError):
        return RetryableError(f"Could not reach Microsoft Graph while {action}: {error}")
    if isinstance(error, ClientAuthenticationError):
        status = getattr(error.response, "status_code", None) or 0
        text = f"Entra ID refused Gatehouse's app credentials while {action}: {error.message}"
        if status == 429 or status >= 500:  # the token endpoint itself is unwell, not our credentials
            return RetryableError(text, status=status)
        return PermanentError(text, status=status or None)
    return RetryableError(f"Unexpected error from the Graph SDK while {action}: {error!r}")


def _odata_quote(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


class EntraConnector(Connector):
    """Entra ID users, groups and enterprise applications via Microsoft Graph (application permissions)."""

    name = "entra"

    def __init__(
        self,
        *,
        credential: Any,
        tenant_id: str = "",
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_wait: float = 30.0,
        page_size: int = PAGE_SIZE,
    ) -> None:
        """`credential` is an azure-core async token credential (ClientSecretCredential in production)."""
        self.tenant_id = tenant_id
        self.page_size = page_size
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._credential = credential
        self._loop = asyncio.new_event_loop()
        parts = urlsplit(self.base_url)
        # Scope from the Graph host (graph.microsoft.com, or a national cloud's); never the port.
        auth = AzureIdentityAuthenticationProvider(credential, scopes=[f"{parts.scheme}://{parts.hostname}/.default"])
        self._adapter = GraphRequestAdapter(
            auth, client=_http_client(timeout=timeout, max_retries=max_retries, max_wait=max_retry_wait)
        )
        # Set on the adapter, as INTEGRATIONS.md found to work: this is what lets tests point the real
        # SDK at an emulator on 127.0.0.1 (kiota allows plain http only for localhost), and what a
        # national cloud needs. GraphServiceClient keeps an adapter's base_url when one is set.
        self._adapter.base_url = self.base_url
        self.graph = GraphServiceClient(request_adapter=self._adapter)
        self._sign_in_available = True
        self._user_ids: dict[str, str] = {}
        self._closed = False

    @classmethod
    def from_settings(cls, config: Mapping[str, Any]) -> EntraConnector:
        """Build from the declared settings; PermanentError naming what is missing when not configured."""
        from provisioning.connectors.entra import CONNECTOR

        CONNECTOR.ensure_configured(config)
        return cls(
            credential=_credential(config, _credential_kind(config)),
            tenant_id=config["TENANT_ID"],
            base_url=config.get("GRAPH_BASE_URL") or DEFAULT_BASE_URL,
            timeout=config.get("TIMEOUT_SECONDS", 30.0),
            max_retries=config.get("MAX_RETRIES", 3),
            max_retry_wait=config.get("MAX_RETRY_WAIT_SECONDS", 30.0),
        )

    # -- plumbing ------------------------------------------------------------------------------
    def _run(self, make: Callable[[], Awaitable[T]], action: str) -> T:
        """Run one Graph call on this connector's loop; typed errors out."""
        if self._closed:
            raise PermanentError("This Entra connector was closed.")
        try:
            return self._loop.run_until_complete(make())
        except Exception as error:
            raise classify(error, action) from error

    def _pages(
        self, first: Callable[[], Awaitable[Any]], follow: Callable[[str], Awaitable[Any]], action: str
    ) -> Iterator[Any]:
        """Every item of a collection, following @odata.nextLink (absolute URL) page by page."""
        page = self._run(first, action)
        while page is not None:
            yield from page.value or []
            next_link = page.odata_next_link
            if not next_link:
                return
            page = self._run(lambda link=next_link: follow(link), action)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.run_until_complete(self._aclose())
        finally:
            self._loop.close()

    async def _aclose(self) -> None:
        await self._adapter._http_client.aclose()
        close = getattr(self._credential, "close", None)
        if close is not None:
            await close()

    # -- users ---------------------------------------------------------------------------------
    def _user_query(self, *, with_sign_in: bool, filter: str | None) -> RequestConfiguration:
        params = self.graph.users.UsersRequestBuilderGetQueryParameters(
            select=USER_FIELDS + (["signInActivity"] if with_sign_in else []),
            expand=[MANAGER_EXPAND],
            top=min(self.page_size, SIGN_IN_PAGE_SIZE) if with_sign_in else self.page_size,
            filter=filter,
        )
        return RequestConfiguration(query_parameters=params)

    def _users(self, filter: str | None = None) -> Iterator[DirectoryUser]:
        """Users with last sign-in when the tenant allows it; otherwise without (last_login_known=False)."""
        action = "listing users"
        if self._sign_in_available:
            config = self._user_query(with_sign_in=True, filter=filter)
            try:
                first = self._run(lambda: self.graph.users.get(request_configuration=config), action)
            except PermanentError as error:
                if error.status != 403:
                    raise
                self._degrade_sign_in(error)
            else:
                yield from self._user_items(first, action, sign_in=True)
                return
        config = self._user_query(with_sign_in=False, filter=filter)
        first = self._run(lambda: self.graph.users.get(request_configuration=config), action)
        yield from self._user_items(first, action, sign_in=False)

    def _user_items(self, first_page: Any, action: str, *, sign_in: bool) -> Iterator[DirectoryUser]:
        pages = self._pages(lambda: _done(first_page), lambda link: self.graph.users.with_url(link).get(), action)
        for user in pages:
            yield self._as_user(user, sign_in=sign_in)

    def _degrade_sign_in(self, error: ConnectorError) -> None:
        # Graph answers 403 Authentication_RequestFromNonPremiumTenantOrB2CTenant when the tenant has
        # no Entra ID P1/P2 licence, and 403 Authorization_RequestDenied without AuditLog.Read.All.
        self._sign_in_available = False
        if self.tenant_id not in _sign_in_warned:
            _sign_in_warned.add(self.tenant_id)
            logger.warning(
                "Entra ID sign-in activity is not available (%s); users are read without last sign-in "
                "(last_login_known=False). Needs AuditLog.Read.All and an Entra ID P1/P2 licence.",
                error,
            )

    @staticmethod
    def _as_user(user: Any, *, sign_in: bool) -> DirectoryUser:
        manager = user.manager
        manager_email = None
        if manager is not None:
            extra = manager.additional_data or {}
            manager_email = (
                getattr(manager, "mail", None)
                or getattr(manager, "user_principal_name", None)
                or extra.get("mail")
                or extra.get("userPrincipalName")
            )
        last_login = None
        if sign_in and user.sign_in_activity is not None:
            last_login = user.sign_in_activity.last_sign_in_date_time
            if last_login is not None and last_login.tzinfo is None:
                last_login = last_login.replace(tzinfo=UTC)
        return DirectoryUser(
            external_id=user.id,
            email=(user.mail or user.user_principal_name or "").lower(),
            name=user.display_name or "",
            status="suspended" if user.account_enabled is False else "active",
            manager_email=manager_email.lower() if manager_email else None,
            department=user.department or "",
            title=user.job_title or "",
            last_login=last_login,
            last_login_known=sign_in,
        )

    def iter_users(self) -> Iterator[DirectoryUser]:
        yield from self._users()

    def find_user_by_email(self, email: str) -> DirectoryUser | None:
        quoted = _odata_quote(email.strip())
        return next(self._users(filter=f"mail eq {quoted} or userPrincipalName eq {quoted}"), None)

    def _user_id(self, user: UserRef) -> str:
        if user.external_id:
            return user.external_id
        key = user.email.strip().lower()
        if key not in self._user_ids:
            quoted = _odata_quote(key)
            params = self.graph.users.UsersRequestBuilderGetQueryParameters(
                select=["id"], filter=f"mail eq {quoted} or userPrincipalName eq {quoted}", top=2
            )
            config = RequestConfiguration(query_parameters=params)
            page = self._run(lambda: self.graph.users.get(request_configuration=config), f"looking up {key}")
            found = page.value if page else []
            if not found:
                raise PermanentError(f"No Entra ID user has mail or userPrincipalName {key}.", status=404)
            self._user_ids[key] = found[0].id
        return self._user_ids[key]

    # -- groups --------------------------------------------------------------------------------
    def iter_groups(self) -> Iterator[DirectoryGroup]:
        params = self.graph.groups.GroupsRequestBuilderGetQueryParameters(select=GROUP_FIELDS, top=self.page_size)
        config = RequestConfiguration(query_parameters=params)
        pages = self._pages(
            lambda: self.graph.groups.get(request_configuration=config),
            lambda link: self.graph.groups.with_url(link).get(),
            "listing groups",
        )
        for group in pages:
            yield DirectoryGroup(
                external_id=group.id,
                name=group.display_name or group.id,
                description=group.description or "",
                writable=is_writable(group),
            )

    def iter_group_members(self, group_id: str) -> Iterator[str]:
        """Direct members that are users (nested groups, devices and contacts are left out)."""
        builder = self.graph.groups.by_group_id(group_id).members.graph_user
        params = builder.GraphUserRequestBuilderGetQueryParameters(select=["id"], top=self.page_size)
        config = RequestConfiguration(query_parameters=params)
        pages = self._pages(
            lambda: builder.get(request_configuration=config),
            lambda link: builder.with_url(link).get(),
            f"listing the members of group {group_id}",
        )
        for member in pages:
            yield member.id

    def add_member(self, group_id: str, user: UserRef) -> AddResult:
        user_id = self._user_id(user)
        body = ReferenceCreate(odata_id=f"{DIRECTORY_OBJECT_URL}{user_id}")
        refs = self.graph.groups.by_group_id(group_id).members.ref
        try:
            self._run(lambda: refs.post(body), f"adding {user.email} to group {group_id}")
        except PermanentError as error:
            # Graph: 400 "One or more added object references already exist ..." = already a member.
            if error.status == 400 and ALREADY_MEMBER_TEXT in error.message:
                return AddResult.ALREADY_MEMBER
            raise
        return AddResult.ADDED

    def remove_member(self, group_id: str, user: UserRef) -> RemoveResult:
        user_id = self._user_id(user)
        ref = self.graph.groups.by_group_id(group_id).members.by_directory_object_id(user_id).ref
        try:
            self._run(lambda: ref.delete(), f"removing {user.email} from group {group_id}")
        except PermanentError as error:
            if error.status != 404:
                raise
            # The same 404 answers "no such group" and "no such member": ask about the group.
            if not self._group_exists(group_id):
                raise PermanentError(f"Entra ID group {group_id} does not exist.", status=404) from error
            return RemoveResult.NOT_A_MEMBER
        return RemoveResult.REMOVED

    def _group_exists(self, group_id: str) -> bool:
        builder = self.graph.groups.by_group_id(group_id)
        config = RequestConfiguration(query_parameters=builder.GroupItemRequestBuilderGetQueryParameters(select=["id"]))
        try:
            self._run(lambda: builder.get(request_configuration=config), f"reading group {group_id}")
        except PermanentError as error:
            if error.status == 404:
                return False
            raise
        return True

    # -- applications --------------------------------------------------------------------------
    def iter_applications(self) -> Iterator[DirectoryApplication]:
        """Enterprise applications (service principals) and the groups assigned to them."""
        sps = self.graph.service_principals
        params = sps.ServicePrincipalsRequestBuilderGetQueryParameters(
            select=["id", "displayName", "appId"], filter=ENTERPRISE_APP_FILTER, top=self.page_size
        )
        config = RequestConfiguration(query_parameters=params)
        pages = self._pages(
            lambda: sps.get(request_configuration=config),
            lambda link: sps.with_url(link).get(),
            "listing enterprise applications",
        )
        for sp in list(pages):
            yield DirectoryApplication(
                external_id=sp.id, name=sp.display_name or sp.id, group_ids=self._assigned_groups(sp.id)
            )

    def _assigned_groups(self, service_principal_id: str) -> list[str]:
        # appRoleAssignedTo is filtered here rather than with $filter=principalType eq 'Group', which
        # Graph does not document as supported on this relationship.
        builder = self.graph.service_principals.by_service_principal_id(service_principal_id).app_role_assigned_to
        params = builder.AppRoleAssignedToRequestBuilderGetQueryParameters(
            select=["principalId", "principalType"], top=self.page_size
        )
        config = RequestConfiguration(query_parameters=params)
        pages = self._pages(
            lambda: builder.get(request_configuration=config),
            lambda link: builder.with_url(link).get(),
            f"listing the assignments of application {service_principal_id}",
        )
        group_ids = [str(a.principal_id) for a in pages if a.principal_type == "Group" and a.principal_id]
        return list(dict.fromkeys(group_ids))


def is_writable(group: Any) -> bool:
    """Graph changes members only of cloud security groups and Microsoft 365 groups: not of dynamic
    groups, groups synced from on-premises AD, mail-enabled security groups or distribution lists."""
    types = group.group_types or []
    if "DynamicMembership" in types or group.on_premises_sync_enabled:
        return False
    return "Unified" in types or (bool(group.security_enabled) and not group.mail_enabled)


async def _done(value: T) -> T:
    return value


def _credential_kind(config: Mapping[str, Any]) -> str | None:
    if config.get("CLIENT_SECRET") or config.get("CLIENT_SECRET_FILE"):
        return "secret"
    if config.get("CLIENT_CERTIFICATE_PATH"):
        return "certificate"
    return None


def _credential(config: Mapping[str, Any], kind: str | None) -> Any:
    """The app's credential. Its token requests get the Graph timeout: azure-identity's transport
    would otherwise wait up to 300 s to connect and 300 s to read."""
    from azure.identity.aio import CertificateCredential, ClientSecretCredential

    tenant, client = config["TENANT_ID"], config["CLIENT_ID"]
    timeout = float(config.get("TIMEOUT_SECONDS") or 30.0)
    timeouts = {"connection_timeout": timeout, "read_timeout": timeout}
    if kind == "certificate":
        try:
            return CertificateCredential(
                tenant,
                client,
                certificate_path=config["CLIENT_CERTIFICATE_PATH"],
                password=config.get("CLIENT_CERTIFICATE_PASSWORD") or None,
                **timeouts,
            )
        except (OSError, ValueError) as error:
            raise PermanentError(
                f"ENTRA_CLIENT_CERTIFICATE_PATH {config['CLIENT_CERTIFICATE_PATH']!r} cannot be used: {error}"
            ) from None
    secret = config.get("CLIENT_SECRET") or ""
    if not secret:
        path = Path(config["CLIENT_SECRET_FILE"])
        try:
            secret = path.read_text().strip()
        except OSError as error:
            raise PermanentError(f"Cannot read ENTRA_CLIENT_SECRET_FILE {path}: {error.strerror}.") from error
        if not secret:
            raise PermanentError(f"ENTRA_CLIENT_SECRET_FILE {path} is empty.")
    return ClientSecretCredential(tenant, client, secret, **timeouts)
