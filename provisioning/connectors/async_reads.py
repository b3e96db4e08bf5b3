"""Reads for connectors whose SDK is async (Okta, Entra): several listings at once on the
connector's one event loop, and group member listings started ahead of need.

A full sync knows its mapped groups before it reads anything, so it asks for their members first
(`prefetch_group_members`); those listings then run on the loop whenever it runs, i.e. while
the users and groups are being listed, and the memberships phase collects what they read.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

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
    keys: list[str], read: Read, concurrency: int, on_error: OnError = _reraise
) -> dict[str, list[str] | ConnectorError]:
    """`read(key)` for every key, at most `concurrency` at once: each answer, or its error."""
    gate = asyncio.Semaphore(max(concurrency, 1))
    results = await asyncio.gather(*(_guarded(gate, read, key, on_error) for key in keys))
    return dict(zip(keys, results, strict=True))


class MemberPrefetch:
    """Member listings started ahead of need on one event loop, handed out once each."""

    def __init__(self) -> None:
        self._tasks: dict[str, asyncio.Task] = {}

    def start(self, group_ids: list[str], read: Read, concurrency: int, on_error: OnError = _reraise) -> None:
        """Schedule the listings (call it on the loop); at most `concurrency` run at once."""
        gate = asyncio.Semaphore(max(concurrency, 1))
        for group_id in dict.fromkeys(group_ids):
            if group_id not in self._tasks:
                self._tasks[group_id] = asyncio.ensure_future(_guarded(gate, read, group_id, on_error))

    async def take(
        self, group_ids: list[str], read: Read, concurrency: int, on_error: OnError = _reraise
    ) -> dict[str, list[str] | ConnectorError]:
        """The members of each group: the prefetched answer where one was started, else read now."""
        started = {group_id: self._tasks.pop(group_id) for group_id in group_ids if group_id in self._tasks}
        found = await gathered([g for g in group_ids if g not in started], read, concurrency, on_error)
        for group_id, task in started.items():
            found[group_id] = await task
        return {group_id: found[group_id] for group_id in group_ids}

    async def cancel(self) -> None:
        """Stop the listings nobody collected (e.g. the sync failed before its memberships phase)."""
        tasks, self._tasks = list(self._tasks.values()), {}
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
