"""Microsoft Graph delta queries for the Graph emulator: `/users/delta` and `/groups/delta`.

As Graph documents them (delta-query-overview, delta-query-groups, user: delta, group: delta):
a round is one or more GETs; every page but the last carries `@odata.nextLink` (a `$skiptoken`),
the last `@odata.deltaLink` (a `$deltatoken`), and the query (`$select`) is encoded in the
tokens. The first round lists every object; a round from a delta link lists what changed since:
changed and new objects with all their selected properties (the default, not `Prefer:
return=minimal`), removed ones as `{"id", "@removed": {"reason": "changed"}}`. Relationships are
annotations: `members@delta` (groups, with `$select=members`) lists every member in a first
round and, later, members added (`{"@odata.type", "id"}`) and removed (with `@removed`); a large
group's members are split over several entries of the same group, as Graph does. `manager@delta`
(users, with `$select=manager`) is sent in a first round and when the manager changed. Pages hold
about 200 objects and `$top` is ignored (Graph's users/delta serves 200 a page whatever `$top`).
A delta token is a snapshot of the tracked state; `expire_delta_tokens()` forgets them, and a
round from a forgotten token answers 410 `syncStateNotFound`, as an expired one does at Graph.
An unchanged round hands out the same delta link again. `$deltatoken=latest` ("sync from now",
which Graph offers for directory objects) answers no objects, only a delta link to the current
state.
"""

from __future__ import annotations

import base64
import itertools
import json
from dataclasses import dataclass, field
from typing import Any

from tests.emulators.base import Incoming, Reply, route

DELTA_PAGE = 200  # objects per page (a group entry counts itself and the members it carries)
RELATIONS = {"users": "manager", "groups": "members"}
LATEST = "latest"  # the $deltatoken that asks for a delta link to the current state


@dataclass
class _Round:
    kind: str
    select: list[str] | None
    entries: list[dict[str, Any]]
    token: str  # the delta token the last page hands out


@dataclass
class DeltaState:
    snapshots: dict[str, tuple[str, list[str] | None, dict[str, Any]]] = field(default_factory=dict)
    rounds: dict[str, _Round] = field(default_factory=dict)
    ids: itertools.count = field(default_factory=lambda: itertools.count(1))


def _opaque(value: str) -> str:
    return base64.urlsafe_b64encode(value.encode()).decode().rstrip("=")


