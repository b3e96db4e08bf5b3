"""What one sync run carries between its phases: counts, problems found, settings, the retry budget."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TypeVar

from django.conf import settings
from django.db.models import Model
from django.utils import timezone

from catalog.models import IdpGroup
from provisioning.connectors import ConnectorError
from provisioning.models import SyncProblem

logger = logging.getLogger(__name__)

T = TypeVar("T")
BATCH = 1000
#: called as progress(stage, done, total); total is None while unknown
Progress = Callable[[str, int, int | None], None]
#: at most this many retries of one provider read, whatever the budget left
MAX_ATTEMPTS = 6


class SyncAborted(Exception):
    """The provider's answer is not safe to apply (e.g. an empty or sharply shrunk directory)."""


def sync_setting(name: str) -> float:
    return settings.GATEHOUSE[name]


class RetryBudget:
    """Transient provider errors (429, 5xx, timeouts) retried within one run, with exponential
    backoff that honours the provider's Retry-After / rate-limit reset, up to a total wait."""

    def __init__(self, total_seconds: float, backoff_seconds: float, sleep: Callable[[float], None] = time.sleep):
        self.left = total_seconds
        self.backoff = backoff_seconds
        self.sleep = sleep

    def call(self, what: str, read: Callable[[], T]) -> T:
        attempt = 0
        while True:
            try:
                return read()
            except ConnectorError as error:
                wait = self._wait(attempt, error)
                if wait is None:
                    raise
                logger.info("sync: %s failed (%s); retrying in %.1f s", what, error, wait)
                self.sleep(wait)
                self.left -= wait
                attempt += 1

    def _wait(self, attempt: int, error: ConnectorError) -> float | None:
        """Seconds to wait before the next try, or None: give up (permanent, too many, or over budget)."""
        if not error.retryable or attempt + 1 >= MAX_ATTEMPTS:
            return None
        wait = max(self.backoff * 2**attempt, error.retry_after or 0.0)
        return wait if wait <= self.left else None


@dataclass
class RunState:
    retry: RetryBudget
    allow_shrink: bool = False
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    suspended: int = 0
    groups: int = 0
    memberships: int = 0
    applications: int = 0
    errors: int = 0
    users_listed: int | None = None
    #: incremental runs: the provider lists what changed after this time (None: a full pass)
    since: datetime | None = None
    #: incremental runs: provider ids of the groups listed as changed
    groups_changed: set[str] = field(default_factory=set)
    people_by_external_id: dict[str, int] = field(default_factory=dict)
    #: incremental runs: provider ids of users the listing reported as deleted
    removed_user_ids: set[str] = field(default_factory=set)
    problems: list[SyncProblem] = field(default_factory=list)
    #: full runs: when the mapped groups' member listings were started (ahead of the memberships phase)
    members_read_started: datetime | None = None

    @classmethod
    def from_settings(cls, *, allow_shrink: bool = False) -> RunState:
        budget = RetryBudget(sync_setting("SYNC_RETRY_MAX_WAIT_SECONDS"), sync_setting("SYNC_RETRY_BACKOFF_SECONDS"))
        return cls(retry=budget, allow_shrink=allow_shrink)

    def problem(self, kind: str, subject: str, message: str, group: IdpGroup | None = None) -> None:
        logger.warning("sync problem (%s) %s: %s", kind, subject, message)
        self.problems.append(SyncProblem(kind=kind, subject=subject[:250], message=message[:4000], group=group))


def shrank_sharply(before: int | None, now: int) -> bool:
    """True when a listing of `now` items is a sharp drop from `before` (GATEHOUSE_SYNC_MAX_SHRINK,
    checked only from GATEHOUSE_SYNC_SHRINK_MIN_SIZE items on)."""
    if not before or before < sync_setting("SYNC_SHRINK_MIN_SIZE"):
        return False
    return (before - now) / before > sync_setting("SYNC_MAX_SHRINK")


def batched(items: list, size: int = BATCH) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def collect(obj: Model, wanted: dict, changes: dict[tuple[str, ...], list]) -> None:
    """Set the changed attributes on obj and file it under the set of fields that changed."""
    changed = tuple(sorted(name for name, value in wanted.items() if getattr(obj, name) != value))
    if not changed:
        return
    for name in changed:
        setattr(obj, name, wanted[name])
    changes.setdefault(changed, []).append(obj)


def write_changes(model: type[Model], changes: dict[tuple[str, ...], list], touch: str | None = None) -> None:
    """One bulk UPDATE per batch and per set of changed fields: only what changed is written."""
    now = timezone.now()
    for fields, objs in changes.items():
        names = list(fields)
        if touch:
            names.append(touch)
            for obj in objs:
                setattr(obj, touch, now)
        for batch in batched(objs):
            model.objects.bulk_update(batch, names, batch_size=BATCH)
