"""A stateful Microsoft Graph v1.0 emulator: the subset of users, groups, members and service
principals that the Entra connector uses, with Graph's paging, error bodies and throttling.

Shapes follow Graph v1.0 as the `msgraph-sdk` reads them (see /work/shared/INTEGRATIONS.md):
collections are `{"@odata.context", "value": [...], "@odata.nextLink"}` with an absolute next
link carrying `$skiptoken`; errors are `{"error": {"code", "message", "innerError": {...}}}`.
Where Graph's exact wording is not known (dynamic-group writes), the message is an approximation.
"""

from __future__ import annotations

import base64
import re
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from azure.core.credentials import AccessToken

from tests.emulators.base import Emulator, Incoming, Reply, route
from tests.emulators.graph_delta import DeltaState, GraphDelta

GRAPH_OBJECT_URL = "https://graph.microsoft.com/v1.0/directoryObjects/"
DEFAULT_PAGE = 100
MAX_PAGE = 999

USER_DEFAULT_FIELDS = ("businessPhones", "displayName", "givenName", "jobTitle", "mail", "id", "userPrincipalName")
NOT_LICENSED = (
    "Authentication_RequestFromNonPremiumTenantOrB2CTenant",
    "Neither tenant is B2C or tenant doesn't have premium license",
)


class StaticTokenCredential:
    """An async azure-core credential that hands out a fixed bearer token (the emulator accepts any).

    It stands in for Entra's token endpoint, which azure-identity only reaches over https.
    """

    def __init__(self, token: str = "emulator-token") -> None:
        self.token = token
        self.requests: list[tuple[str, ...]] = []

    async def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        self.requests.append(scopes)
        return AccessToken(self.token, int(time.time()) + 3600)

    async def close(self) -> None:
        pass


@dataclass
class GraphUser:
    id: str
    mail: str | None
    userPrincipalName: str
    displayName: str
    accountEnabled: bool = True
    department: str | None = None
    jobTitle: str | None = None
    manager_id: str | None = None
    last_sign_in: str | None = None  # ISO 8601, as Graph sends it

    def as_json(self) -> dict[str, Any]:
        sign_in = {"lastSignInDateTime": self.last_sign_in, "lastNonInteractiveSignInDateTime": None}
        return {
            "@odata.type": "#microsoft.graph.user",
            "id": self.id,
            "businessPhones": [],
            "givenName": self.displayName.split(" ")[0],
            "mail": self.mail,
            "userPrincipalName": self.userPrincipalName,
            "displayName": self.displayName,
            "accountEnabled": self.accountEnabled,
            "department": self.department,
            "jobTitle": self.jobTitle,
            "signInActivity": sign_in if self.last_sign_in else None,
        }


@dataclass
class GraphGroup:
    id: str
    displayName: str
    description: str | None = None
    groupTypes: list[str] = field(default_factory=list)
    securityEnabled: bool = True
    mailEnabled: bool = False
    membershipRule: str | None = None
    onPremisesSyncEnabled: bool | None = None
    members: list[str] = field(default_factory=list)  # object ids, users or groups, in insertion order

    def as_json(self) -> dict[str, Any]:
        data = {k: v for k, v in self.__dict__.items() if k != "members"}
        return {"@odata.type": "#microsoft.graph.group", **data}


@dataclass
class GraphServicePrincipal:
    id: str
    displayName: str
    appId: str
    tags: list[str] = field(default_factory=lambda: ["WindowsAzureActiveDirectoryIntegratedApp"])
    assignments: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "displayName": self.displayName, "appId": self.appId, "tags": self.tags}


