"""A stateful emulator of the Google Workspace Admin SDK Directory API subset Gatehouse uses.

Paths and resources follow the discovery document shipped with google-api-python-client
(`admin.directory_v1.json`): users (list with customer/domain, maxResults ≤ 500, pageToken; get by
id, primary email or alias), groups (list, maxResults ≤ 200; get), members (list ≤ 200, insert,
delete). Errors use Google's JSON shape `{"error": {"code", "message", "errors": [{"message",
"domain", "reason"}]}}`: 409 `duplicate` ("Member already exists."), 404 `notFound`
("Resource Not Found: groupKey" / "memberKey"), 403 `forbidden`, the rate-limit answers 403
`userRateLimitExceeded` / `rateLimitExceeded` / `quotaExceeded` and 429 `rateLimitExceeded`, and
503 `backendError`. `POST /token` plays Google's OAuth token endpoint for a service account with
domain-wide delegation: it reads the signed assertion's claims (`iss`, `sub`, `scope`) and checks
them against `delegations`; the signature itself is not verified.
"""

from __future__ import annotations

import base64
import itertools
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, unquote

from .base import Emulator, Incoming, Reply, route

API = "/admin/directory/v1"
NEVER = "1970-01-01T00:00:00.000Z"  # what Google answers as lastLoginTime for a user who never signed in
_REASONS = {
    400: "invalid",
    401: "authError",
    403: "forbidden",
    404: "notFound",
    409: "duplicate",
    429: "rateLimitExceeded",
    500: "backendError",
    502: "backendError",
    503: "backendError",
}
_RATE_LIMIT_MESSAGES = {
    "userRateLimitExceeded": (
        "Quota exceeded for quota metric 'Queries' and limit 'Queries per minute per user' of service "
        "'admin.googleapis.com' for consumer 'project_number:100000000001'."
    ),
    "rateLimitExceeded": "Rate Limit Exceeded",
    "quotaExceeded": "Quota exceeded for the concurrent requests of this operation.",
}


def google_error(status: int, message: str, reason: str | None = None, headers: dict[str, str] | None = None) -> Reply:
    """Google's JSON error body, as the Directory API sends it."""
    reason = reason or _REASONS.get(status, "backendError")
    body = {
        "error": {
            "code": status,
            "message": message,
            "errors": [{"message": message, "domain": "global", "reason": reason}],
        }
    }
    return Reply(status, body, headers or {})


