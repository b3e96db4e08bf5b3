"""Membership writes for connectors whose SDK is async (Okta, Entra): a batch of them runs at once
on the connector's one event loop and client, at most `concurrency` in flight."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from provisioning.connectors.base import AddResult, ConnectorError, MemberChange, RemoveResult, UserRef


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

    def apply_changes(self, changes: list[MemberChange], concurrency: int = 1) -> list[Any]:
        """One outcome per change, in order: its result, or the ConnectorError it met."""
        return self._on_loop(self._aapply(changes, max(concurrency, 1)))

    async def _aapply(self, changes: list[MemberChange], concurrency: int) -> list[Any]:
        gate = asyncio.Semaphore(concurrency)

        async def apply(change: MemberChange) -> Any:
            async with gate:
                try:
                    return await self._awrite(change)
                except ConnectorError as error:
                    return error

        return list(await asyncio.gather(*(apply(change) for change in changes)))