class GraphEmulator(GraphDelta, Emulator):
    """Microsoft Graph v1.0 on 127.0.0.1. Build state with add_user/add_group/add_service_principal;
    delta queries (users, groups) come from GraphDelta (tests/emulators/graph_delta.py)."""

    def __init__(self, *, licensed: bool = True, budget_per_minute: int | None = None) -> None:
        super().__init__()
        self.users: dict[str, GraphUser] = {}
        self.groups: dict[str, GraphGroup] = {}
        self.service_principals: dict[str, GraphServicePrincipal] = {}
        self.licensed = licensed  # False: selecting signInActivity answers 403 like an unlicensed tenant
        self.budget_per_minute = budget_per_minute
        self.retry_after = "1"  # what a 429 (and an injected 503) says in Retry-After
        self._window: tuple[int, int] = (0, 0)  # (minute, requests in it)
        self._budget_lock = threading.Lock()
        self.delta = DeltaState()

    # -- state ----------------------------------------------------------------------------
    def add_user(self, email: str, name: str | None = None, *, manager: GraphUser | None = None, **extra) -> GraphUser:
        user = GraphUser(
            id=extra.pop("id", str(uuid.uuid4())),
            mail=email,
            userPrincipalName=extra.pop("upn", email),
            displayName=name or email.split("@")[0].title(),
            manager_id=manager.id if manager else None,
            **extra,
        )
        self.users[user.id] = user
        return user

    def add_group(self, name: str, *members: GraphUser | GraphGroup, **extra) -> GraphGroup:
        group = GraphGroup(id=extra.pop("id", str(uuid.uuid4())), displayName=name, **extra)
        group.members = [m.id for m in members]
        self.groups[group.id] = group
        return group

    def add_service_principal(self, name: str, *groups: GraphGroup, users: tuple[GraphUser, ...] = (), **extra):
        sp = GraphServicePrincipal(id=str(uuid.uuid4()), displayName=name, appId=str(uuid.uuid4()), **extra)
        for principal, kind in [*((g, "Group") for g in groups), *((u, "User") for u in users)]:
            sp.assignments.append(
                {
                    "id": base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("="),
                    "appRoleId": "00000000-0000-0000-0000-000000000000",
                    "principalId": principal.id,
                    "principalType": kind,
                    "principalDisplayName": principal.displayName,
                    "resourceId": sp.id,
                    "resourceDisplayName": sp.displayName,
                }
            )
        self.service_principals[sp.id] = sp
        return sp

    def member_ids(self, group: GraphGroup) -> list[str]:
        with self.lock:
            return list(self.groups[group.id].members)

    # -- errors, auth, throttling ------------------------------------------------------------
    def graph_error(self, status: int, code: str, message: str, headers: dict[str, str] | None = None) -> Reply:
        request_id = str(uuid.uuid4())
        inner = {"date": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"), "request-id": request_id}
        inner["client-request-id"] = request_id
        body = {"error": {"code": code, "message": message, "innerError": inner}}
        return Reply(status, body, {"request-id": request_id, **(headers or {})})

    def throttled_reply(self) -> Reply:
        return self.graph_error(
            429,
            "TooManyRequests",
            "Too many requests from Identifier under tenant. Please try again later.",
            {"Retry-After": self.retry_after},
        )

    def error_reply(self, status: int, message: str) -> Reply:
        codes = {404: "Request_ResourceNotFound", 405: "Request_BadRequest", 500: "generalException"}
        headers = {"Retry-After": self.retry_after} if status in (503, 504) else {}
        code = codes.get(status, "serviceNotAvailable" if status >= 500 else "Request_BadRequest")
        return self.graph_error(status, code, message, headers)

    def before_request(self, incoming: Incoming) -> Reply | None:
        auth = incoming.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth[len("Bearer ") :].strip():
            return self.graph_error(401, "InvalidAuthenticationToken", "Access token is empty.")
        if self.budget_per_minute is not None:
            return self._spend_budget()
        return None

    def _spend_budget(self) -> Reply | None:
        now = time.time()
        minute = int(now // 60)
        with self._budget_lock:
            current, used = self._window
            used = used + 1 if current == minute else 1
            self._window = (minute, used)
        if used > self.budget_per_minute:
            wait = max(1, int(60 - now % 60))
            return self.graph_error(429, "TooManyRequests", "Rate limit exceeded.", {"Retry-After": str(wait)})
        return None

    # -- query helpers ----------------------------------------------------------------------
    def _context(self, entity_set: str, select: list[str] | None) -> str:
        suffix = f"({','.join(select)})" if select else ""
        return f"{self.base_url}/v1.0/$metadata#{entity_set}{suffix}"

    @staticmethod
    def _select(incoming: Incoming) -> list[str] | None:
        raw = incoming.arg("$select")
        return [s.strip() for s in raw.split(",") if s.strip()] if raw else None

    def _page(
        self,
        incoming: Incoming,
        entity_set: str,
        rows: list[Any],
        select: list[str] | None,
        render: Callable[[Any], dict[str, Any]] | None = None,
    ) -> Reply:
        """One page of `rows` (`render` turns each row of the page into JSON, when they are not yet)."""
        raw_top = incoming.arg("$top")
        try:
            top = int(raw_top) if raw_top is not None else DEFAULT_PAGE
        except ValueError:
            top = -1
        if not 1 <= top <= MAX_PAGE:
            return self.graph_error(
                400,
                "Request_UnsupportedQuery",
                f"Invalid page size specified: '{raw_top}'. Must be between 1 and 999 inclusive.",
            )
        token = incoming.arg("$skiptoken")
        start = int(base64.urlsafe_b64decode(token.encode()).decode()) if token else 0
        value = rows[start : start + top]
        body: dict[str, Any] = {
            "@odata.context": self._context(entity_set, select),
            "value": [render(row) for row in value] if render else value,
        }
        if start + top < len(rows):
            query = {k: v[0] for k, v in incoming.query.items() if k != "$skiptoken"}
            query["$skiptoken"] = base64.urlsafe_b64encode(str(start + top).encode()).decode()
            body["@odata.nextLink"] = f"{self.base_url}{incoming.path}?{urlencode(query, safe='$')}"
        return Reply(200, body)

    @staticmethod
    def _project(data: dict[str, Any], select: list[str] | None, default: tuple[str, ...] | None = None):
        fields = select or default
        if not fields:
            return data
        out = {k: data.get(k) for k in fields}
        if "@odata.type" in data:
            out["@odata.type"] = data["@odata.type"]
        return out

    def _not_found(self, object_id: str) -> Reply:
        return self.graph_error(
            404,
            "Request_ResourceNotFound",
            f"Resource '{object_id}' does not exist or one of its queried reference-property objects are not present.",
        )

    # -- users ------------------------------------------------------------------------------
    def _user_json(self, user: GraphUser, select: list[str] | None, expand: str | None) -> dict[str, Any]:
        data = self._project(user.as_json(), select, USER_DEFAULT_FIELDS)
        if expand:
            match = re.fullmatch(r"manager(?:\(\$select=([^)]*)\))?", expand)
            if match is None:
                raise ValueError(f"unsupported $expand {expand!r}")
            manager = self.users.get(user.manager_id or "")
            manager_select = match.group(1).split(",") if match.group(1) else None
            data["manager"] = self._project(manager.as_json(), manager_select) if manager else None
        return data

    def _match_filter(self, user: GraphUser, raw: str) -> bool:
        """Only what the connector sends: `prop eq 'v'` clauses joined by `or` (mail, userPrincipalName)."""
        for clause in re.split(r"\s+or\s+", raw.strip()):
            match = re.fullmatch(r"(mail|userPrincipalName)\s+eq\s+'((?:[^']|'')*)'", clause.strip())
            if match is None:
                raise ValueError(f"unsupported $filter {raw!r}")
            value = (getattr(user, match.group(1)) or "").lower()
            if value == match.group(2).replace("''", "'").lower():
                return True
        return False

    def _sign_in_refused(self, select: list[str] | None) -> Reply | None:
        if select and "signInActivity" in select and not self.licensed:
            return self.graph_error(403, *NOT_LICENSED)
        return None

    @route("GET", r"/v1.0/users")
    def list_users(self, incoming: Incoming) -> Reply:
        select = self._select(incoming)
        refused = self._sign_in_refused(select)
        if refused:
            return refused
        users = list(self.users.values())
        if incoming.arg("$filter"):
            try:
                users = [u for u in users if self._match_filter(u, incoming.arg("$filter") or "")]
            except ValueError as exc:
                return self.graph_error(400, "Request_UnsupportedQuery", str(exc))
        expand = incoming.arg("$expand")
        return self._page(incoming, "users", users, select, lambda user: self._user_json(user, select, expand))

    @route("GET", r"/v1.0/users/(?P<uid>[^/]+)")
    def get_user(self, incoming: Incoming) -> Reply:
        select = self._select(incoming)
        refused = self._sign_in_refused(select)
        if refused:
            return refused
        key = incoming.params["uid"].lower()
        user = next((u for u in self.users.values() if key in (u.id, u.userPrincipalName.lower())), None)
        if user is None:
            return self._not_found(incoming.params["uid"])
        data = self._user_json(user, select, incoming.arg("$expand"))
        return Reply(200, {"@odata.context": self._context("users", select) + "/$entity", **data})

    # -- groups -----------------------------------------------------------------------------
    @route("GET", r"/v1.0/groups")
    def list_groups(self, incoming: Incoming) -> Reply:
        select = self._select(incoming)
        rows = [self._project(g.as_json(), select) for g in self.groups.values()]
        return self._page(incoming, "groups", rows, select)

    @route("GET", r"/v1.0/groups/(?P<gid>[^/]+)")
    def get_group(self, incoming: Incoming) -> Reply:
        group = self.groups.get(incoming.params["gid"])
        if group is None:
            return self._not_found(incoming.params["gid"])
        select = self._select(incoming)
        return Reply(
            200,
            {"@odata.context": self._context("groups", select) + "/$entity", **self._project(group.as_json(), select)},
        )

    @route("GET", r"/v1.0/groups/(?P<gid>[^/]+)/members(?P<cast>/(?:microsoft\.)?graph\.user)?")
    def list_members(self, incoming: Incoming) -> Reply:
        group = self.groups.get(incoming.params["gid"])
        if group is None:
            return self._not_found(incoming.params["gid"])
        select = self._select(incoming)
        rows = []
        for member_id in group.members:
            obj = self.users.get(member_id) or self.groups.get(member_id)
            if obj is None or (incoming.params["cast"] and not isinstance(obj, GraphUser)):
                continue
            rows.append(self._project(obj.as_json(), select))
        entity_set = "directoryObjects" if not incoming.params["cast"] else "users"
        return self._page(incoming, entity_set, rows, select)

    def _writable(self, group: GraphGroup) -> Reply | None:
        if group.onPremisesSyncEnabled:
            return self.graph_error(
                400,
                "Request_BadRequest",
                "Unable to update the specified properties for on-premises mastered Directory Sync objects "
                "or objects currently undergoing migration.",
            )
        if "DynamicMembership" in group.groupTypes:
            return self.graph_error(400, "Request_BadRequest", "Cannot change the members of a dynamic group.")
        return None

    @route("POST", r"/v1.0/groups/(?P<gid>[^/]+)/members/\$ref")
    def add_member(self, incoming: Incoming) -> Reply:
        group = self.groups.get(incoming.params["gid"])
        if group is None:
            return self._not_found(incoming.params["gid"])
        ref = (incoming.json() or {}).get("@odata.id", "")
        if not ref.startswith(GRAPH_OBJECT_URL):
            return self.graph_error(400, "Request_BadRequest", f"Invalid object identifier '{ref}'.")
        object_id = ref[len(GRAPH_OBJECT_URL) :]
        if object_id not in self.users and object_id not in self.groups:
            return self._not_found(object_id)
        refused = self._writable(group)
        if refused:
            return refused
        if object_id in group.members:
            return self.graph_error(
                400,
                "Request_BadRequest",
                "One or more added object references already exist for the following modified properties: 'members'.",
            )
        group.members.append(object_id)
        return Reply(204, None, content_type=None)

    @route("DELETE", r"/v1.0/groups/(?P<gid>[^/]+)/members/(?P<oid>[^/]+)/\$ref")
    def remove_member(self, incoming: Incoming) -> Reply:
        group = self.groups.get(incoming.params["gid"])
        if group is None:
            return self._not_found(incoming.params["gid"])
        refused = self._writable(group)
        if refused:
            return refused
        object_id = incoming.params["oid"]
        if object_id not in group.members:
            return self._not_found(object_id)
        group.members.remove(object_id)
        return Reply(204, None, content_type=None)

    # -- service principals ----------------------------------------------------------------
    @route("GET", r"/v1.0/servicePrincipals")
    def list_service_principals(self, incoming: Incoming) -> Reply:
        select = self._select(incoming)
        sps = list(self.service_principals.values())
        raw = incoming.arg("$filter")
        if raw:
            match = re.fullmatch(r"tags/any\(t:\s*t eq '([^']*)'\)", raw.strip())
            if match is None:
                return self.graph_error(400, "Request_UnsupportedQuery", f"Unsupported $filter {raw!r}.")
            sps = [sp for sp in sps if match.group(1) in sp.tags]
        return self._page(incoming, "servicePrincipals", [self._project(sp.as_json(), select) for sp in sps], select)

    @route("GET", r"/v1.0/servicePrincipals/(?P<sid>[^/]+)/appRoleAssignedTo")
    def list_assignments(self, incoming: Incoming) -> Reply:
        sp = self.service_principals.get(incoming.params["sid"])
        if sp is None:
            return self._not_found(incoming.params["sid"])
        select = self._select(incoming)
        rows = [self._project(a, select) for a in sp.assignments]
        return self._page(incoming, f"servicePrincipals('{sp.id}')/appRoleAssignedTo", rows, select)
