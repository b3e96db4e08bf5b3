"""What one outbox's deliveries share: its policy, a batch's resources, the on-commit flush."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lib.outbox.engine import Outbox


@dataclass(frozen=True)
class Policy:
    """How hard and how often one outbox tries."""

    max_attempts: int
    backoff_seconds: float
    backoff_max_seconds: float
    lease_seconds: float
    #: rows per task
    batch_size: int = 50
    #: a task handed to the broker but not started after this long is presumed lost
    pending_seconds: float = 600
    #: rows of a batch not started within this many seconds go back to the queue
    batch_seconds: float = 60

    @classmethod
    def from_settings(cls, config: Mapping[str, Any], prefix: str = "", **extra: Any) -> Policy:
        """Read `{prefix}MAX_ATTEMPTS`, `…BACKOFF_SECONDS`, `…BACKOFF_MAX_SECONDS` and
        `…LEASE_SECONDS` from a settings dict (e.g. settings.JIRA)."""
        return cls(
            max_attempts=config[f"{prefix}MAX_ATTEMPTS"],
            backoff_seconds=config[f"{prefix}BACKOFF_SECONDS"],
            backoff_max_seconds=config[f"{prefix}BACKOFF_MAX_SECONDS"],
            lease_seconds=config[f"{prefix}LEASE_SECONDS"],
            **extra,
        )

    def backoff(self, attempts: int, retry_after: float | None) -> timedelta:
        seconds = min(self.backoff_seconds * (2 ** max(attempts - 1, 0)), self.backoff_max_seconds)
        if retry_after is not None:
            seconds = max(seconds, retry_after)
        return timedelta(seconds=seconds)


class RetryRefused(Exception):
    """A row cannot be retried in its present state (readable message)."""


class Batch:
    """What one task's rows share: clients and connections opened once, closed at the end."""

    def __init__(self) -> None:
        self._stack = ExitStack()
        self._resources: dict[Any, Any] = {}

    def resource(self, key: Any, factory: Callable[[], Any], close: Callable[[Any], None] | None = None) -> Any:
        """The batch's `key` resource, made by `factory` on first use and closed (`close`, else
        its own `close()`) when the batch ends."""
        if key not in self._resources:
            value = factory()
            self._resources[key] = value
            if close is not None:
                self._stack.callback(close, value)
            elif hasattr(value, "close"):
                self._stack.callback(value.close)
        return self._resources[key]

    def __enter__(self) -> Batch:
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stack.close()


class _Flush:
    """One enqueue call's on-commit callback. The first of a transaction's callbacks to run also
    takes the ids of those registered after it (they run at the same commit), so one commit hands
    its rows over in full batches; the callbacks it emptied then do nothing."""

    def __init__(self, outbox: Outbox, pending: list[_Flush], ids: list[int]):
        self.outbox, self.pending, self.ids = outbox, pending, ids

    def __call__(self) -> None:
        index = next((i for i, flush in enumerate(self.pending) if flush is self), None)
        taken = [self] if index is None else self.pending[index:]
        self.pending.clear()  # earlier entries have run, or were dropped with a rolled-back savepoint
        ids = [row_id for flush in taken for row_id in flush.ids]
        for flush in taken:
            flush.ids = []
        if ids:
            self.outbox._enqueue_now(ids)
