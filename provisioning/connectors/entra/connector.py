"""Microsoft Entra ID through Microsoft Graph v1.0 (`msgraph-sdk`, app-only client credentials).

The SDK is async; Gatehouse's callers are sync. Each connector owns one event loop and runs every
Graph call on it: a GraphServiceClient (its httpx client and credential) is bound to the loop it
first ran on, and reusing it across separate `asyncio.run()` calls fails with "Event loop is
closed". `close()` closes the client, the credential and the loop. An instance is therefore not
thread-safe: use one per thread (the outbox keeps one per worker process and thread).
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping
from datetime import UTC
from typing import Any, TypeVar
from urllib.parse import urlsplit

from kiota_abstractions.base_request_configuration import RequestConfiguration
from kiota_authentication_azure.azure_identity_authentication_provider import AzureIdentityAuthenticationProvider
from msgraph import GraphRequestAdapter, GraphServiceClient

from provisioning.connectors.async_reads import Prefetch, gathered
from provisioning.connectors.base import (
    Connector,
    ConnectorError,
    DirectoryApplication,
    DirectoryGroup,
    DirectoryUser,
    PermanentError,
)
from provisioning.connectors.entra.delta import DeltaReads
from provisioning.connectors.entra.records import group_from_json, json_pages, user_from_json
from provisioning.connectors.entra.transport import (
    classify,
    credential,
    credential_kind,
    http_client,
)
from provisioning.connectors.entra.writes import MembershipWrites, odata_quote

logger = logging.getLogger(__name__)

T = TypeVar("T")

DEFAULT_BASE_URL = "https://graph.microsoft.com/v1.0"
# Graph names directory objects by this URL in $ref bodies, whatever host the request went to.
PAGE_SIZE = 999  # Graph's maximum; its default is 100
# Graph's documentation has given both 999 and 500 as the limit when signInActivity is selected.
SIGN_IN_PAGE_SIZE = 500
USER_FIELDS = ["id", "mail", "userPrincipalName", "displayName", "accountEnabled", "department", "jobTitle"]
MANAGER_EXPAND = "manager($select=id,mail,userPrincipalName)"
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

_sign_in_warned: set[str] = set()  # tenants for which the missing sign-in data was already logged


class EntraConnector(DeltaReads, MembershipWrites, Connector):
    """Entra ID users, groups and enterprise applications via Microsoft Graph (application permissions).
    Changes between full syncs come from Graph delta queries (provisioning/connectors/entra/delta.py);
    membership writes run concurrently on the connector's loop (provisioning/connectors/entra/writes.py)."""

    name = "entra"
    lists_changes_since = True
    uses_change_cursor = True
    user_delta_fields = [*USER_FIELDS, "manager"]
    group_delta_fields = [*GROUP_FIELDS, "members"]

    def __init__(
        self,
        *,
        credential: Any,
        tenant_id: str = "",
        base_url: str = DEFAULT_BASE_URL,
        timeout: float = 30.0,
        max_retries: int = 3,
        max_retry_wait: float = 5.0,
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
            auth, client=http_client(timeout=timeout, max_retries=max_retries, max_wait=max_retry_wait)
        )
        # Set on the adapter, as INTEGRATIONS.md found to work: this is what lets tests point the real
        # SDK at an emulator on 127.0.0.1 (kiota allows plain http only for localhost), and what a
        # national cloud needs. GraphServiceClient keeps an adapter's base_url when one is set.
        self._adapter.base_url = self.base_url
        self.graph = GraphServiceClient(request_adapter=self._adapter)
        self._sign_in_available = True
        self.change_cursor: dict[str, str] = {}
        self._user_ids: dict[str, str] = {}
        self._prefetch = Prefetch()
        self._closed = False

    @classmethod
    def from_settings(cls, config: Mapping[str, Any]) -> EntraConnector:
        """Build from the declared settings; PermanentError naming what is missing when not configured."""
        from provisioning.connectors.entra import CONNECTOR

        CONNECTOR.ensure_configured(config)
        return cls(
            credential=credential(config, credential_kind(config)),
            tenant_id=config["TENANT_ID"],
            base_url=config.get("GRAPH_BASE_URL") or DEFAULT_BASE_URL,
            timeout=config.get("TIMEOUT_SECONDS", 30.0),
            max_retries=config.get("MAX_RETRIES", 3),
            max_retry_wait=config.get("MAX_RETRY_WAIT_SECONDS", 5.0),
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

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        try:
            self._loop.run_until_complete(self._aclose())
        finally:
            self._loop.close()

    async def _aclose(self) -> None:
        await self._prefetch.cancel()
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
            pages = self._json_pages(self.graph.users, self._user_query(with_sign_in=True, filter=filter), action)
            try:
                first = next(pages, None)
            except PermanentError as error:
                if error.status != 403:
                    raise
                self._degrade_sign_in(error)
            else:
                for page in itertools.chain([first] if first else [], pages):
                    yield from (user_from_json(data, sign_in=True) for data in page.get("value") or [])
                return
        config = self._user_query(with_sign_in=False, filter=filter)
        for page in self._json_pages(self.graph.users, config, action):
            yield from (user_from_json(data, sign_in=False) for data in page.get("value") or [])

    def _json_pages(self, builder: Any, config: RequestConfiguration, action: str) -> Iterator[dict[str, Any]]:
        """The JSON pages of a listing (records.json_pages), one at a time on this connector's loop."""
        pages = json_pages(self._adapter, builder, config)

        async def next_page() -> dict[str, Any] | None:
            return await anext(pages, None)

        while (page := self._run(next_page, action)) is not None:
            yield page

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
        manager_email = manager_id = None
        if manager is not None:
            manager_id = getattr(manager, "id", None)
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
            # Only an explicit accountEnabled=false suspends: a missing value is not a departure.
            status="suspended" if user.account_enabled is False else "active",
            state="accountEnabled=false" if user.account_enabled is False else "accountEnabled=true",
            manager_email=manager_email.lower() if manager_email else None,
            manager_external_id=manager_id,
            department=user.department or "",
            title=user.job_title or "",
            last_login=last_login,
            last_login_known=sign_in,
        )

    def iter_users(self) -> Iterator[DirectoryUser]:
        yield from self._users()

    def read_users(self, external_ids: list[str]) -> dict[str, DirectoryUser | None]:
        """Each user by object id; Graph answers 404 for a deleted user (soft-deleted ones are in
        deletedItems, hard-deleted ones nowhere): either way it is gone from the directory."""
        found: dict[str, DirectoryUser | None] = {}
        for user_id in external_ids:
            builder = self.graph.users.by_user_id(user_id)
            params = builder.UserItemRequestBuilderGetQueryParameters(select=USER_FIELDS, expand=[MANAGER_EXPAND])
            config = RequestConfiguration(query_parameters=params)
            try:
                user = self._run(lambda b=builder, c=config: b.get(request_configuration=c), f"reading user {user_id}")
            except PermanentError as error:
                if error.status != 404:
                    raise
                found[user_id] = None
                continue
            found[user_id] = self._as_user(user, sign_in=False) if user is not None else None
        return found

    def find_user_by_email(self, email: str) -> DirectoryUser | None:
        quoted = odata_quote(email.strip())
        return next(self._users(filter=f"mail eq {quoted} or userPrincipalName eq {quoted}"), None)

    # -- groups --------------------------------------------------------------------------------
    def iter_groups(self) -> Iterator[DirectoryGroup]:
        groups = self._run(lambda: self._prefetch.listing("groups", self._aall_groups), "listing groups")
        yield from map(group_from_json, groups)

    async def _aall_groups(self) -> list[dict[str, Any]]:
        params = self.graph.groups.GroupsRequestBuilderGetQueryParameters(select=GROUP_FIELDS, top=self.page_size)
        config = RequestConfiguration(query_parameters=params)
        pages = json_pages(self._adapter, self.graph.groups, config)
        return [group async for page in pages for group in page.get("value") or []]

    def iter_group_members(self, group_id: str) -> Iterator[str]:
        """Direct members that are users (nested groups, devices and contacts are left out)."""
        members = self._run(lambda: self._amember_ids(group_id), f"listing the members of group {group_id}")
        yield from members

    def prefetch_full_pass(self, group_ids: list[str], concurrency: int = 1) -> None:
        """The reads run on this connector's loop during its next calls (the users listing)."""

        async def start() -> None:
            gate = self._prefetch.shared_gate(concurrency)
            self._prefetch.start_members(group_ids, self._amember_ids, gate, _members_error)
            self._prefetch.start_listing("groups", self._aall_groups())
            self._prefetch.start_listing("applications", self._aapplications(concurrency))

        self._run(start, "starting the reads of a full sync")

    def read_group_members(self, group_ids: list[str], concurrency: int = 1) -> dict[str, list[str] | ConnectorError]:
        """Several groups at once on this connector's one event loop and Graph client: at most
        `concurrency` listings in flight (each one still pages in order); prefetched ones collected."""
        if self._closed:
            raise PermanentError("This Entra connector was closed.")
        taken = self._prefetch.members(group_ids, self._amember_ids, concurrency, _members_error)
        return self._loop.run_until_complete(taken)

    async def _amember_ids(self, group_id: str) -> list[str]:
        builder = self.graph.groups.by_group_id(group_id).members.graph_user
        params = builder.GraphUserRequestBuilderGetQueryParameters(select=["id"], top=self.page_size)
        config = RequestConfiguration(query_parameters=params)
        pages = json_pages(self._adapter, builder, config)
        return [member["id"] async for page in pages for member in page.get("value") or []]

    # -- applications --------------------------------------------------------------------------
    def iter_applications(self, concurrency: int = 1) -> Iterator[DirectoryApplication]:
        """Enterprise applications (service principals) and the groups assigned to them (the
        assignments of `concurrency` applications read at once)."""
        read = lambda: self._aapplications(concurrency)  # noqa: E731
        yield from self._run(lambda: self._prefetch.listing("applications", read), "listing enterprise applications")

    async def _aapplications(self, concurrency: int) -> list[DirectoryApplication]:
        sps = self.graph.service_principals
        params = sps.ServicePrincipalsRequestBuilderGetQueryParameters(
            select=["id", "displayName", "appId"], filter=ENTERPRISE_APP_FILTER, top=self.page_size
        )
        config = RequestConfiguration(query_parameters=params)
        apps = [sp async for page in json_pages(self._adapter, sps, config) for sp in page.get("value") or []]
        ids = [sp["id"] for sp in apps]
        assigned = await gathered(ids, self._aassigned_groups, concurrency, _assignments_error, self._prefetch.gate)
        found = []
        for sp in apps:
            group_ids = assigned[sp["id"]]
            if isinstance(group_ids, ConnectorError):
                raise group_ids
            name = sp.get("displayName") or sp["id"]
            found.append(DirectoryApplication(external_id=sp["id"], name=name, group_ids=group_ids))
        return found

    async def _aassigned_groups(self, service_principal_id: str) -> list[str]:
        # appRoleAssignedTo is filtered here rather than with $filter=principalType eq 'Group', which
        # Graph does not document as supported on this relationship.
        builder = self.graph.service_principals.by_service_principal_id(service_principal_id).app_role_assigned_to
        params = builder.AppRoleAssignedToRequestBuilderGetQueryParameters(
            select=["principalId", "principalType"], top=self.page_size
        )
        config = RequestConfiguration(query_parameters=params)
        assignments = [a async for page in json_pages(self._adapter, builder, config) for a in page.get("value") or []]
        group_ids = [
            a["principalId"] for a in assignments if a.get("principalType") == "Group" and a.get("principalId")
        ]
        return list(dict.fromkeys(group_ids))


def _members_error(error: Exception, group_id: str) -> ConnectorError:
    return classify(error, f"listing the members of group {group_id}")


def _assignments_error(error: Exception, service_principal_id: str) -> ConnectorError:
    return classify(error, f"listing the assignments of application {service_principal_id}")
