"""A stateful emulator of the Okta Management API subset Gatehouse uses (checked against
/work/shared/specs/okta-management.yaml and the okta 3.4.6 SDK).

Endpoints: users (list with search/filter/limit/after — `eq`, and `gt`/`ge`/`lt`/`le` on
timestamps such as `lastUpdated`, joined by `and`/`or`; get by id or login, a user's groups),
groups (list with the same filters, e.g. `lastMembershipUpdated gt "…"`; get), group members
(list, PUT/DELETE -> 204 without a body; both move the group's `lastMembershipUpdated`), apps and
their group assignments. Every response carries `Date` and `X-Rate-Limit-*` headers; lists page with
absolute `Link` URLs, `rel="self"` and (while more remain) `rel="next"` with `?after=…&limit=…`:
as two `Link` headers, self first, like Okta; `link_order` and `link_combined` send them in the
other order or joined in one header (both allowed by RFC 8288). `end_listings_after_pages`
makes every listing stop early (no next link) to play a broken paginator. Errors use Okta's body
shape. An optional per-minute request budget answers 429 (E0000047) once spent, until the next
minute starts: one for the whole org (`requests_per_minute`), or one per endpoint bucket as Okta
counts them (`bucket_limits`, e.g. `{"/api/v1/groups": 600}`; see `okta_bucket`), each request's
`X-Rate-Limit-*` headers then describing its own bucket's window.
"""

from __future__ import annotations

import base64
import itertools
import json
import re
import secrets
import threading
import time
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode

from tests.emulators.base import Emulator, Incoming, Reply, route

_ERRORS = {
    400: ("E0000001", "Api validation failed"),
    401: ("E0000011", "Invalid token provided"),
    403: ("E0000006", "You do not have permission to perform the requested action"),
    404: ("E0000007", "Not found: Resource not found"),
    405: ("E0000022", "The endpoint does not support the provided HTTP method"),
    429: ("E0000047", "API call exceeded rate limit due to too many requests."),
}
_SERVER_ERROR = ("E0000009", "Internal Server Error")


# Okta's management rate-limit table: (methods or None for any, path pattern) -> bucket, first match.
_BUCKETS = (
    (None, r"/api/v1/apps/[^/]+", "/api/v1/apps/{id}"),
    (None, r"/api/v1/apps(/.*)?", "/api/v1/apps"),
    (None, r"/api/v1/groups/[^/]+", "/api/v1/groups/{id}"),
    (None, r"/api/v1/groups(/.*)?", "/api/v1/groups"),
    (("GET", "POST"), r"/api/v1/users", "/api/v1/users"),
    (("GET",), r"/api/v1/users/[^/]+", "GET /api/v1/users/{idOrLogin}"),
    (("POST", "PUT", "DELETE"), r"/api/v1/users/[^/]+", "/api/v1/users/{id}"),
    (None, r"/api/v1/logs", "/api/v1/logs"),
    (None, r"/oauth2/.*", "/oauth2/v1/token"),
)


def okta_bucket(method: str, path: str) -> str:
    """The per-minute bucket Okta counts a request against ("/api/v1" for most others)."""
    for methods, pattern, bucket in _BUCKETS:
        if (methods is None or method in methods) and re.fullmatch(pattern, path):
            return bucket
    return "/api/v1"


def incoming_cursor(incoming: Incoming) -> dict[str, str]:
    """The paging parameters of the request itself, for its rel="self" link."""
    return {k: incoming.query[k][0] for k in ("after", "limit") if k in incoming.query}


def _iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z") if value else None


