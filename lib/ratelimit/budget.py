"""A per-provider, per-bucket rate budget shared by every worker on every machine.

Before calling a provider, a worker `take`s from the bucket the call counts against; a worker
that would exceed the budget does not call (and does not sleep): it hands the work back until
the bucket's reset. Every answer `observe`d corrects the budget: the provider's own remaining
count (it also sees calls made by others) and its reset; a 429 closes the bucket until the time
the provider named.

The state lives in the database (`DatabaseStore`, a table of `RateBucketRow`) or in Redis
(`RedisStore`); both apply the same pure functions below under optimistic concurrency (a write
applies only when nobody wrote since the read, else it is redone), so two machines never spend
the same call twice.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from typing import Any, Protocol

from lib.http import RateWindow

#: a window's length when the provider has not told us (Okta's and most providers' are a minute)
DEFAULT_WINDOW_SECONDS = 60.0
#: answers whose resets differ by less than this describe the same window (whole-second headers)
SAME_WINDOW_SECONDS = 2.0
RETRIES = 20

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BucketState:
    limit: int | None = None
    remaining: int | None = None
    reset_at: float | None = None
    estimated: bool = False


@dataclass(frozen=True)
class Grant:
    """`granted` of the calls asked for may go ahead; the others must wait until `until`."""

    granted: int
    until: float | None = None


def grant(state: BucketState, count: int, now: float) -> tuple[BucketState, Grant]:
    """Take up to `count` calls from the bucket."""
    if state.reset_at is not None and state.reset_at > now and state.remaining is not None:
        granted = min(count, max(state.remaining, 0))
        until = state.reset_at if granted < count else None
        return replace(state, remaining=state.remaining - granted), Grant(granted, until)
    if state.limit is not None:  # the window is over: a new one, its end guessed until an answer says
        fresh = BucketState(state.limit, state.limit, now + DEFAULT_WINDOW_SECONDS, estimated=True)
        return grant(fresh, count, now)
    return state, Grant(count)  # nothing known about this bucket: the provider's answers will tell


def observe(state: BucketState, window: RateWindow, now: float) -> BucketState:
    """The bucket after the provider described `window`."""
    if window.reset_at <= now:
        return state  # an answer about a window already over
    limit = window.limit if window.limit is not None else state.limit
    current = state.reset_at is not None and state.reset_at > now and state.remaining is not None
    if window.remaining <= 0:  # throttled (or the last call spent it): closed until the reset named
        return BucketState(limit, 0, window.reset_at)
    if current and (state.estimated or abs(window.reset_at - state.reset_at) < SAME_WINDOW_SECONDS):
        # The provider's count lags the calls still in flight; ours lags calls made by others.
        return BucketState(limit, min(state.remaining, window.remaining), window.reset_at)
    if not current or window.reset_at > state.reset_at:
        return BucketState(limit, window.remaining, window.reset_at)
    return state  # a late answer from a window that has been replaced


class BudgetStore(Protocol):
    def update(self, key: str, change: Callable[[BucketState], tuple[BucketState, Any]]) -> Any:
        """Apply `change` to the bucket's state atomically; return its second value."""

    def read(self, key: str) -> BucketState: ...


class RateBudget:
    """The shared budget: `take` before calls, `observe` after them."""

    def __init__(self, store: BudgetStore, clock: Callable[[], float] = time.time):
        self.store = store
        self.clock = clock

    def take(self, bucket: str, count: int = 1) -> Grant:
        """Up to `count` calls from `bucket`. Should the store be unreachable (Redis restarting),
        the calls go ahead: the provider's own 429s still hand the work back."""
        if count <= 0:
            return Grant(0)
        now = self.clock()
        try:
            return self.store.update(bucket, lambda state: grant(state, count, now))
        except Exception:
            logger.warning("rate budget %s unreachable; calling without it", bucket, exc_info=True)
            return Grant(count)

    def observe(self, bucket: str, window: RateWindow) -> None:
        now = self.clock()
        try:
            self.store.update(bucket, lambda state: (observe(state, window, now), None))
        except Exception:
            logger.warning("rate budget %s unreachable; not updated", bucket, exc_info=True)

    def state(self, bucket: str) -> BucketState:
        return self.store.read(bucket)


class DatabaseStore:
    """Buckets as rows of `model` (a concrete `RateBucketRow`): compare-and-set on `version`."""

    def __init__(self, model: Any):
        self.model = model

    def read(self, key: str) -> BucketState:
        row = self.model.objects.filter(key=key).values("limit", "remaining", "reset_at", "estimated").first()
        return BucketState(**row) if row else BucketState()

    def update(self, key: str, change: Callable[[BucketState], tuple[BucketState, Any]]) -> Any:
        from django.db import IntegrityError, transaction

        for _ in range(RETRIES):
            row = (
                self.model.objects.filter(key=key)
                .values("limit", "remaining", "reset_at", "estimated", "version")
                .first()
            )
            if row is None:
                new, result = change(BucketState())
                if new == BucketState():
                    return result
                try:
                    with transaction.atomic():
                        self.model.objects.create(key=key, **asdict(new))
                    return result
                except IntegrityError:
                    continue  # another worker created it first: read it
            version = row.pop("version")
            old = BucketState(**row)
            new, result = change(old)
            if new == old:
                return result
            if self.model.objects.filter(key=key, version=version).update(**asdict(new), version=version + 1):
                return result
        raise RuntimeError(f"rate bucket {key!r} kept changing under {RETRIES} attempts")


class RedisStore:
    """Buckets as Redis strings (JSON), updated under WATCH/MULTI (optimistic, like the table)."""

    PREFIX = "gatehouse:ratebudget:"

    def __init__(self, client: Any, *, ttl_seconds: int = 24 * 3600):
        self.client = client
        self.ttl = ttl_seconds

    @classmethod
    def from_url(cls, url: str) -> RedisStore:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=5))

    @staticmethod
    def _decode(raw: bytes | None) -> BucketState:
        return BucketState(**json.loads(raw)) if raw else BucketState()

    def read(self, key: str) -> BucketState:
        return self._decode(self.client.get(self.PREFIX + key))

    def update(self, key: str, change: Callable[[BucketState], tuple[BucketState, Any]]) -> Any:
        import redis

        name = self.PREFIX + key
        with self.client.pipeline() as pipe:
            for _ in range(RETRIES):
                try:
                    pipe.watch(name)
                    old = self._decode(pipe.get(name))
                    new, result = change(old)
                    if new == old:
                        pipe.unwatch()
                        return result
                    pipe.multi()
                    pipe.set(name, json.dumps(asdict(new)), ex=self.ttl)
                    pipe.execute()
                    return result
                except redis.WatchError:
                    continue
        raise RuntimeError(f"rate bucket {key!r} kept changing under {RETRIES} attempts")
