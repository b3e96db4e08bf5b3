"""Okta users and groups (SDK models) as the connector interface's directory records."""

from __future__ import annotations

from typing import Any

from provisioning.connectors.base import DirectoryGroup, DirectoryUser
from provisioning.connectors.okta.sdk import WRITABLE_GROUP_TYPE, aware, model_value, not_writable_reason

_STATUS = {"SUSPENDED": "suspended", "DEPROVISIONED": "deprovisioned"}  # everything else: "active"


def email_of(user: Any) -> str:
    return (model_value(user.profile, "email") or model_value(user.profile, "login") or "").lower()


def as_user(user: Any, emails: dict[str, str]) -> DirectoryUser:
    """`profile.managerId` names the manager (its email looked up in `emails`, by id);
    `profile.manager` is a display name (an email in some orgs), passed on for the sync to match
    only when it is unambiguous."""
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
        email=email_of(user),
        name=name or email_of(user),
        status=_STATUS.get(status, "active"),
        manager_email=manager_email,
        manager_external_id=manager_id,
        manager_name=manager_text if manager_text and "@" not in manager_text else None,
        department=model_value(profile, "department") or "",
        title=model_value(profile, "title") or "",
        last_login=aware(user.last_login),
        state=status,
    )


def as_group(group: Any) -> DirectoryGroup:
    group_type = group.type.value if hasattr(group.type, "value") else str(group.type or "")
    return DirectoryGroup(
        external_id=group.id,
        name=model_value(group.profile, "name") or group.id,
        description=model_value(group.profile, "description") or "",
        writable=group_type == WRITABLE_GROUP_TYPE,
        not_writable_reason=not_writable_reason(group_type),
    )
