"""A task's membership changes under way: one set of writes in flight per provider, so that
changes claimed while others wait on the provider start beside them."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from catalog.models import GroupMembership, IdpGroup
from lib.outbox.batch import Batch
from provisioning.connectors import AddResult, ConnectorError, PermanentError, UserRef
from provisioning.connectors.base import Connector, MemberChange, WritesInFlight
from provisioning.connectors.pool import shared_connector
from provisioning.models import MembershipChange
from provisioning.outbox.budget import provider_concurrency

#: with writes under way at several providers (each on its own event loop), how long each loop
#: runs in turn while waiting
TURN_SECONDS = 0.01


class MembershipFlight:
    """The engine's Flight for membership changes."""

    def __init__(self, batch: Batch):
        self.batch = batch
        self._writes: dict[str, WritesInFlight] = {}
        self._under_way: dict[int, MembershipChange] = {}
        self._finished: list[tuple[MembershipChange, Any]] = []
        self._held: set[tuple[int, int]] = set()

    def start(self, changes: Sequence[MembershipChange], deadline: datetime) -> None:
        by_provider: dict[str, list[MembershipChange]] = {}
        for change in changes:
            refusal = _refusal(change.group)
            if refusal is not None:
                self._finished.append((change, refusal))
            else:
                by_provider.setdefault(change.group.connector, []).append(change)
        self._held |= _memberships_held(changes)
        for name, members in by_provider.items():
            self.batch.resource("providers", set).add(name)
            try:
                writes = self._writes_at(name)
            except ConnectorError as error:
                self._finished += [(change, error) for change in members]
                continue
            self._under_way.update((change.pk, change) for change in members)
            writes.begin([(change.pk, _write(change)) for change in members])

    def _writes_at(self, name: str) -> WritesInFlight:
        if name not in self._writes:
            self._writes[name] = shared_connector(name).begin_writes(provider_concurrency(name))
        return self._writes[name]

    def collect(self, timeout: float | None = 0) -> list[tuple[MembershipChange, Any]]:
        finished, self._finished = self._finished, []
        busy = [writes for writes in self._writes.values() if len(writes)]
        for writes in busy:
            finished += self._collect(writes, 0)
        if finished or timeout == 0 or not busy:
            return finished
        if len(busy) == 1:
            return self._collect(busy[0], timeout)
        until = None if timeout is None else time.monotonic() + timeout
        while not finished and (until is None or time.monotonic() < until):
            for writes in busy:
                finished += self._collect(writes, TURN_SECONDS)
        return finished

    def _collect(self, writes: WritesInFlight, timeout: float | None) -> list[tuple[MembershipChange, Any]]:
        finished = []
        for key, result in writes.collect(timeout):
            change = self._under_way.pop(key)
            finished.append((change, _as_recorded(writes.connector, change, result, self._held)))
        return finished

    def room(self) -> int:
        return sum(writes.room() for writes in self._writes.values())

    def __len__(self) -> int:
        return len(self._finished) + sum(len(writes) for writes in self._writes.values())

    def close(self) -> None:
        for writes in self._writes.values():
            writes.close()
        self._finished = []


def _as_recorded(connector: Connector, change: MembershipChange, result: Any, held: set[tuple[int, int]]) -> Any:
    """ "Added" to a membership the directory already showed is "already a member" where the
    provider cannot tell (blind writes)."""
    if result == AddResult.ADDED and connector.blind_writes and (change.person_id, change.group_id) in held:
        return AddResult.ALREADY_MEMBER
    return result


def _refusal(group: IdpGroup) -> PermanentError | None:
    """Why the provider would refuse changes to the group, said without asking it."""
    if group.writable:
        return None
    reason = group.not_writable_reason or "the provider does not accept membership changes to it"
    return PermanentError(f"Group {group.name} ({group.external_id}) cannot be changed by Gatehouse: {reason}")


def _write(change: MembershipChange) -> MemberChange:
    person = change.person
    # The provider's id is known once a sync of that provider has listed the person.
    known = person.external_id if person.directory == change.group.connector and person.external_id else None
    action = MemberChange.ADD if change.action == MembershipChange.Action.ADD else MemberChange.REMOVE
    return MemberChange(action, change.group.external_id, UserRef(email=person.email, external_id=known))


def _memberships_held(changes: Sequence[MembershipChange]) -> set[tuple[int, int]]:
    """(person, group) pairs the directory shows as members already (one query)."""
    adds = [c for c in changes if c.action == MembershipChange.Action.ADD]
    if not adds:
        return set()
    rows = GroupMembership.objects.filter(
        person_id__in={c.person_id for c in adds}, group_id__in={c.group_id for c in adds}
    ).values_list("person_id", "group_id")
    return set(rows)
