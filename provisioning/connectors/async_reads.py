"""Reads for connectors whose SDK is async (Okta, Entra): several listings at once on the
connector's one event loop, and the reads of a full pass started ahead of need.

A full sync knows, before it reads anything, that it will list the groups and the applications
and read the members of its mapped groups; none of that depends on the users. So it asks for
them first (`Connector.prefetch_full_pass`): those reads then run on the loop whenever it runs,
i.e. while the users are being listed, and each phase collects what was read for it (a read that
failed raises then, and the phase's retry reads again).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from provisioning.connectors.base import ConnectorError

Read = Callable[[str], Awaitable[list[str]]]
#: how an unexpected exception of one read becomes its ConnectorError (`str` names the key)
OnError = Callable[[Exception, str], ConnectorError]


def _reraise(error: Exception, key: str) -> ConnectorError:
    raise error


async def _guarded(gate: asyncio.Semaphore, read: Read, key: str, on_error: OnError) -> list[str] | ConnectorError:
    async with gate:
        try:
            return await read(key)
        except ConnectorError as error:
            return error
        except Exception as error:
            return on_error(error, key)


async def gathered(
    keys: list[str],
    read: Read,
    concurrency: int,
    on_error: OnError = _reraise,
    gate: asyncio.Semaphore | None = None,
) -> dict[str, list[str] | ConnectorError]:
    """`read(key)` for every key, at most `concurrency` at once (or as `gate` allows): each
    answer, or its error."""
    gate = gate or asyncio.Semaphore(max(concurrency, 1))
    results = await asyncio.gather(*(_guarded(gate, read, key, on_error) for key in keys))
    return dict(zip(keys, results, strict=True))


class Prefetch:
    """Reads started ahead of need on one event loop, each handed out once: whole listings by
    name, group member listings by group id. Call `start…` and the awaitables on the loop."""

    def __init__(self) -> None:
        self._listings: dict[str, asyncio.Task] = {}
        self._members: dict[str, asyncio.Task] = {}
        #: the in-flight limit the prefetched member and per-item listings share
        self.gate: asyncio.Semaphore | None = None

    def shared_gate(self, concurrency: int) -> asyncio.Semaphore:
        self.gate = asyncio.Semaphore(max(concurrency, 1))
        return self.gate

    def start_listing(self, name: str, read: Coroutine[Any, Any, Any]) -> None:
        if name in self._listings:
            read.close()
            return
        self._listings[name] = asyncio.ensure_future(read)

    async def listing(self, name: str, read: Callable[[], Awaitable[Any]]) -> Any:
        """What the prefetched listing `name` read (or raised), else `read()` now."""
        task = self._listings.pop(name, None)
        return await (task if task is not None else read())

    def start_members(
        self, group_ids: list[str], read: Read, gate: asyncio.Semaphore, on_error: OnError = _reraise
    ) -> None:
        for group_id in dict.fromkeys(group_ids):
            if group_id not in self._members:
                self._members[group_id] = asyncio.ensure_future(_guarded(gate, read, group_id, on_error))

    async def members(
        self, group_ids: list[str], read: Read, concurrency: int, on_error: OnError = _reraise
    ) -> dict[str, list[str] | ConnectorError]:
        """The members of each group: the prefetched answer where one was started, else read now."""
        started = {group_id: self._members.pop(group_id) for group_id in group_ids if group_id in self._members}
        found = await gathered([g for g in group_ids if g not in started], read, concurrency, on_error)
        for group_id, task in started.items():
            found[group_id] = await task
        return {group_id: found[group_id] for group_id in group_ids}

    async def cancel(self) -> None:
        """Stop the reads nobody collected (e.g. the sync failed before the phase that needed them)."""
        tasks = [*self._listings.values(), *self._members.values()]
        self._listings, self._members = {}, {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
