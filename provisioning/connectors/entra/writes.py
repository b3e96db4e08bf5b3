"""Entra ID membership writes: a batch of them at once on the connector's one event loop.

`POST /groups/{g}/members/$ref` (400 "... already exist" = already a member) and `DELETE
/groups/{g}/members/{u}/$ref` (404 = not a member, once the group is known to exist). The user's
id comes from sync when known, else from one look-up per connector (cached by email).
"""

from __future__ import annotations

import asyncio
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration
from msgraph.generated.models.reference_create import ReferenceCreate

from provisioning.connectors.async_writes import AsyncMembershipWrites
from provisioning.connectors.base import (
    AddResult,
    MemberChange,
    PermanentError,
    RemoveResult,
    UserRef,
)
from provisioning.connectors.entra.transport import classify

DIRECTORY_OBJECT_URL = "https://graph.microsoft.com/v1.0/directoryObjects/"
ALREADY_MEMBER_TEXT = "already exist"


def odata_quote(value: str) -> str:
    """A string literal for an OData $filter (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


class MembershipWrites(AsyncMembershipWrites):
    """Mixed into EntraConnector (it provides `graph`, `_loop`, `_closed`, `_user_ids`)."""

    graph: Any
    _loop: asyncio.AbstractEventLoop
    _closed: bool
    _user_ids: dict[str, str]

    def change_bucket(self, group_id: str) -> str:
        """Membership writes share one bucket (Graph throttles per app and tenant; a 429 closes it)."""
        return "/groups/{id}/members/$ref"

    def _on_loop(self, coroutine: Any) -> Any:
        if self._closed:
            coroutine.close()
            raise PermanentError("This Entra connector was closed.")
        return self._loop.run_until_complete(coroutine)

    async def _graph(self, call: Any, action: str) -> Any:
        try:
            return await call
        except Exception as error:
            raise classify(error, action) from error

    async def _auser_id(self, user: UserRef) -> str:
        if user.external_id:
            return user.external_id
        key = user.email.strip().lower()
        if key not in self._user_ids:
            quoted = odata_quote(key)
            params = self.graph.users.UsersRequestBuilderGetQueryParameters(
                select=["id"], filter=f"mail eq {quoted} or userPrincipalName eq {quoted}", top=2
            )
            config = RequestConfiguration(query_parameters=params)
            page = await self._graph(self.graph.users.get(request_configuration=config), f"looking up {key}")
            found = page.value if page else []
            if not found:
                raise PermanentError(f"No Entra ID user has mail or userPrincipalName {key}.", status=404)
            self._user_ids[key] = found[0].id
        return self._user_ids[key]

    async def _awrite(self, change: MemberChange) -> AddResult | RemoveResult:
        user_id = await self._auser_id(change.user)
        group = self.graph.groups.by_group_id(change.group_id)
        if change.action == MemberChange.ADD:
            body = ReferenceCreate(odata_id=f"{DIRECTORY_OBJECT_URL}{user_id}")
            try:
                await self._graph(
                    group.members.ref.post(body), f"adding {change.user.email} to group {change.group_id}"
                )
            except PermanentError as error:
                # Graph: 400 "One or more added object references already exist ..." = already a member.
                if error.status == 400 and ALREADY_MEMBER_TEXT in error.message:
                    return AddResult.ALREADY_MEMBER
                raise
            return AddResult.ADDED
        ref = group.members.by_directory_object_id(user_id).ref
        try:
            await self._graph(ref.delete(), f"removing {change.user.email} from group {change.group_id}")
        except PermanentError as error:
            if error.status != 404:
                raise
            # The same 404 answers "no such group" and "no such member": ask about the group.
            if not await self._agroup_exists(change.group_id):
                raise PermanentError(f"Entra ID group {change.group_id} does not exist.", status=404) from error
            return RemoveResult.NOT_A_MEMBER
        return RemoveResult.REMOVED

    async def _agroup_exists(self, group_id: str) -> bool:
        builder = self.graph.groups.by_group_id(group_id)
        config = RequestConfiguration(query_parameters=builder.GroupItemRequestBuilderGetQueryParameters(select=["id"]))
        try:
            await self._graph(builder.get(request_configuration=config), f"reading group {group_id}")
        except PermanentError as error:
            if error.status == 404:
                return False
            raise
        return True
