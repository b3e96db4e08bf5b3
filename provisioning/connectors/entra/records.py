"""Graph users and groups as the sync reads them, taken from the JSON of each page.

Listings go through the SDK's request builders, adapter and middleware (auth, retries, timeouts)
but answer bytes (`send_primitive_async(..., "bytes", ...)`), read here with `json`: building the
SDK's models costs about 15 ms of CPU per object (its field tables are rebuilt for every one),
which for 20,000 users is most of a sync. Error answers still raise the SDK's `ODataError`.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.o_data_errors.o_data_error import ODataError

from provisioning.connectors.base import DirectoryGroup, DirectoryUser


async def json_pages(
    adapter: Any, builder: Any, config: RequestConfiguration | None = None, *, first_url: str | None = None
) -> AsyncIterator[dict[str, Any]]:
    """Each page (the whole JSON body) of a collection, following @odata.nextLink; the last page
    is the one without it (a delta round's last page carries @odata.deltaLink instead)."""
    if first_url:
        request = builder.with_url(first_url).to_get_request_information()
    else:
        request = builder.to_get_request_information(config)
    while True:
        raw = await adapter.send_primitive_async(request, "bytes", {"XXX": ODataError})
        page = json.loads(raw or b"{}")
        yield page
        next_link = page.get("@odata.nextLink")
        if not next_link:
            return
        request = builder.with_url(next_link).to_get_request_information()


def graph_time(value: str | None) -> datetime | None:
    if not value:
        return None
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def user_from_json(data: dict[str, Any], *, sign_in: bool) -> DirectoryUser:
    """A listed user; only an explicit accountEnabled=false suspends (a missing value is not a departure)."""
    manager = data.get("manager") or {}
    manager_email = manager.get("mail") or manager.get("userPrincipalName")
    disabled = data.get("accountEnabled") is False
    activity = data.get("signInActivity") or {}
    return DirectoryUser(
        external_id=data["id"],
        email=(data.get("mail") or data.get("userPrincipalName") or "").lower(),
        name=data.get("displayName") or "",
        status="suspended" if disabled else "active",
        state="accountEnabled=false" if disabled else "accountEnabled=true",
        manager_email=manager_email.lower() if manager_email else None,
        manager_external_id=manager.get("id"),
        department=data.get("department") or "",
        title=data.get("jobTitle") or "",
        last_login=graph_time(activity.get("lastSignInDateTime")) if sign_in else None,
        last_login_known=sign_in,
    )


def group_from_json(data: dict[str, Any]) -> DirectoryGroup:
    reason = not_writable_reason(
        SimpleNamespace(
            group_types=data.get("groupTypes") or [],
            membership_rule=data.get("membershipRule"),
            on_premises_sync_enabled=data.get("onPremisesSyncEnabled"),
            security_enabled=data.get("securityEnabled"),
            mail_enabled=data.get("mailEnabled"),
        )
    )
    return DirectoryGroup(
        external_id=data["id"],
        name=data.get("displayName") or data["id"],
        description=data.get("description") or "",
        writable=not reason,
        not_writable_reason=reason,
    )


def not_writable_reason(group: Any) -> str:
    """Why Graph will not change the group's members ("" when it will). Graph changes members only
    of cloud security groups and Microsoft 365 groups: not of dynamic groups, groups synced from
    on-premises AD, mail-enabled security groups or distribution lists."""
    types = group.group_types or []
    if "DynamicMembership" in types:
        rule = f" ({group.membership_rule})" if group.membership_rule else ""
        return f"Entra dynamic group: its members follow its membership rule{rule}, not direct changes."
    if group.on_premises_sync_enabled:
        return "Entra group synced from on-premises Active Directory (onPremisesSyncEnabled): change it in AD."
    if "Unified" in types or (bool(group.security_enabled) and not group.mail_enabled):
        return ""
    return "Entra mail-enabled security group or distribution list: its members are managed in Exchange."
