"""Okta's rate-limit buckets: which per-minute limit a request counts against.

From Okta's management rate limits table: apps (`/api/v1/apps*`, and `/api/v1/apps/{id}` on its
own), groups (`/api/v1/groups*` except `/api/v1/groups/{id}`, so membership writes
`/api/v1/groups/{id}/users/{userId}` count here), a group by id, listing or creating users, a
user by id (GET apart from POST/PUT/DELETE), the System Log, and `/api/v1` for most others.
"""

from __future__ import annotations

from urllib.parse import urlsplit

MEMBERSHIP_WRITES = "/api/v1/groups"


def bucket_of(method: str, url: str) -> str:
    """The bucket of one request, named by Okta's endpoint pattern."""
    path = urlsplit(url).path.rstrip("/")
    if path.startswith("/oauth2/"):
        return "/oauth2/v1/token"
    parts = path.split("/")[1:]
    if parts[:2] != ["api", "v1"] or len(parts) < 3:
        return "/api/v1"
    kind, rest = parts[2], parts[3:]
    if kind in ("apps", "groups"):
        return f"/api/v1/{kind}/{{id}}" if len(rest) == 1 else f"/api/v1/{kind}"
    if kind == "users":
        if not rest:
            return "/api/v1/users"
        if len(rest) == 1:
            return "GET /api/v1/users/{idOrLogin}" if method.upper() == "GET" else "/api/v1/users/{id}"
        return "/api/v1"
    if kind in ("logs", "events"):
        return f"/api/v1/{kind}"
    return "/api/v1"