def _now() -> str:
    """The current time as Okta stamps `lastUpdated` (milliseconds, UTC)."""
    value = datetime.now(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class OktaEmulator(Emulator):
    """Okta org in memory. Seed it with `add_user`, `add_group`, `add_member`, `add_app`."""

    def __init__(
        self,
        token: str = "test-token",
        *,
        requests_per_minute: int | None = None,
        bucket_limits: dict[str, int] | None = None,
        page_cap: int = 200,
    ):
        super().__init__()
        self.token = token
        self.requests_per_minute = requests_per_minute  # None: no budget
        self.bucket_limits = dict(bucket_limits or {})  # bucket -> requests per minute
        self._bucket_windows: dict[str, list[int]] = {}  # bucket -> [window start, requests in it]
        self._request_bucket = threading.local()  # the bucket of the request this thread answers
        self.throttle_reset_seconds = 0  # how far past the current second an injected 429 names its reset
        self.page_cap = page_cap  # the largest page the emulator serves, whatever `limit` asks
        self.link_order: tuple[str, ...] = ("self", "next")  # order of the Link relations on a page
        self.link_combined = False  # True: one Link header, values joined by ", "
        self.end_listings_after_pages: int | None = None  # a listing stops after this many pages
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, None]] = {}  # group id -> ordered set of user ids
        self.apps: dict[str, dict[str, Any]] = {}
        self.app_groups: dict[str, list[str]] = {}
        self.rate_limited = 0  # 429s answered because the budget was spent
        self.oauth_clients: dict[str, set[str]] = {}  # client id -> scopes it may be granted
        self.access_tokens: dict[str, set[str]] = {}  # issued bearer token -> granted scopes
        self._window_start = 0
        self._window_count = 0
        self._ids = itertools.count(1)

    # -- seeding ---------------------------------------------------------------------------
    def _new_id(self, prefix: str) -> str:
        return f"{prefix}{next(self._ids):05d}{secrets.token_hex(6)}"

    def add_user(
        self,
        email: str,
        first_name: str = "Test",
        last_name: str = "User",
        *,
        status: str = "ACTIVE",
        login: str | None = None,
        manager_id: str | None = None,
        manager: str | None = None,
        department: str | None = None,
        title: str | None = None,
        last_login: datetime | None = None,
    ) -> str:
        user_id = self._new_id("00u")
        profile = {"firstName": first_name, "lastName": last_name, "email": email, "login": login or email}
        extras = {"managerId": manager_id, "manager": manager, "department": department, "title": title}
        profile.update({k: v for k, v in extras.items() if v is not None})
        created = _iso(datetime(2024, 1, 1, tzinfo=UTC))
        self.users[user_id] = {
            "id": user_id,
            "status": status,
            "created": created,
            "activated": created,
            "statusChanged": created,
            "lastLogin": _iso(last_login),
            "lastUpdated": _now(),
            "passwordChanged": None,
            "type": {"id": "oty1"},
            "profile": profile,
            "credentials": {"provider": {"type": "OKTA", "name": "OKTA"}},
            "_links": {"self": {"href": f"/api/v1/users/{user_id}"}},
        }
        return user_id

    def add_group(self, name: str, *, type: str = "OKTA_GROUP", description: str = "") -> str:
        group_id = self._new_id("00g")
        stamp = _iso(datetime(2024, 1, 1, tzinfo=UTC))
        self.groups[group_id] = {
            "id": group_id,
            "created": stamp,
            "lastUpdated": _now(),
            "lastMembershipUpdated": _now(),
            "objectClass": ["okta:user_group"] if type == "OKTA_GROUP" else ["okta:windows_security_principal"],
            "type": type,
            "profile": {"name": name, "description": description},
            "_links": {},
        }
        self.members[group_id] = {}
        return group_id

    def add_member(self, group_id: str, user_id: str) -> None:
        self.members[group_id][user_id] = None
        self.groups[group_id]["lastMembershipUpdated"] = _now()

    def remove_member(self, group_id: str, user_id: str) -> None:
        self.members[group_id].pop(user_id, None)
        self.groups[group_id]["lastMembershipUpdated"] = _now()

    def update_user(self, user_id: str, *, status: str | None = None, **profile: Any) -> None:
        """Change a user as an admin would (status and/or profile attributes): `lastUpdated` moves."""
        user = self.users[user_id]
        if status is not None and status != user["status"]:
            user["status"], user["statusChanged"] = status, _now()
        user["profile"].update(profile)
        user["lastUpdated"] = _now()

    def settle(self, stamp: str = "2024-06-01T08:00:00.000Z") -> None:
        """Date every user and group as last changed at `stamp`: an org set up long before the
        sync under test (so nothing falls within an incremental run's overlap)."""
        with self.lock:
            for user in self.users.values():
                user["lastUpdated"] = stamp
            for group in self.groups.values():
                group["lastUpdated"] = group["lastMembershipUpdated"] = stamp

    def rename_group(self, group_id: str, name: str) -> None:
        self.groups[group_id]["profile"]["name"] = name
        self.groups[group_id]["lastUpdated"] = _now()

    def add_app(self, label: str, group_ids: list[str] = ()) -> str:
        app_id = self._new_id("0oa")
        self.apps[app_id] = {
            "id": app_id,
            "name": "bookmark",
            "label": label,
            "status": "ACTIVE",
            "signOnMode": "BOOKMARK",
            "created": _iso(datetime(2024, 1, 1, tzinfo=UTC)),
            "settings": {"app": {"url": "https://example.com/", "requestIntegration": False}},
            "_links": {},
        }
        self.app_groups[app_id] = list(group_ids)
        return app_id

    def member_ids(self, group_id: str) -> list[str]:
        with self.lock:
            return list(self.members[group_id])

    # -- headers, errors, auth, budget -----------------------------------------------------
    def _rate_headers(self, reset: int | None = None) -> dict[str, str]:
        now = time.time()
        bucket = getattr(self._request_bucket, "name", None)
        if bucket in self.bucket_limits:
            limit = self.bucket_limits[bucket]
            start, count = self._bucket_windows.get(bucket, [int(now) // 60 * 60, 0])
            remaining, reset = max(limit - count, 0), reset or start + 60
        elif self.requests_per_minute is None:
            limit, remaining = 600, 599
            reset = reset or int(now) + 60
        else:
            limit = self.requests_per_minute
            remaining = max(limit - self._window_count, 0)
            reset = reset or self._window_start + 60
        return {
            "X-Rate-Limit-Limit": str(limit),
            "X-Rate-Limit-Remaining": str(remaining),
            "X-Rate-Limit-Reset": str(reset),
        }

    def _spend_bucket(self, bucket: str) -> bool:
        """Count a request against its bucket's calendar minute; False when that is spent."""
        window = int(time.time()) // 60 * 60
        spent = self._bucket_windows.setdefault(bucket, [window, 0])
        if spent[0] != window:
            spent[:] = [window, 0]
        spent[1] += 1
        return spent[1] <= self.bucket_limits[bucket]

    def okta_error(
        self, status: int, summary: str | None = None, causes: list[str] = (), reset: int | None = None
    ) -> Reply:
        code, default_summary = _ERRORS.get(status, _SERVER_ERROR)
        body = {
            "errorCode": code,
            "errorSummary": summary or default_summary,
            "errorLink": code,
            "errorId": f"oae{secrets.token_hex(8)}",
            "errorCauses": [{"errorSummary": c} for c in causes],
        }
        return Reply(status, body, self._rate_headers(reset))

    def error_reply(self, status: int, message: str) -> Reply:
        summary = None if message == "injected failure" else message
        return self.okta_error(status, summary)

    def throttled_reply(self) -> Reply:
        return self.okta_error(429, reset=int(time.time()) + self.throttle_reset_seconds)

    def before_request(self, incoming: Incoming) -> Reply | None:
        with self.lock:
            auth = incoming.headers.get("authorization", "")
            if incoming.path == "/oauth2/v1/token":
                return None  # the client authenticates with its signed assertion
            bearer = auth.removeprefix("Bearer ") if auth.startswith("Bearer ") else None
            if auth not in (f"SSWS {self.token}", f"SSWS{self.token}") and bearer not in self.access_tokens:
                return self.okta_error(401)
            bucket = okta_bucket(incoming.method, incoming.path)
            self._request_bucket.name = bucket
            if bucket in self.bucket_limits and not self._spend_bucket(bucket):
                self.rate_limited += 1
                return self.okta_error(429)
            if self.requests_per_minute is None:
                return None
            window = int(time.time()) // 60 * 60
            if window != self._window_start:
                self._window_start, self._window_count = window, 0
            self._window_count += 1
            if self._window_count > self.requests_per_minute:
                self.rate_limited += 1
                return self.okta_error(429)
        return None

    def ok(self, body: Any = None, status: int = 200, headers: dict[str, str] | None = None) -> Reply:
        all_headers = {**self._rate_headers(), **(headers or {})}
        if body is None:
            return Reply(204, None, all_headers, content_type=None)
        return Reply(status, body, all_headers)

    # -- paging ----------------------------------------------------------------------------
    def _page(self, incoming: Incoming, items: list[dict[str, Any]], default_limit: int) -> Reply:
        """Cursor paging: `after` is the id of the last item already served."""
        try:
            limit = int(incoming.arg("limit") or default_limit)
        except ValueError:
            return self.okta_error(400, "Api validation failed: limit", ["limit must be an integer"])
        limit = max(1, min(limit, self.page_cap))
        after = incoming.arg("after")
        start = 0
        if after:
            ids = [item["id"] for item in items]
            start = ids.index(after) + 1 if after in ids else len(items)
        page = items[start : start + limit]
        query = {k: v[0] for k, v in incoming.query.items() if k not in ("after", "limit")}
        here = urlencode({**query, **incoming_cursor(incoming)})
        links = {"self": f'<{self.base_url}{incoming.path}?{here}>; rel="self"'}
        page_number = start // limit + 1
        cut = self.end_listings_after_pages is not None and page_number >= self.end_listings_after_pages
        if start + limit < len(items) and not cut:
            query.update(after=page[-1]["id"], limit=str(limit))
            links["next"] = f'<{self.base_url}{incoming.path}?{urlencode(query)}>; rel="next"'
        values = [links[rel] for rel in self.link_order if rel in links]
        return self.ok(page, headers={"Link": ", ".join(values) if self.link_combined else values})

    # -- OAuth 2.0 (private-key JWT client credentials) ----------------------------------------
    @route("POST", r"/oauth2/v1/token")
    def token(self, incoming: Incoming) -> Reply:
        """Issue a bearer token. The assertion's signature is not verified: its claims are."""
        form = {k: v[0] for k, v in parse_qs(incoming.body.decode()).items()}
        assertion = form.get("client_assertion", "")
        try:
            payload = assertion.split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (IndexError, ValueError):
            return Reply(400, {"error": "invalid_client", "error_description": "Malformed client assertion."})
        client_id = claims.get("sub")
        scopes = set(form.get("scope", "").split())
        if form.get("grant_type") != "client_credentials" or client_id not in self.oauth_clients:
            return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed."})
        if not scopes or not scopes <= self.oauth_clients[client_id]:
            return Reply(400, {"error": "invalid_scope", "error_description": "The requested scope is invalid."})
        access_token = secrets.token_urlsafe(24)
        self.access_tokens[access_token] = scopes
        body = {"token_type": "Bearer", "expires_in": 3600, "access_token": access_token, "scope": " ".join(scopes)}
        return Reply(200, body, self._rate_headers())

    # -- users -----------------------------------------------------------------------------
    @staticmethod
    def _matches(item: dict[str, Any], expression: str) -> bool:
        """The subset of Okta's search/filter language we use: clauses `a op "x"` (op `eq`, or
        `gt`/`ge`/`lt`/`le` for timestamps, compared as Okta's fixed-width UTC strings) joined by
        `and` / `or` without parentheses (`and` binds tighter)."""
        return any(
            all(OktaEmulator._clause(item, clause) for clause in re.split(r"\s+and\s+", alternative))
            for alternative in re.split(r"\s+or\s+", expression.strip())
        )

    @staticmethod
    def _clause(item: dict[str, Any], clause: str) -> bool:
        match = re.fullmatch(r'\s*([\w.]+)\s+(eq|gt|ge|lt|le)\s+"([^"]*)"\s*', clause)
        if not match:
            return False
        attribute, operator, value = match.groups()
        target: Any = item
        for part in attribute.split("."):
            target = target.get(part) if isinstance(target, dict) else None
        if not isinstance(target, str):
            return False
        if operator == "eq":
            return target.lower() == value.lower()
        return {"gt": target > value, "ge": target >= value, "lt": target < value, "le": target <= value}[operator]

    @route("GET", r"/api/v1/users")
    def list_users(self, incoming: Incoming) -> Reply:
        expression = incoming.arg("search") or incoming.arg("filter")
        users = list(self.users.values())
        if expression:
            users = [u for u in users if self._matches(u, expression)]
        else:  # like Okta: a plain list omits deprovisioned users
            users = [u for u in users if u["status"] != "DEPROVISIONED"]
        return self._page(incoming, users, 200)

    def _find_user(self, id_or_login: str) -> dict[str, Any] | None:
        if id_or_login in self.users:
            return self.users[id_or_login]
        wanted = id_or_login.lower()
        return next((u for u in self.users.values() if u["profile"]["login"].lower() == wanted), None)

    @route("GET", r"/api/v1/users/(?P<uid>[^/]+)")
    def get_user(self, incoming: Incoming) -> Reply:
        user = self._find_user(incoming.params["uid"])
        if user is None:
            return self.okta_error(404, f"Not found: Resource not found: {incoming.params['uid']} (User)")
        return self.ok(user)

    @route("GET", r"/api/v1/users/(?P<uid>[^/]+)/groups")
    def list_user_groups(self, incoming: Incoming) -> Reply:
        user = self._find_user(incoming.params["uid"])
        if user is None:
            return self.okta_error(404, f"Not found: Resource not found: {incoming.params['uid']} (User)")
        return self.ok([g for gid, g in self.groups.items() if user["id"] in self.members[gid]])

    # -- groups ----------------------------------------------------------------------------
    @route("GET", r"/api/v1/groups")
    def list_groups(self, incoming: Incoming) -> Reply:
        groups = list(self.groups.values())
        expression = incoming.arg("search") or incoming.arg("filter")
        if expression:
            groups = [g for g in groups if self._matches(g, expression)]
        return self._page(incoming, groups, 10000)

    def _group_or_404(self, group_id: str) -> dict[str, Any] | Reply:
        group = self.groups.get(group_id)
        return group if group else self.okta_error(404, f"Not found: Resource not found: {group_id} (UserGroup)")

    @route("GET", r"/api/v1/groups/(?P<gid>[^/]+)")
    def get_group(self, incoming: Incoming) -> Reply:
        group = self._group_or_404(incoming.params["gid"])
        return group if isinstance(group, Reply) else self.ok(group)

    @route("GET", r"/api/v1/groups/(?P<gid>[^/]+)/users")
    def list_group_users(self, incoming: Incoming) -> Reply:
        group = self._group_or_404(incoming.params["gid"])
        if isinstance(group, Reply):
            return group
        return self._page(incoming, [self.users[uid] for uid in self.members[group["id"]]], 1000)

    def _membership_target(self, incoming: Incoming) -> tuple[str, str] | Reply:
        group = self._group_or_404(incoming.params["gid"])
        if isinstance(group, Reply):
            return group
        user_id = incoming.params["uid"]
        if user_id not in self.users:
            return self.okta_error(404, f"Not found: Resource not found: {user_id} (User)")
        if group["type"] != "OKTA_GROUP":
            # Okta answers app-imported and built-in groups with a plain 403, even for super admins.
            return self.okta_error(403)
        return group["id"], user_id

    @route("PUT", r"/api/v1/groups/(?P<gid>[^/]+)/users/(?P<uid>[^/]+)")
    def assign_user(self, incoming: Incoming) -> Reply:
        target = self._membership_target(incoming)
        if isinstance(target, Reply):
            return target
        group_id, user_id = target
        if user_id not in self.members[group_id]:
            self.add_member(group_id, user_id)
        return self.ok()

    @route("DELETE", r"/api/v1/groups/(?P<gid>[^/]+)/users/(?P<uid>[^/]+)")
    def unassign_user(self, incoming: Incoming) -> Reply:
        target = self._membership_target(incoming)
        if isinstance(target, Reply):
            return target
        group_id, user_id = target
        if user_id in self.members[group_id]:
            self.remove_member(group_id, user_id)
        return self.ok()

    # -- apps ------------------------------------------------------------------------------
    @route("GET", r"/api/v1/apps")
    def list_apps(self, incoming: Incoming) -> Reply:
        return self._page(incoming, list(self.apps.values()), 200)

    @route("GET", r"/api/v1/apps/(?P<aid>[^/]+)/groups")
    def list_app_groups(self, incoming: Incoming) -> Reply:
        app_id = incoming.params["aid"]
        if app_id not in self.apps:
            return self.okta_error(404, f"Not found: Resource not found: {app_id} (AppInstance)")
        assignments = [
            {"id": gid, "priority": n, "lastUpdated": self.apps[app_id]["created"], "profile": {}, "_links": {}}
            for n, gid in enumerate(self.app_groups[app_id])
        ]
        return self._page(incoming, assignments, 200)
