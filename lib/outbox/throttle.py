"""The outbox engine's use of the shared rate budget: take a batch's calls from it before they
are made (rows beyond it go back until the bucket's reset, without counting an attempt), and
feed it what the provider said afterwards."""

from __future__ import annotations

import time
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from lib.errors import DeliveryError
from lib.http import RateWindow

if TYPE_CHECKING:
    from lib.outbox.engine import Batch, Outbox


def within_budget(outbox: Outbox, rows: Sequence[Any]) -> list[Any]:
    """The rows whose calls the budget allows now, in their order; the others are released until
    their bucket's reset (higher priority rows are granted first)."""
    budget = outbox.rate_budget()
    if budget is None or not rows:
        return list(rows)
    by_bucket: dict[str | None, list[Any]] = {}
    for row in rows:
        by_bucket.setdefault(outbox.rate_bucket(row), []).append(row)
    allowed: set[int] = set()
    for bucket, members in by_bucket.items():
        if bucket is None:
            allowed.update(row.pk for row in members)
            continue
        members.sort(key=lambda row: (row.priority, row.pk))
        grant = budget.take(bucket, len(members))
        allowed.update(row.pk for row in members[: grant.granted])
        if grant.granted < len(members):
            until = datetime.fromtimestamp(grant.until or time.time(), UTC)
            reason = f"rate budget of {bucket} spent until {until:%H:%M:%S} UTC; not yet attempted"
            outbox.release_many(members[grant.granted :], until=until, reason=reason)
    return [row for row in rows if row.pk in allowed]


def record_windows(outbox: Outbox, batch: Batch, rows: Sequence[Any], outcomes: Sequence[Any]) -> None:
    """Feed the budget: the windows the provider described, and each 429's Retry-After."""
    budget = outbox.rate_budget()
    if budget is None:
        return
    windows = dict(outbox.rate_windows(batch))
    now = time.time()
    for row, outcome in zip(rows, outcomes, strict=False):
        if isinstance(outcome, DeliveryError) and outcome.throttled:
            bucket = outbox.rate_bucket(row)
            if bucket and outcome.retry_after is not None:
                closed = RateWindow(None, 0, now + outcome.retry_after)
                if bucket not in windows or windows[bucket].remaining > 0:
                    windows[bucket] = closed
    for bucket, window in windows.items():
        budget.observe(bucket, window)