class GoogleDirectoryEmulator(Emulator):
    """One Workspace customer in memory. Seed it with `add_user`, `add_group`, `add_member`."""

    unfaulted_paths = ("/token",)  # injected faults are the Directory API's; the token endpoint stays well

    def __init__(self, *, domain: str = "example.com", customer_id: str = "C01abc234", require_token: bool = False):
        super().__init__()
        self.domain = domain
        self.customer_id = customer_id
        self.require_token = require_token  # True: API calls need a bearer token from POST /token
        self.users: dict[str, dict[str, Any]] = {}
        self.groups: dict[str, dict[str, Any]] = {}
        self.members: dict[str, dict[str, dict[str, Any]]] = {}  # group id -> member id -> member
        self.read_only_groups: set[str] = set()  # groups whose members the admin may not change
        self.delegations: dict[str, set[str]] = {}  # service account email -> scopes granted in the Admin console
        self.token_claims: list[dict[str, Any]] = []  # the claims of every assertion presented to /token
        self.access_tokens: dict[str, dict[str, Any]] = {}
        self.throttle_reason = "userRateLimitExceeded"  # what an injected throttle answers (403, or 429)
        self.throttle_status = 403
        self.retry_after: str | None = None  # a Retry-After header on injected throttles, when set
        self.page_cap: int | None = None  # serve at most this many items a page, whatever maxResults asks
        self._ids = itertools.count(1)

    # -- seeding ---------------------------------------------------------------------------
    def add_user(
        self,
        email: str,
        given_name: str = "Test",
        family_name: str = "User",
        *,
        aliases: list[str] = (),
        org_unit: str = "/",
        department: str | None = None,
        title: str | None = None,
        manager: str | None = None,
        suspended: bool = False,
        archived: bool = False,
        last_login: str = NEVER,
    ) -> str:
        user_id = str(100000000000000000000 + next(self._ids))
        user: dict[str, Any] = {
            "kind": "admin#directory#user",
            "id": user_id,
            "etag": f'"{secrets.token_hex(8)}"',
            "primaryEmail": email,
            "name": {"givenName": given_name, "familyName": family_name, "fullName": f"{given_name} {family_name}"},
            "isAdmin": False,
            "isDelegatedAdmin": False,
            "lastLoginTime": last_login,
            "creationTime": "2024-01-01T00:00:00.000Z",
            "agreedToTerms": True,
            "suspended": suspended,
            "archived": archived,
            "changePasswordAtNextLogin": False,
            "ipWhitelisted": False,
            "emails": [{"address": email, "primary": True}, *({"address": a} for a in aliases)],
            "customerId": self.customer_id,
            "orgUnitPath": org_unit,
            "isMailboxSetup": True,
            "includeInGlobalAddressList": True,
        }
        if aliases:
            user["aliases"] = list(aliases)
        if department or title:
            organization: dict[str, Any] = {"primary": True, "customType": ""}
            organization.update({k: v for k, v in (("title", title), ("department", department)) if v})
            user["organizations"] = [organization]
        if manager:
            user["relations"] = [{"value": manager, "type": "manager"}]
        self.users[user_id] = user
        return user_id

    def add_group(self, email: str, name: str | None = None, *, description: str = "", read_only: bool = False) -> str:
        group_id = f"03{secrets.token_hex(6)}{next(self._ids):03d}"
        self.groups[group_id] = {
            "kind": "admin#directory#group",
            "id": group_id,
            "etag": f'"{secrets.token_hex(8)}"',
            "email": email,
            "name": name or email.split("@")[0],
            "directMembersCount": "0",
            "description": description,
            "adminCreated": True,
        }
        self.members[group_id] = {}
        if read_only:
            self.read_only_groups.add(group_id)
        return group_id

    def add_member(self, group_id: str, member_id: str, role: str = "MEMBER") -> None:
        """Add a user, or another group (a nested group), by id."""
        target = self.users.get(member_id) or self.groups[member_id]
        kind = "USER" if member_id in self.users else "GROUP"
        email = target.get("primaryEmail") or target["email"]
        self.members[group_id][member_id] = {
            "kind": "admin#directory#member",
            "etag": f'"{secrets.token_hex(8)}"',
            "id": member_id,
            "email": email,
            "role": role,
            "type": kind,
            "status": "ACTIVE",
        }
        self.groups[group_id]["directMembersCount"] = str(len(self.members[group_id]))

    def member_ids(self, group_id: str) -> list[str]:
        with self.lock:
            return list(self.members[group_id])

    # -- errors, auth ----------------------------------------------------------------------
    def error_reply(self, status: int, message: str) -> Reply:
        if message == "injected failure":
            message = "Backend Error" if status >= 500 else "Bad Request"
        return google_error(status, message)

    def throttled_reply(self) -> Reply:
        reason = self.throttle_reason
        headers = {"Retry-After": self.retry_after} if self.retry_after else {}
        return google_error(self.throttle_status, _RATE_LIMIT_MESSAGES[reason], reason, headers)

    def before_request(self, incoming: Incoming) -> Reply | None:
        if not self.require_token or incoming.path == "/token":
            return None
        auth = incoming.headers.get("authorization", "")
        if not auth.startswith("Bearer ") or auth.removeprefix("Bearer ") not in self.access_tokens:
            message = (
                "Request had invalid authentication credentials. Expected OAuth 2 access token, login cookie "
                "or other valid authentication credential."
            )
            return google_error(401, message, "authError")
        return None

    @route("POST", r"/token")
    def token(self, incoming: Incoming) -> Reply:
        """Google's token endpoint for the JWT-bearer grant a service account uses."""
        form = {k: v[0] for k, v in parse_qs(incoming.body.decode()).items()}
        try:
            payload = form["assertion"].split(".")[1]
            claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        except (KeyError, IndexError, ValueError):
            return Reply(400, {"error": "invalid_grant", "error_description": "Invalid JWT."})
        self.token_claims.append(claims)
        granted = self.delegations.get(claims.get("iss", ""))
        scopes = set(claims.get("scope", "").split())
        if form.get("grant_type") != "urn:ietf:params:oauth:grant-type:jwt-bearer" or granted is None:
            return Reply(401, {"error": "invalid_client", "error_description": "The OAuth client was not found."})
        if not claims.get("sub") or not scopes or not scopes <= granted:
            description = (
                "Client is unauthorized to retrieve access tokens using this method, or client not authorized "
                "for any of the scopes requested."
            )
            return Reply(401, {"error": "unauthorized_client", "error_description": description})
        access_token = f"ya29.{secrets.token_urlsafe(24)}"
        self.access_tokens[access_token] = claims
        return Reply(200, {"access_token": access_token, "expires_in": 3599, "token_type": "Bearer"})

    # -- paging ----------------------------------------------------------------------------
    def _page(self, incoming: Incoming, kind: str, key: str, items: list[dict], maximum: int, default: int) -> Reply:
        """One page of `items`: maxResults within [1, maximum], an opaque pageToken/nextPageToken."""
        raw = incoming.arg("maxResults")
        try:
            size = int(raw) if raw is not None else default
        except ValueError:
            return google_error(400, f"Invalid value '{raw}'. Values must be within the range: [1, {maximum}]")
        if not 1 <= size <= maximum:
            return google_error(400, f"Invalid value '{raw}'. Values must be within the range: [1, {maximum}]")
        size = min(size, self.page_cap or size)  # Google may answer fewer items than asked for
        start = 0
        token = incoming.arg("pageToken")
        if token:
            try:
                start = int(base64.urlsafe_b64decode(token.encode()).decode().removeprefix("offset:"))
            except ValueError:
                return google_error(400, "Invalid Input: pageToken", "invalid")
        body: dict[str, Any] = {"kind": kind, "etag": f'"{secrets.token_hex(8)}"'}
        page = items[start : start + size]
        if page:
            body[key] = page
        if start + size < len(items):
            body["nextPageToken"] = base64.urlsafe_b64encode(f"offset:{start + size}".encode()).decode()
        return Reply(200, body)

    def _scope_error(self, incoming: Incoming) -> Reply | None:
        """users.list and groups.list need `customer` or `domain` (one of ours)."""
        customer, domain = incoming.arg("customer"), incoming.arg("domain")
        if not customer and not domain:
            return google_error(400, "Bad Request", "badRequest")
        if customer and customer not in ("my_customer", self.customer_id):
            return google_error(403, "Not Authorized to access this resource/api", "forbidden")
        if domain and domain != self.domain:
            return google_error(403, "Not Authorized to access this resource/api", "forbidden")
        return None

    # -- users -----------------------------------------------------------------------------
    def _find_user(self, key: str) -> dict[str, Any] | None:
        if key in self.users:
            return self.users[key]
        wanted = key.lower()
        for user in self.users.values():
            if user["primaryEmail"].lower() == wanted or wanted in (a.lower() for a in user.get("aliases", [])):
                return user
        return None

    @route("GET", rf"{API}/users")
    def list_users(self, incoming: Incoming) -> Reply:
        refused = self._scope_error(incoming)
        if refused:
            return refused
        users = list(self.users.values())
        return self._page(incoming, "admin#directory#users", "users", users, 500, 100)

    @route("GET", rf"{API}/users/(?P<key>[^/]+)")
    def get_user(self, incoming: Incoming) -> Reply:
        user = self._find_user(unquote(incoming.params["key"]))
        if user is None:
            return google_error(404, "Resource Not Found: userKey")
        return Reply(200, user)

    # -- groups ----------------------------------------------------------------------------
    def _find_group(self, key: str) -> dict[str, Any] | None:
        if key in self.groups:
            return self.groups[key]
        wanted = key.lower()
        return next((g for g in self.groups.values() if g["email"].lower() == wanted), None)

    @route("GET", rf"{API}/groups")
    def list_groups(self, incoming: Incoming) -> Reply:
        refused = self._scope_error(incoming)
        if refused:
            return refused
        groups = list(self.groups.values())
        return self._page(incoming, "admin#directory#groups", "groups", groups, 200, 200)

    @route("GET", rf"{API}/groups/(?P<key>[^/]+)")
    def get_group(self, incoming: Incoming) -> Reply:
        group = self._find_group(unquote(incoming.params["key"]))
        if group is None:
            return google_error(404, "Resource Not Found: groupKey")
        return Reply(200, group)

    # -- members ---------------------------------------------------------------------------
    @route("GET", rf"{API}/groups/(?P<key>[^/]+)/members")
    def list_members(self, incoming: Incoming) -> Reply:
        group = self._find_group(unquote(incoming.params["key"]))
        if group is None:
            return google_error(404, "Resource Not Found: groupKey")
        members = list(self.members[group["id"]].values())
        return self._page(incoming, "admin#directory#members", "members", members, 200, 200)

    @route("POST", rf"{API}/groups/(?P<key>[^/]+)/members")
    def insert_member(self, incoming: Incoming) -> Reply:
        group = self._find_group(unquote(incoming.params["key"]))
        if group is None:
            return google_error(404, "Resource Not Found: groupKey")
        body = incoming.json() or {}
        email = (body.get("email") or "").strip()
        if not email:
            return google_error(400, "Missing required field: memberKey", "required")
        if body.get("role", "MEMBER") not in ("MEMBER", "MANAGER", "OWNER"):
            return google_error(400, "Invalid Input: role")
        if group["id"] in self.read_only_groups:
            return google_error(403, "Not Authorized to access this resource/api", "forbidden")
        target = self._find_user(email) or self._find_group(email)
        if target is None:
            return google_error(404, "Resource Not Found: memberKey")
        if target["id"] in self.members[group["id"]]:
            return google_error(409, "Member already exists.", "duplicate")
        self.add_member(group["id"], target["id"], body.get("role", "MEMBER"))
        return Reply(200, self.members[group["id"]][target["id"]])

    @route("DELETE", rf"{API}/groups/(?P<key>[^/]+)/members/(?P<member>[^/]+)")
    def delete_member(self, incoming: Incoming) -> Reply:
        group = self._find_group(unquote(incoming.params["key"]))
        if group is None:
            return google_error(404, "Resource Not Found: groupKey")
        if group["id"] in self.read_only_groups:
            return google_error(403, "Not Authorized to access this resource/api", "forbidden")
        key = unquote(incoming.params["member"])
        target = self._find_user(key) or self._find_group(key)
        if target is None or target["id"] not in self.members[group["id"]]:
            return google_error(404, "Resource Not Found: memberKey")
        del self.members[group["id"]][target["id"]]
        group["directMembersCount"] = str(len(self.members[group["id"]]))
        return Reply(204, None, content_type=None)
