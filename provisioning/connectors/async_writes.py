"""Membership writes for connectors whose SDK is async (Okta, Entra): they run on the connector's
one event loop and client, at most `concurrency` at once, and writes begun later join those
already under way (the loop runs only while the caller waits in `collect`)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from typing import Any

from lib.outbox.flight import collect_all
from provisioning.connectors.base import (
    AddResult,
    ConnectorError,
    MemberChange,
    RemoveResult,
    UserRef,
    WritesInFlight,
)

logger = logging.getLogger(__name__)


class AsyncMembershipWrites:
    """Mixed into a connector that supplies `_awrite(change)` (one write; raises ConnectorError)
    and `_on_loop(coroutine)` (runs it on the connector's event loop)."""

    async def _awrite(self, change: MemberChange) -> AddResult | RemoveResult:
        raise NotImplementedError

    def _on_loop(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        raise NotImplementedError

    def add_member(self, group_id: str, user: UserRef) -> AddResult:
        return self._one(MemberChange(MemberChange.ADD, group_id, user))

    def remove_member(self, group_id: str, user: UserRef) -> RemoveResult:
        return self._one(MemberChange(MemberChange.REMOVE, group_id, user))

    def _one(self, change: MemberChange) -> Any:
        (outcome,) = self.apply_changes([change])
        if isinstance(outcome, ConnectorError):
            raise outcome
        return outcome

    def begin_writes(self, concurrency: int = 1) -> AsyncWritesInFlight:
        return AsyncWritesInFlight(self, concurrency)

    def apply_changes(self, changes: list[MemberChange], concurrency: int = 1) -> list[Any]:
        """One outcome per change, in order: its result, or the ConnectorError it met."""
        writes = self.begin_writes(concurrency)
        writes.begin(list(enumerate(changes)))
        outcomes = dict(collect_all(writes))
        return [outcomes[index] for index in range(len(changes))]


class AsyncWritesInFlight(WritesInFlight):
    """Writes as tasks on the connector's loop, `concurrency` of them under way at a time."""

    connector: Any

    def __init__(self, connector: Any, concurrency: int):
        super().__init__(connector, concurrency)
        self._gate: asyncio.Semaphore | None = None
        self._tasks: dict[asyncio.Task, Any] = {}
        self._started = 0  # writes past the gate, not yet finished

    def begin(self, keyed: list[tuple[Any, MemberChange]]) -> None:
        if keyed:
            self._tasks.update(self.connector._on_loop(self._astart(keyed)))

    async def _astart(self, keyed: list[tuple[Any, MemberChange]]) -> dict[asyncio.Task, Any]:
        if self._gate is None:
            self._gate = asyncio.Semaphore(self.concurrency)
        return {asyncio.ensure_future(self._awrite(change)): key for key, change in keyed}

    async def _awrite(self, change: MemberChange) -> Any:
        assert self._gate is not None
        async with self._gate:
            self._started += 1
            try:
                return await self.connector._awrite(change)
            except ConnectorError as error:
                return error
            finally:
                self._started -= 1

    def collect(self, timeout: float | None = 0) -> list[tuple[Any, Any]]:
        if not self._tasks:
            return []
        if not any(task.done() for task in self._tasks):
            waiting = asyncio.wait(list(self._tasks), timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
            self.connector._on_loop(waiting)
        finished = [task for task in self._tasks if task.done()]
        return [(self._tasks.pop(task), _outcome(task)) for task in finished]

    def room(self) -> int:
        waiting_for_gate = len(self._tasks) - self._started - sum(task.done() for task in self._tasks)
        return max(self.concurrency - self._started - waiting_for_gate, 0)

    def __len__(self) -> int:
        return len(self._tasks)

    def close(self) -> None:
        """Cancel the writes still under way (their rows' leases bring them back)."""
        unfinished = [task for task in self._tasks if not task.done()]
        self._tasks.clear()
        if not unfinished:
            return
        for task in unfinished:
            task.cancel()
        try:
            self.connector._on_loop(_settled(unfinished))
        except Exception:  # the connector was closed meanwhile: nothing is left to wait for
            logger.debug("could not wait for cancelled writes", exc_info=True)


async def _settled(tasks: list[asyncio.Task]) -> None:
    await asyncio.gather(*tasks, return_exceptions=True)


def _outcome(task: asyncio.Task) -> Any:
    """A finished write's result or ConnectorError; anything else it raised, as a retryable error."""
    if task.cancelled():
        return ConnectorError("the write was cancelled before it finished", retryable=True)
    error = task.exception()
    if error is None:
        return task.result()
    logger.error("membership write raised", exc_info=error)
    return ConnectorError(f"unexpected error: {error!r}", retryable=True)
