"""Microsoft Graph delta queries for the Entra connector: what changed since the last sync.

A full sync first asks `GET /users/delta` and `GET /groups/delta` (the properties the sync reads,
plus `manager` and `members`) for the delta link of the current state (`$deltatoken=latest`:
no objects are sent) and keeps those two links; it then lists everything as usual (the listing
carries last sign-in, which delta does not track). An incremental sync follows each
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
from provisioning.connectors.entra.records import group_from_json, json_pages, user_from_json

logger = logging.getLogger(__name__)

USERS, GROUPS = "users", "groups"


def _removed(item: dict[str, Any]) -> bool:
    return "@removed" in item


class DeltaReads:
    """The change listing of EntraConnector (mixed in; it provides `graph`, `_adapter`, `_run` and
    the field lists). Pages are read as JSON (records.json_pages), not built into SDK models."""

    base_url: str
    change_cursor: dict[str, str]
    user_delta_fields: list[str]
    group_delta_fields: list[str]

    def _delta_builder(self, kind: str) -> Any:
        return self.graph.users.delta if kind == USERS else self.graph.groups.delta

    async def _delta_round(self, kind: str, link: str | None, *, keep: bool = True) -> tuple[list[dict], str]:
        """Every object of one round (none unless `keep`) and the delta link it ends on."""
        builder = self._delta_builder(kind)
        fields = self.user_delta_fields if kind == USERS else self.group_delta_fields
        config = RequestConfiguration(query_parameters=builder.DeltaRequestBuilderGetQueryParameters(select=fields))
        items: list[dict[str, Any]] = []
        async for page in json_pages(self._adapter, builder, config, first_url=link):
            if keep:
                items.extend(page.get("value") or [])
            if page.get("@odata.deltaLink"):
                return items, page["@odata.deltaLink"]
        raise PermanentError(f"Microsoft Graph ended a {kind} delta round without a delta link.")

    def _latest_link(self, kind: str) -> str:
        """The query of a round that starts now: `$deltatoken=latest` ("sync from now", which Graph
        offers for directory objects) answers no objects, only the delta link of the current state.
        The path is the one the SDK requests (`delta()`, the function's call form)."""
        fields = self.user_delta_fields if kind == USERS else self.group_delta_fields
        return f"{self.base_url}/{kind}/delta()?$select={','.join(fields)}&$deltatoken=latest"

    def begin_change_tracking(self) -> dict[str, str]:
        """The delta links the next run starts from, for users and groups (both at once), taken
        from now on without reading every object (the full pass lists them anyway)."""

        async def both() -> dict[str, str]:
            (_, users), (_, groups) = await asyncio.gather(
                self._delta_round(USERS, self._latest_link(USERS), keep=False),
                self._delta_round(GROUPS, self._latest_link(GROUPS), keep=False),
            )
            return {USERS: users, GROUPS: groups}

        return self._run(both, "starting to track changes (users and groups delta)")

    def _changes(self, kind: str) -> list[dict[str, Any]]:
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
        for data in self._changes(USERS):
            if _removed(data):
                yield DirectoryUser(
                    external_id=data["id"], email="", name="", status="deprovisioned", state=DELETED_STATE
                )
                continue
            listed = user_from_json(data, sign_in=False)
            refs = data.get("manager@delta")
            if refs is None:
                yield dataclasses.replace(listed, manager_known=False)
                continue
            managers = [ref.get("id") for ref in refs if isinstance(ref, dict) and "@removed" not in ref]
            yield dataclasses.replace(listed, manager_external_id=next(filter(None, managers), None))

    def iter_groups_changed_since(self, since: datetime) -> Iterator[DirectoryGroup]:
        """Groups whose properties or members changed since the stored delta link; one group may
        come in several entries (its members split over pages). Deleted groups are left to the
        next full pass, which reports the mapped ones as missing."""
        seen: dict[str, DirectoryGroup] = {}
        for data in self._changes(GROUPS):
            if _removed(data):
                logger.info("Entra group %s was deleted; the next full sync reports it if a role maps it", data["id"])
                continue
            seen[data["id"]] = group_from_json(data)
        yield from seen.values()
