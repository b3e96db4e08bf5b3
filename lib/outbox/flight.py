"""Rows of a concurrent task on their way: what runs them (`Flight`) and what the task keeps
track of while they run (`Run`)."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from lib.outbox.batch import Batch
    from lib.outbox.engine import Outbox

#: the outcome of a row its flight did not start (it goes back to the queue)
UNSTARTED = object()
#: how often a task whose rows are under way looks for newly due rows to join them
JOIN_POLL_SECONDS = 0.02
#: finished rows wait at most this long for the others under way before being recorded together
SETTLE_LAG_SECONDS = 0.25


class Flight(Protocol):
    """Runs a task's rows; rows started later may join those under way."""

    def start(self, rows: Sequence[Any], deadline: datetime) -> None:
        """Begin performing `rows` (rows left unstarted come back with outcome UNSTARTED)."""

    def collect(self, timeout: float | None) -> list[tuple[Any, Any]]:
        """(row, outcome) of the rows finished since the last call; when none has, wait up to
        `timeout` seconds (None: until one does). An outcome is a result or a DeliveryError."""

    def room(self) -> int:
        """How many more rows would start at once now."""

    def __len__(self) -> int:
        """Rows started and not yet collected."""

    def close(self) -> None:
        """Give up on rows still under way (their leases bring them back)."""


class DoneAtOnce:
    """Work made as soon as it is started: its (item, outcome) pairs wait here to be collected,
    nothing is ever under way, and no more would start at once."""

    def __init__(self) -> None:
        self._finished: list[tuple[Any, Any]] = []

    def collect(self, timeout: float | None = 0) -> list[tuple[Any, Any]]:
        finished, self._finished = self._finished, []
        return finished

    def room(self) -> int:
        return 0

    def __len__(self) -> int:
        return len(self._finished)

    def close(self) -> None:
        self._finished = []


class PerformedAtOnce(DoneAtOnce):
    """The default flight: each `start` performs its rows through `perform_many` there and then."""

    def __init__(self, outbox: Outbox, batch: Batch):
        super().__init__()
        self.outbox, self.batch = outbox, batch

    def start(self, rows: Sequence[Any], deadline: datetime) -> None:
        outcomes = self.outbox.perform_many(rows, self.batch, deadline)
        self._finished += list(zip(rows, outcomes, strict=False))
        self._finished += [(row, UNSTARTED) for row in rows[len(outcomes) :]]


class Run:
    """One concurrent task's rows: claimed and not started (`pending`), under way, and finished
    but not yet recorded (`collected`)."""

    def __init__(self, rows: Sequence[Any]):
        self.claimed: list[Any] = list(rows)
        self.pending: list[Any] = list(rows)
        self.collected: list[tuple[Any, Any]] = []
        self._own = {row.pk for row in rows}
        self._under_way: set[int] = set()
        self._first_collected: float | None = None
        self.started_any = False
        #: pending rows may have become ready (rows joined, or rows they wait on settled)
        self.recheck = True
        self.next_join = time.monotonic() + JOIN_POLL_SECONDS

    def started(self, rows: Sequence[Any]) -> None:
        self._under_way.update(row.pk for row in rows)
        self.started_any = True

    def took(self, finished: Sequence[tuple[Any, Any]]) -> None:
        if finished and not self.collected:
            self._first_collected = time.monotonic()
        self.collected += finished
        self._under_way.difference_update(row.pk for row, _ in finished)

    def take_collected(self) -> list[tuple[Any, Any]]:
        collected, self.collected = self.collected, []
        return collected

    def joined(self, rows: Sequence[Any]) -> None:
        self.claimed += rows
        self.pending += rows
        self.recheck = True

    def own_under_way(self) -> bool:
        """Some of the rows the task was started with are still under way."""
        return not self._own.isdisjoint(self._under_way)

    def open_ids(self) -> set[int]:
        """This task's rows not yet recorded: rows may wait on these."""
        return {row.pk for row in self.pending} | self._under_way | {row.pk for row, _ in self.collected}

    def wait_seconds(self, joining: bool) -> float | None:
        """How long to wait for rows under way to finish: until the next look for rows to join,
        or until the finished rows are due to be recorded (None: until one finishes)."""
        waits = []
        if joining:
            waits.append(self.next_join - time.monotonic())
        if self.collected and self._first_collected is not None:
            waits.append(self._first_collected + SETTLE_LAG_SECONDS - time.monotonic())
        return max(min(waits), 0) if waits else None

    def settle_due(self, chunk: int) -> bool:
        """Enough finished rows, or the first of them waited long enough, to record them now."""
        waited = time.monotonic() - (self._first_collected or time.monotonic())
        return len(self.collected) >= chunk or waited >= SETTLE_LAG_SECONDS


def collect_all(flight: Any) -> list[tuple[Any, Any]]:
    """Wait for everything `flight` (a Flight, or writes in flight) has under way; (item, outcome)
    of each, in the order they finished."""
    finished: list[tuple[Any, Any]] = []
    try:
        while len(flight):
            finished += flight.collect(None)
    finally:
        flight.close()
    return finished
