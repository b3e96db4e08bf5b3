"""Okta users and groups, as the JSON of the Management API, made into the connector interface's
directory records.

Listings are read as JSON through the SDK's request executor rather than built into the SDK's
pydantic models: those cost about a millisecond of CPU per user, most of a 20,000-user sync.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from provisioning.connectors.base import DirectoryGroup, DirectoryUser
from provisioning.connectors.okta.sdk import WRITABLE_GROUP_TYPE, not_writable_reason

_STATUS = {"SUSPENDED": "suspended", "DEPROVISIONED": "deprovisioned"}  # everything else: "active"


def _text(value: Any) -> str:
    """A profile attribute as text ("" when absent or null)."""
    return value if isinstance(value, str) else "" if value is None else str(value)


def email_of(user: dict[str, Any]) -> str:
    profile = user.get("profile") or {}
    return (_text(profile.get("email")) or _text(profile.get("login"))).lower()


def okta_timestamp(value: Any) -> datetime | None:
    """An Okta timestamp (`2026-03-04T05:06:07.000Z`) as an aware datetime; None when null."""
    if not value:
        return None
    moment = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def as_user(user: dict[str, Any], emails: dict[str, str]) -> DirectoryUser:
    """`profile.managerId` names the manager (its email looked up in `emails`, by id);
    `profile.manager` is a display name (an email in some orgs), passed on for the sync to match
    only when it is unambiguous."""
    profile = user.get("profile") or {}
    email = email_of(user)
    name = " ".join(p for p in (_text(profile.get("firstName")), _text(profile.get("lastName"))) if p)
    manager_id = _text(profile.get("managerId")) or None
    manager_text = _text(profile.get("manager")).strip()
    manager_email = emails.get(manager_id) if manager_id else None
    if manager_email is None and "@" in manager_text:
        manager_email = manager_text.lower()
    status = _text(user.get("status"))
    return DirectoryUser(
        external_id=user["id"],
        email=email,
        name=name or email,
        status=_STATUS.get(status, "active"),
        manager_email=manager_email,
        manager_external_id=manager_id,
        manager_name=manager_text if manager_text and "@" not in manager_text else None,
        department=_text(profile.get("department")),
        title=_text(profile.get("title")),
        last_login=okta_timestamp(user.get("lastLogin")),
        state=status,
    )


def as_group(group: dict[str, Any]) -> DirectoryGroup:
    group_type = _text(group.get("type"))
    profile = group.get("profile") or {}
    return DirectoryGroup(
        external_id=group["id"],
        name=_text(profile.get("name")) or group["id"],
        description=_text(profile.get("description")),
        writable=group_type == WRITABLE_GROUP_TYPE,
        not_writable_reason=not_writable_reason(group_type),
    )