class GraphDelta:
    """Mixed into GraphEmulator (which sets `self.delta = DeltaState()` and holds users and groups)."""

    delta: DeltaState

    def expire_delta_tokens(self) -> None:
        """Every delta link handed out so far stops working (Graph keeps directory tokens 7 days)."""
        with self.lock:
            self.delta.snapshots.clear()
            self.delta.rounds.clear()

    # -- what is tracked ----------------------------------------------------------------------
    def _tracked(self, kind: str, select: list[str] | None) -> dict[str, Any]:
        """object id -> (selected properties as JSON text, the relation's ids) for every object."""
        relation = RELATIONS[kind]
        fields = [f for f in select or [] if f != relation] or None
        state = {}
        for obj in (self.users if kind == "users" else self.groups).values():
            props = json.dumps(self._delta_props(kind, obj, fields), sort_keys=True)
            if kind == "users":
                related = (obj.manager_id,) if obj.manager_id and obj.manager_id in self.users else ()
            else:
                related = tuple(m for m in obj.members if m in self.users or m in self.groups)
            state[obj.id] = (props, related if select is None or relation in select else ())
        return state

    def _delta_props(self, kind: str, obj: Any, fields: list[str] | None) -> dict[str, Any]:
        data = obj.as_json()
        if kind == "users":
            data.pop("signInActivity", None)  # not tracked by delta
        return self._project(data, fields)

    # -- rounds -------------------------------------------------------------------------------
    def _entries(self, kind: str, select: list[str] | None, before: dict | None, now: dict) -> list[dict]:
        relation = RELATIONS[kind]
        entries: list[dict[str, Any]] = []
        for object_id, (props, related) in now.items():
            old = before.get(object_id) if before is not None else None
            if old == (props, related):
                continue
            entry = json.loads(props)
            entry["id"] = object_id
            old_related = old[1] if old else ()
            added = [r for r in related if r not in old_related]
            removed = [r for r in old_related if r not in related]
            refs = [self._reference(r) for r in added] + [self._reference(r, removed=True) for r in removed]
            if kind == "users":
                if refs:
                    entry[f"{relation}@delta"] = refs
                entries.append(entry)
                continue
            chunks = [refs[start : start + DELTA_PAGE - 1] for start in range(0, len(refs), DELTA_PAGE - 1)]
            for chunk in chunks or [[]]:
                entries.append({**entry, f"{relation}@delta": chunk} if chunk else dict(entry))
        for object_id in (before or {}).keys() - now.keys():
            entries.append({"id": object_id, "@removed": {"reason": "changed"}})
        return entries

    def _reference(self, object_id: str, removed: bool = False) -> dict[str, Any]:
        kind = "group" if object_id in self.groups else "user"  # a deleted object is taken for a user
        ref: dict[str, Any] = {"@odata.type": f"#microsoft.graph.{kind}", "id": object_id}
        if removed:
            ref["@removed"] = {"reason": "deleted"}
        return ref

    def _start_round(self, kind: str, select: list[str] | None, token: str | None) -> _Round | Reply:
        before = None
        if token == LATEST:  # sync from now: no objects, a delta link to the current state
            now = self._tracked(kind, select)
            new_token = _opaque(f"{kind}:{next(self.delta.ids)}")
            self.delta.snapshots[new_token] = (kind, select, now)
            return _Round(kind=kind, select=select, entries=[], token=new_token)
        if token is not None:
            known = self.delta.snapshots.get(token)
            if known is None or known[0] != kind:
                return self.graph_error(
                    410,
                    "syncStateNotFound",
                    "The delta token is no longer valid (it expired or the state was reset); start a full sync.",
                )
            _, select, before = known
        now = self._tracked(kind, select)
        entries = self._entries(kind, select, before, now)
        if token is not None and not entries:
            new_token = token  # nothing changed: the same delta link again
        else:
            new_token = _opaque(f"{kind}:{next(self.delta.ids)}")
            self.delta.snapshots[new_token] = (kind, select, now)
        return _Round(kind=kind, select=select, entries=entries, token=new_token)

    def _delta_page(self, kind: str, round_id: str, offset: int) -> Reply:
        current = self.delta.rounds[round_id]
        page, size = [], 0
        while offset < len(current.entries) and (not page or size < DELTA_PAGE):
            entry = current.entries[offset]
            page.append(entry)
            size += 1 + (len(entry.get("members@delta", ())) if kind == "groups" else 0)
            offset += 1
        body: dict[str, Any] = {"@odata.context": f"{self.base_url}/v1.0/$metadata#{kind}", "value": page}
        if offset < len(current.entries):
            body["@odata.nextLink"] = f"{self.base_url}/v1.0/{kind}/delta?$skiptoken={round_id}.{offset}"
        else:
            body["@odata.deltaLink"] = f"{self.base_url}/v1.0/{kind}/delta?$deltatoken={current.token}"
            del self.delta.rounds[round_id]
        return Reply(200, body)

    @route("GET", r"/v1.0/(?P<kind>users|groups)/(?:microsoft\.graph\.)?delta(?:\(\))?")
    def delta_round(self, incoming: Incoming) -> Reply:
        kind = incoming.params["kind"]
        skip = incoming.arg("$skiptoken")
        with self.lock:
            if skip is not None:
                round_id, _, offset = skip.partition(".")
                if round_id not in self.delta.rounds or not offset.isdigit():
                    return self.graph_error(400, "Request_BadRequest", "The $skiptoken is not valid.")
                return self._delta_page(kind, round_id, int(offset))
            started = self._start_round(kind, self._select(incoming), incoming.arg("$deltatoken"))
            if isinstance(started, Reply):
                return started
            round_id = _opaque(f"round:{next(self.delta.ids)}")
            self.delta.rounds[round_id] = started
            return self._delta_page(kind, round_id, 0)
