"""The outbox engine: claim due rows in batches, perform each, record the outcome, sweep.

A user of the engine subclasses `Outbox`, names its model and its task, and implements
`perform(row, batch)`; everything else (claim, lease, backoff honouring the provider's
retry-after, permanent failure, giving up, per-key ordering, lease recovery, flood-free sweep,
batched enqueue after commit) lives here once.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any, ClassVar, Generic, TypeVar

from django.db import connection, transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from lib.broker import queue_task
from lib.errors import DeliveryError
from lib.http import RateWindow
from lib.outbox.batch import Batch, Policy, RetryRefused, _Flush
from lib.outbox.flight import JOIN_POLL_SECONDS, UNSTARTED, Flight, PerformedAtOnce, Run
from lib.outbox.models import OutboxRow
from lib.outbox.throttle import record_windows, within_budget
from lib.ratelimit.budget import RateBudget

logger = logging.getLogger(__name__)

Row = TypeVar("Row", bound=OutboxRow)
#: (until, reason, ids of the open rows it waits for)
Waiting = tuple[datetime, str, frozenset[int]]
ABANDONED = "worker stopped mid-way; retried"
#: successes recorded per transaction
SETTLE_CHUNK = 10
#: a row waiting on an earlier row that is not under way is tried again after this long
ORDER_RETRY = timedelta(seconds=5)


class Outbox(Generic[Row]):
    """One kind of outbound delivery. Subclass it; set `model` and `task`; implement `perform`."""

    model: ClassVar[type[OutboxRow]]
    #: dotted path of the task that takes a list of row ids and calls `deliver(ids)`
    task: ClassVar[str]
    #: related rows to load with each claimed row
    select_related: ClassVar[tuple[str, ...]] = ()
    #: True when a batch's rows run at once, through `flight` (a row that waits on an earlier row
    #: of the task, per `waiting`, starts once that one is recorded). False: one row after the
    #: other, each checked by `wait_for` just before it runs.
    concurrent: ClassVar[bool] = False
    #: True: a task also claims the outbox's most urgent other due rows (by priority, then due
    #: time), up to a batch more, so urgent rows never wait behind a queue of tasks and rows
    #: queued one by one are performed together by whichever worker is free first.
    fills_batches: ClassVar[bool] = False
    #: successes recorded per transaction (short transactions keep the locks that `succeeded`
    #: callbacks take, such as the audit chain's head, from being held long)
    settle_chunk: ClassVar[int] = SETTLE_CHUNK

    # -- what a user supplies ------------------------------------------------------------------
    def policy(self) -> Policy:
        raise NotImplementedError

    def perform(self, row: Row, batch: Batch) -> Any:
        """Deliver one row; raise DeliveryError when it failed. The result goes to `succeeded`."""
        raise NotImplementedError

    def prepare(self, rows: Sequence[Row], batch: Batch) -> None:
        """Once rows are claimed, before any is performed: open what is slow to open (SDK clients,
        connections) in `batch`, so the deadline for starting rows measures the deliveries, not
        the start-up. Not called for a task that claimed nothing."""

    def wait_for(self, row: Row) -> tuple[datetime, str] | None:
        """(until, reason) when the row must not run yet (an earlier row of the same key is still
        open, or the provider is not configured); it goes back without counting an attempt."""
        return None

    def waiting(self, rows: Sequence[Row]) -> dict[int, Waiting]:
        """For a concurrent batch: the rows that must not run yet, each with (until, reason, the
        ids of the open rows it waits for). A row whose every blocker is in the batch runs once
        they settled; the others go back. Default: `wait_for` row by row (blockers unknown)."""
        found: dict[int, Waiting] = {}
        for row in rows:
            until = self.wait_for(row)
            if until is not None:
                found[row.pk] = (until[0], until[1], frozenset())
        return found

    def rate_budget(self) -> RateBudget | None:
        """The shared rate budget the rows' calls are taken from (None: no budget)."""
        return None

    def rate_bucket(self, row: Row) -> str | None:
        """The budget bucket the row's call counts against (None: not budgeted)."""
        return None

    def rate_windows(self, batch: Batch) -> Mapping[str, RateWindow]:
        """What the provider said about its buckets during the batch (bucket -> window)."""
        return {}

    def success_fields(self, row: Row, result: Any, now: datetime) -> dict[str, Any]:
        """Fields to record on success besides status and finished_at."""
        return {}

    def succeeded(self, row: Row, result: Any) -> None:
        """Called inside the transaction that records the success."""

    def succeeded_many(self, done: Sequence[tuple[Row, Any]]) -> None:
        """Called once per settled chunk, inside its transaction, with each (row, result).
        Override to handle a chunk set-based; the default calls `succeeded` for each."""
        for row, result in done:
            self.succeeded(row, result)

    def failed(self, row: Row, error: DeliveryError) -> None:
        """Called inside the transaction that records a final failure."""

    def stamp(self, now: datetime) -> dict[str, Any]:
        """Fields every write sets (e.g. an `updated_at`), since queryset updates skip auto_now."""
        return {}

    # -- queueing ------------------------------------------------------------------------------
    def enqueue(self, ids: Iterable[int]) -> None:
        """Hand `ids` to the workers after the current transaction commits, `batch_size` per task.
        Calls within one transaction share tasks: 5,000 rows queued one by one are 50 tasks."""
        ids = list(ids)
        if not ids:
            return
        if not connection.in_atomic_block:
            self._enqueue_now(ids)
            return
        pending: list[_Flush] = connection.__dict__.setdefault("_outbox_pending", {}).setdefault(self.task, [])
        flush = _Flush(self, pending, ids)
        pending.append(flush)
        transaction.on_commit(flush)

    def _enqueue_now(self, ids: Sequence[int]) -> None:
        size = self.policy().batch_size
        unique = list(dict.fromkeys(ids))
        for start in range(0, len(unique), size):
            chunk = unique[start : start + size]
            marked = self.model.objects.filter(id__in=chunk, status=self.model.QUEUED)
            now = timezone.now()
            marked.update(enqueued_at=now)
            try:
                # save=False: the rows record each delivery; the cluster stores only failed tasks
                queue_task(self.task, chunk, save=False)
            except Exception:  # the broker is unreachable: the rows are safe, the sweep queues them
                logger.exception("could not hand %s %s rows to the broker", len(chunk), self.model.__name__)
                marked.filter(enqueued_at=now).update(enqueued_at=None)

    # -- delivering ----------------------------------------------------------------------------
    def deliver(self, ids: Sequence[int], *, fill: bool | None = None) -> list[Row]:
        """The task body: claim the due rows among `ids` (with `fill`, default `fills_batches`,
        the most urgent other due rows too), take their calls from the rate budget, perform them
        (`perform_many`: in queue order, or concurrently where a user allows) and record every
        outcome. Safe to run twice: a row already taken or done is skipped."""
        policy = self.policy()
        fill = self.fills_batches if fill is None else fill
        with Batch() as batch:
            rows = self._claim(ids, fill=fill)
            if rows:
                self.prepare(rows, batch)
            # Rows not started well within the lease go back: past it, the sweep would take them over.
            deadline = timezone.now() + timedelta(seconds=min(policy.batch_seconds, policy.lease_seconds / 2))
            if self.concurrent:
                rows = self._deliver_concurrently(rows, batch, deadline, join=fill)
            else:
                self._deliver_in_order(rows, batch, deadline)
        return rows

    def _deliver_in_order(self, rows: Sequence[Row], batch: Batch, deadline: datetime) -> None:
        """One row after the other, each checked by `wait_for` just before it runs."""
        flight = PerformedAtOnce(self, batch)
        for index, row in enumerate(rows):
            if index and timezone.now() > deadline:
                self._hand_back(rows[index:])
                return
            waiting = self.wait_for(row)
            if waiting is not None:
                self.release(row, until=waiting[0], reason=waiting[1])
                continue
            runnable = within_budget(self, [row])
            if runnable:
                flight.start(runnable, deadline)
                self._settle_collected(flight.collect(), batch)

    def _deliver_concurrently(self, rows: Sequence[Row], batch: Batch, deadline: datetime, *, join: bool) -> list[Row]:
        """The rows at once through the outbox's `flight`; a row waiting on an earlier row of the
        task starts once that one settled. With `join`, while the task's own rows are under way
        and the flight has room, newly due rows are claimed and started beside them (a row queued
        while every worker waits on the provider need not wait for one to finish). Returns every
        row the task claimed."""
        if not rows:
            return []
        run = Run(rows)
        flight = self.flight(batch)
        try:
            while run.pending or len(flight) or run.collected:
                # Pending rows wait on rows of this task: look again once some settled or joined.
                if run.pending and (run.recheck or not (len(flight) or run.collected)):
                    self._start_ready(run, flight, deadline)
                joining = join and run.own_under_way() and timezone.now() <= deadline and flight.room() > 0
                if len(flight):
                    run.took(flight.collect(run.wait_seconds(joining)))
                if run.collected and (not len(flight) or run.pending or run.settle_due(self.settle_chunk)):
                    self._settle_collected(run.take_collected(), batch)
                    run.recheck = True
                if joining and time.monotonic() >= run.next_join:
                    self._join(run, flight, batch)
        finally:
            flight.close()
        return run.claimed

    def _start_ready(self, run: Run, flight: Flight, deadline: datetime) -> None:
        """Start the pending rows that may run now (within the rate budget); past the deadline,
        hand back those not started. Rows waiting on anything but this task's rows are released,
        and so are those waiting on this task's pending rows alone when nothing else is left."""
        run.recheck = False
        if run.started_any and timezone.now() > deadline:
            self._hand_back(run.pending)
            run.pending = []
            return
        ready, waiting = self._split_waiting(run.pending, run.open_ids())
        if not ready and not len(flight) and not run.collected:
            self.release_many(waiting, until=timezone.now() + ORDER_RETRY, reason="waiting for an earlier row")
            waiting = []
        run.pending = waiting
        runnable = within_budget(self, ready)
        if runnable:
            flight.start(runnable, deadline)
            run.started(runnable)

    def _split_waiting(self, rows: Sequence[Row], held: set[int]) -> tuple[list[Row], list[Row]]:
        """(rows that may run now, rows that wait only on `held` rows of this task); rows that
        wait on anything else are released now."""
        ready: list[Row] = []
        waiting: list[Row] = []
        blocked = self.waiting(rows)
        for row in rows:
            found = blocked.get(row.pk)
            if found is None:
                ready.append(row)
            elif found[2] and found[2] <= held:
                waiting.append(row)
            else:
                self.release(row, until=found[0], reason=found[1])
        return ready, waiting

    def _settle_collected(self, collected: Sequence[tuple[Row, Any]], batch: Batch) -> None:
        """Record finished rows' outcomes and the provider's rate windows; rows the flight did
        not start go back to the queue."""
        done = [(row, outcome) for row, outcome in collected if outcome is not UNSTARTED]
        rows, outcomes = [row for row, _ in done], [outcome for _, outcome in done]
        record_windows(self, batch, rows, outcomes)
        self._settle(rows, outcomes)
        unstarted = [row for row, outcome in collected if outcome is UNSTARTED]
        if unstarted:
            self._hand_back(unstarted)

    def _join(self, run: Run, flight: Flight, batch: Batch) -> None:
        """Claim newly due rows, as many as the flight would start at once, to run beside it."""
        run.next_join = time.monotonic() + JOIN_POLL_SECONDS
        if not self._any_due():
            return
        more = self._claim((), fill=True, limit=flight.room(), exclude=[row.pk for row in run.claimed])
        if more:
            self.prepare(more, batch)
            run.joined(more)

    def deliver_one(self, row_id: int) -> Row | None:
        """Deliver that one row (no other row is claimed with it)."""
        rows = self.deliver([row_id], fill=False)
        return rows[0] if rows else None

    def _claim(
        self, ids: Sequence[int], *, fill: bool, limit: int | None = None, exclude: Sequence[int] = ()
    ) -> list[Row]:
        """Take the due rows among `ids` (and, where the outbox fills its batches, up to `limit`
        (default a batch) of its most urgent other due rows) with one conditional update: a row
        another worker took is left."""
        model = self.model
        now = timezone.now()
        wanted = list(ids)
        if fill:
            wanted += self._most_urgent_due(now, exclude=[*wanted, *exclude], limit=limit)
        if not wanted:
            return []
        claimed = model.objects.filter(id__in=wanted, status=model.QUEUED, next_attempt_at__lte=now).update(
            status=model.RUNNING, claimed_at=now, attempts=F("attempts") + 1, enqueued_at=None, **self.stamp(now)
        )
        if not claimed:
            return []
        mine = model.objects.filter(id__in=wanted, status=model.RUNNING, claimed_at=now)
        return list(mine.select_related(*self.select_related).order_by("id"))

    def _any_due(self) -> bool:
        """Whether any row is due: the frequent look of a task whose rows are under way, as one
        small statement compiled once per process (a seventh of the ORM's cost per look)."""
        sql, params = _due_statement(self.model)
        now = self.model._meta.get_field("next_attempt_at").get_db_prep_value(timezone.now(), connection)
        with connection.cursor() as cursor:
            cursor.execute(sql, [now if param is _NOW else param for param in params])
            return cursor.fetchone() is not None

    def _most_urgent_due(self, now: datetime, *, exclude: Sequence[int], limit: int | None = None) -> list[int]:
        """Up to `limit` (default a batch) due rows besides `exclude`, most urgent first (the
        sweep's index)."""
        model = self.model
        due = model.objects.filter(status=model.QUEUED, next_attempt_at__lte=now).exclude(id__in=list(exclude))
        size = self.policy().batch_size if limit is None else limit
        return list(due.order_by("priority", "next_attempt_at", "id").values_list("id", flat=True)[:size])

    def perform_many(self, rows: Sequence[Row], batch: Batch, deadline: datetime) -> list[Any]:
        """Perform claimed rows; return one outcome per row started (a result, or the
        DeliveryError it raised), in order. Rows left without an outcome go back to the queue.
        Default: one after the other, starting none after `deadline`. Override to run a batch's
        provider calls concurrently."""
        outcomes: list[Any] = []
        for index, row in enumerate(rows):
            if index and timezone.now() > deadline:
                break
            outcomes.append(self.attempt(row, batch))
        return outcomes

    def flight(self, batch: Batch) -> Flight:
        """What runs a concurrent task's rows. Default: each `start` performs its rows through
        `perform_many` before it returns. Override with one whose rows run in the background,
        so that rows claimed later join those under way."""
        return PerformedAtOnce(self, batch)

    def attempt(self, row: Row, batch: Batch) -> Any:
        """`perform` one row: its result, or the DeliveryError it raised (never raises)."""
        try:
            return self.perform(row, batch)
        except DeliveryError as error:
            return error
        except Exception as error:
            logger.exception("%s %s raised", self.model.__name__, row.pk)
            return DeliveryError(f"unexpected error: {error!r}", retryable=True)

    def _settle(self, rows: Sequence[Row], outcomes: Sequence[Any]) -> None:
        """Record outcomes: the successes together, each failure or throttle on its own."""
        done = []
        for row, outcome in zip(rows, outcomes, strict=False):
            if isinstance(outcome, DeliveryError):
                self._record_failure(row, outcome)
            else:
                done.append((row, outcome))
        self._record_successes(done)

    def _finish(self, row: Row, **fields: Any) -> bool:
        """Conditional update: False when the row was taken over (its lease expired) meanwhile."""
        model = self.model
        now = timezone.now()
        updated = model.objects.filter(id=row.pk, status=model.RUNNING, claimed_at=row.claimed_at).update(
            **fields, **self.stamp(now)
        )
        for name, value in fields.items():
            setattr(row, name, value)
        return bool(updated)

    def release(self, row: Row, *, until: datetime, reason: str) -> None:
        """Give a claimed row back without counting the attempt; the sweep takes it when due."""
        self._finish(row, status=self.model.QUEUED, attempts=row.attempts - 1, next_attempt_at=until, last_error=reason)

    def release_many(self, rows: Sequence[Row], *, until: datetime, reason: str) -> None:
        """`release` for many rows of one claim at once."""
        model = self.model
        by_claim: dict[datetime, list[int]] = {}
        for row in rows:
            by_claim.setdefault(row.claimed_at, []).append(row.pk)
        for claimed_at, ids in by_claim.items():
            model.objects.filter(id__in=ids, status=model.RUNNING, claimed_at=claimed_at).update(
                status=model.QUEUED,
                attempts=F("attempts") - 1,
                next_attempt_at=until,
                last_error=reason,
                **self.stamp(timezone.now()),
            )

    def _hand_back(self, rows: Sequence[Row]) -> None:
        now = timezone.now()
        for row in rows:
            self._finish(row, status=self.model.QUEUED, attempts=row.attempts - 1, next_attempt_at=now)
        self._enqueue_now([row.pk for row in rows])

    def _record_successes(self, done: Sequence[tuple[Row, Any]]) -> None:
        """Record a batch's successes, `settle_chunk` rows per transaction."""
        for start in range(0, len(done), self.settle_chunk):
            self._record_success_chunk(done[start : start + self.settle_chunk])

    def _record_success_chunk(self, done: Sequence[tuple[Row, Any]]) -> None:
        """One transaction: one conditional update per kind of result, then `succeeded_many` for
        the rows still held (a row whose lease was taken over is left)."""
        if not done:
            return
        model = self.model
        now = timezone.now()
        with transaction.atomic():
            held = set(
                model.objects.select_for_update()
                .filter(id__in=[row.pk for row, _ in done], status=model.RUNNING)
                .values_list("id", "claimed_at")
            )
            kept = [(row, result) for row, result in done if (row.pk, row.claimed_at) in held]
            groups: dict[str, tuple[dict[str, Any], list[Row]]] = {}
            for row, result in kept:
                fields = {"status": model.DONE, "finished_at": now, "last_error": ""}
                fields.update(self.success_fields(row, result, now))
                # Rows with equal fields share one update (values may be JSON: key by their repr).
                groups.setdefault(repr(sorted(fields.items())), (fields, []))[1].append(row)
                for name, value in fields.items():
                    setattr(row, name, value)
            for fields, members in groups.values():
                model.objects.filter(id__in=[row.pk for row in members]).update(**fields, **self.stamp(now))
            if kept:
                self.succeeded_many(kept)

    def _record_failure(self, row: Row, error: DeliveryError) -> None:
        policy = self.policy()
        now = timezone.now()
        message = str(error)[:2000]
        if error.throttled:  # throttled: refused before it ran, so not a failed attempt
            wait = error.retry_after if error.retry_after is not None else policy.backoff_seconds
            self.release(row, until=now + timedelta(seconds=wait), reason=f"throttled by the provider: {message}")
            return
        if error.retryable and row.attempts < policy.max_attempts:
            retry_at = now + policy.backoff(row.attempts, error.retry_after)
            maybe_applied = row.maybe_applied or error.may_have_applied
            if self._finish(
                row, status=self.model.QUEUED, next_attempt_at=retry_at, last_error=message, maybe_applied=maybe_applied
            ):
                logger.info("%s %s will be retried at %s: %s", self.model.__name__, row.pk, retry_at, message)
            return
        note = f"gave up after {row.attempts} attempts" if error.retryable else error.permanent_note
        with transaction.atomic():
            if self._finish(row, status=self.model.FAILED, finished_at=now, last_error=f"{message} ({note})"):
                logger.warning("%s %s failed: %s", self.model.__name__, row.pk, row.last_error)
                self.failed(row, error)

    # -- recovery and retry --------------------------------------------------------------------
    def sweep(self, *, limit: int = 1000) -> dict[str, int]:
        """The periodic sweep: free rows whose worker died, then enqueue due rows that no pending
        task covers, in order of priority (at most one task per batch of rows)."""
        model = self.model
        policy = self.policy()
        now = timezone.now()
        reclaimed = model.objects.filter(
            status=model.RUNNING, claimed_at__lt=now - timedelta(seconds=policy.lease_seconds)
        ).update(
            status=model.QUEUED,
            next_attempt_at=now,
            last_error=ABANDONED,
            maybe_applied=True,  # it may have reached the provider before the worker died
            enqueued_at=None,
            **self.stamp(now),
        )
        uncovered = Q(enqueued_at__isnull=True) | Q(enqueued_at__lt=now - timedelta(seconds=policy.pending_seconds))
        due = list(
            model.objects.filter(uncovered, status=model.QUEUED, next_attempt_at__lte=now)
            .order_by("priority", "next_attempt_at", "id")
            .values_list("id", flat=True)[:limit]
        )
        self._enqueue_now(due)
        return {"reclaimed": reclaimed, "enqueued": len(due)}

    def retry(self, row: Row, *, allowed: Sequence[str] | None = None) -> Row:
        """Put a failed row (or one in `allowed` states) back in the queue, due now; a failed row
        starts its attempts afresh."""
        model = self.model
        allowed = tuple(allowed or (model.FAILED,))
        if row.status not in allowed:
            states = " or ".join(allowed)
            raise RetryRefused(f"Only {states} rows can be retried; this one is {row.status}.")
        fields: dict[str, Any] = {"status": model.QUEUED, "next_attempt_at": timezone.now(), "finished_at": None}
        if row.status == model.FAILED:
            fields["attempts"] = 0
        if not model.objects.filter(id=row.pk, status=row.status).update(**fields, **self.stamp(timezone.now())):
            raise RetryRefused("This row changed meanwhile; reload and try again.")
        row.refresh_from_db()
        self.enqueue([row.pk])
        return row

    def undelivered(self) -> QuerySet[Row]:
        """Rows not delivered: failed, or still open."""
        model = self.model
        return model.objects.filter(status__in=(model.QUEUED, model.RUNNING, model.FAILED))


_NOW = object()  # where the time goes in a compiled statement's parameters
_due_statements: dict[tuple[type, str], tuple[str, list[Any]]] = {}


def _due_statement(model: type[OutboxRow]) -> tuple[str, list[Any]]:
    """SQL and parameters (the time as `_NOW`) of "one due row of `model`", compiled by the ORM
    once per model and database vendor."""
    key = (model, connection.vendor)
    if key not in _due_statements:
        marker = datetime(2000, 1, 1, tzinfo=timezone.get_current_timezone())
        due = model.objects.filter(status=model.QUEUED, next_attempt_at__lte=marker).values_list("pk")[:1]
        sql, params = due.query.get_compiler(connection=connection).as_sql()
        prepared = model._meta.get_field("next_attempt_at").get_db_prep_value(marker, connection)
        _due_statements[key] = (sql, [_NOW if param == prepared else param for param in params])
    return _due_statements[key]
