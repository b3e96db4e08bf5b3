"""What an API token may do: one scope per kind of call, and the people it may speak for."""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    """A token carries a set of these; every `/api/v1/` view declares the one it needs."""

    REQUESTS_SUBMIT = "requests:submit"
    REQUESTS_READ = "requests:read"
    REQUESTS_DECIDE = "requests:decide"
    GRANTS_READ = "grants:read"
    GRANTS_REVOKE = "grants:revoke"
    GRANTS_EXTEND = "grants:extend"
    PEOPLE_READ = "people:read"
    LIFECYCLE_OFFBOARD = "lifecycle:offboard"
    AUDIT_READ = "audit:read"
    DRIFT_READ = "drift:read"
    METRICS_READ = "metrics:read"
    ACTIVITY_WRITE = "activity:write"


DESCRIPTIONS: dict[str, str] = {
    Scope.REQUESTS_SUBMIT: "submit access requests (as `requester`) and cancel them (as `by`)",
    Scope.REQUESTS_READ: "read access requests and the requestable catalog",
    Scope.REQUESTS_DECIDE: "approve or deny a step, and review emergency access (as `approver`)",
    Scope.GRANTS_READ: "read a grant",
    Scope.GRANTS_REVOKE: "revoke a grant (as `by`)",
    Scope.GRANTS_EXTEND: "extend a grant or ask for an extension (as `by`)",
    Scope.PEOPLE_READ: "read a person with their access",
    Scope.LIFECYCLE_OFFBOARD: "offboard a leaver",
    Scope.AUDIT_READ: "read the audit trail (trace)",
    Scope.DRIFT_READ: "read drift findings",
    Scope.METRICS_READ: "read the dashboard metrics",
    Scope.ACTIVITY_WRITE: "report application activity (last sign-ins)",
}

ALL_SCOPES: tuple[str, ...] = tuple(scope.value for scope in Scope)


def parse_scopes(values: list[str] | str) -> list[str]:
    """Scope names from a comma-separated string or a list (`all`: every scope); ValueError naming
    any unknown one."""
    if isinstance(values, str):
        values = list(ALL_SCOPES) if values.strip() == "all" else values.split(",")
    chosen = [value.strip() for value in values if value and value.strip()]
    unknown = [value for value in chosen if value not in ALL_SCOPES]
    if unknown:
        raise ValueError(f"Unknown scope {', '.join(unknown)}; the scopes are: {', '.join(ALL_SCOPES)}.")
    return [scope for scope in ALL_SCOPES if scope in chosen]


def parse_actors(values: list[str] | str) -> list[str]:
    """Emails (`ann@example.com`) or whole domains (`@example.com`), lower-cased; ValueError if malformed."""
    if isinstance(values, str):
        values = values.replace(",", " ").split()
    actors = []
    for value in values:
        actor = value.strip().lower()
        local, at, domain = actor.rpartition("@")
        if not at or not domain or "." not in domain or " " in actor or (local and "@" in local):
            raise ValueError(f"{value!r} is neither an email nor a domain such as @example.com.")
        actors.append(actor)
    return sorted(set(actors))


def actor_allowed(allowed: list[str], email: str) -> bool:
    """Whether `email` is one of `allowed` (emails or `@domain`); an empty list allows everyone."""
    if not allowed:
        return True
    email = (email or "").strip().lower()
    domain = "@" + email.rpartition("@")[2]
    return email in allowed or domain in allowed
