"""Microsoft Graph delta queries for the Entra connector: what changed since the last sync.

A full sync first runs one round of `GET /users/delta` and `GET /groups/delta` (the properties
the sync reads, plus `manager` and `members`), following `@odata.nextLink` to the final
`@odata.deltaLink`, and keeps only those two links; it then lists everything as usual (the
listing carries last sign-in, which delta does not track). An incremental sync follows each
stored link: changed and new users (a removed one as `@removed`), and the groups whose properties
or members changed (`members@delta`); the sync then reads the members of the mapped ones among
them. The links it ends on are kept for the next run. A link Graph no longer knows (410 Gone,
`syncStateNotFound`; directory tokens last seven days) raises `CursorExpired`: the sync falls back
to a full pass.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Iterator
from datetime import datetime
from typing import Any

from kiota_abstractions.base_request_configuration import RequestConfiguration

from provisioning.connectors.base import DELETED_STATE, DirectoryGroup, DirectoryUser, PermanentError

logger = logging.getLogger(__name__)

USERS, GROUPS = "users", "groups"


def _ref_id(ref: Any) -> str | None:
    value = ref.get("id") if isinstance(ref, dict) else None
    return str(value) if value else None  # the SDK hands GUIDs over as uuid.UUID


def _removed(item: Any) -> bool:
    return "@removed" in (item.additional_data or {})


class DeltaReads:
    """The change listing of EntraConnector (mixed in; it provides `graph`, `_run`, `_as_user`,
    `_as_group` and the field lists)."""

    change_cursor: dict[str, str]
    user_delta_fields: list[str]
    group_delta_fields: list[str]

    def _delta_builder(self, kind: str) -> Any:
        return self.graph.users.delta if kind == USERS else self.graph.groups.delta

    async def _delta_round(self, kind: str, link: str | None, *, keep: bool = True) -> tuple[list[Any], str]:
        """Every item of one round (none unless `keep`) and the delta link it ends on."""
        builder = self._delta_builder(kind)
        if link:
            page = await builder.with_url(link).get()
        else:
            fields = self.user_delta_fields if kind == USERS else self.group_delta_fields
            params = builder.DeltaRequestBuilderGetQueryParameters(select=fields)
            page = await builder.get(request_configuration=RequestConfiguration(query_parameters=params))
        items: list[Any] = []
        while page is not None:
            if keep:
                items.extend(page.value or [])
            if page.odata_next_link:
                page = await builder.with_url(page.odata_next_link).get()
                continue
            if page.odata_delta_link:
                return items, page.odata_delta_link
            break
        raise PermanentError(f"Microsoft Graph ended a {kind} delta round without a delta link.")

    def begin_change_tracking(self) -> dict[str, str]:
        """One round of each delta query, read and dropped, for the links the next run starts from."""

        async def both() -> dict[str, str]:
            (_, users), (_, groups) = await asyncio.gather(
                self._delta_round(USERS, None, keep=False), self._delta_round(GROUPS, None, keep=False)
            )
            return {USERS: users, GROUPS: groups}

        return self._run(both, "starting to track changes (users and groups delta)")

    def _changes(self, kind: str) -> list[Any]:
        link = self.change_cursor.get(kind)
        if not link:
            raise PermanentError(f"No {kind} delta link to resume from; a full sync is needed.")
        items, self.change_cursor[kind] = self._run(
            lambda: self._delta_round(kind, link), f"reading the {kind} changed since the last sync (delta)"
        )
        return items

    def iter_users_changed_since(self, since: datetime) -> Iterator[DirectoryUser]:
        """Users changed since the stored delta link (`since` is not used: the link says when).
        A removed user (deleted, restorable or not) comes as a departure known only by id; a
        manager is known only when the user's entry says it changed (`manager@delta`)."""
        for user in self._changes(USERS):
            if _removed(user):
                yield DirectoryUser(
                    external_id=str(user.id), email="", name="", status="deprovisioned", state=DELETED_STATE
                )
                continue
            refs = (user.additional_data or {}).get("manager@delta")
            listed = self._as_user(user, sign_in=False)
            if refs is None:
                yield dataclasses.replace(listed, manager_known=False)
                continue
            managers = [_ref_id(ref) for ref in refs if isinstance(ref, dict) and "@removed" not in ref]
            yield dataclasses.replace(listed, manager_external_id=next(filter(None, managers), None))

    def iter_groups_changed_since(self, since: datetime) -> Iterator[DirectoryGroup]:
        """Groups whose properties or members changed since the stored delta link; one group may
        come in several entries (its members split over pages). Deleted groups are left to the
        next full pass, which reports the mapped ones as missing."""
        seen: dict[str, DirectoryGroup] = {}
        for group in self._changes(GROUPS):
            if _removed(group):
                logger.info("Entra group %s was deleted; the next full sync reports it if a role maps it", group.id)
                continue
            seen[str(group.id)] = self._as_group(group)
        yield from seen.values()
