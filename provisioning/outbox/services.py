"""The outbox of membership changes: queue them, perform one against its provider, mirror the
result. Claim, lease, retries, ordering and the sweep are the shared engine's (lib.outbox)."""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from catalog.models import GroupMembership, IdpGroup, Person
from lib.errors import DeliveryError
from lib.http import RateWindow
from lib.outbox.engine import Batch, Outbox, Policy, RetryRefused
from lib.outbox.flight import collect_all
from lib.outbox.models import Priority
from lib.ratelimit.budget import RateBudget
from provisioning.connectors import (
    AddResult,
    ConnectorError,
    RemoveResult,
)
from provisioning.connectors.pool import shared_connector
from provisioning.models import FulfilmentTask, MembershipChange
from provisioning.outbox import port
from provisioning.outbox.budget import shared_budget
from provisioning.outbox.flight import MembershipFlight

ORDER_WAIT = timedelta(seconds=5)


class ProvisioningError(Exception):
    """A provisioning action cannot be done as asked (readable message)."""


def priority_of(action: str) -> int:
    """Removals (revocations, expiries) are claimed before additions."""
    return Priority.REVOCATION if action == MembershipChange.Action.REMOVE else Priority.GRANT


class MembershipOutbox(Outbox[MembershipChange]):
    """Perform one add or remove at the group's provider; idempotent at the provider."""

    model = MembershipChange
    task = "provisioning.tasks.execute_membership_changes"
    select_related = ("person", "group")
    concurrent = True
    fills_batches = True

    def policy(self) -> Policy:
        config = settings.GATEHOUSE
        return Policy.from_settings(
            config,
            "CHANGE_",
            pending_seconds=config["OUTBOX_PENDING_SECONDS"],
            batch_size=config["CHANGE_BATCH_SIZE"],
        )

    @property
    def settle_chunk(self) -> int:
        """The settle is set-based (a fixed number of queries per chunk): a whole claim at once,
        the task's own changes and those it filled its batch with."""
        return 2 * self.policy().batch_size

    def prepare(self, changes: Sequence[MembershipChange], batch: Batch) -> None:
        """Have each claimed change's provider connector (long-lived, per process) ready."""
        for name in {change.group.connector for change in changes}:
            with contextlib.suppress(ConnectorError):  # not configured: perform reports it per change
                shared_connector(name)

    def wait_for(self, change: MembershipChange) -> tuple[datetime, str] | None:
        """Changes to one person-in-group run in the order they were queued."""
        found = self.waiting([change]).get(change.pk)
        return None if found is None else found[:2]

    def waiting(self, changes: Sequence[MembershipChange]) -> dict[int, tuple[datetime, str, frozenset[int]]]:
        """The changes with an earlier open change to the same person-in-group (one query)."""
        if not changes:
            return {}
        earlier = MembershipChange.objects.filter(
            person_id__in={c.person_id for c in changes},
            group_id__in={c.group_id for c in changes},
            status__in=MembershipChange.OPEN,
            id__lt=max(c.pk for c in changes),
        ).values_list("id", "person_id", "group_id")
        open_ids: dict[tuple[int, int], list[int]] = {}
        for row_id, person_id, group_id in earlier:
            open_ids.setdefault((person_id, group_id), []).append(row_id)
        until = timezone.now() + ORDER_WAIT
        found: dict[int, tuple[datetime, str, frozenset[int]]] = {}
        for change in changes:
            blockers = frozenset(i for i in open_ids.get((change.person_id, change.group_id), ()) if i < change.pk)
            if blockers:
                found[change.pk] = (until, "waiting for an earlier change to the same membership", blockers)
        return found

    # -- the shared rate budget ------------------------------------------------------------
    def rate_budget(self) -> RateBudget:
        return shared_budget()

    def rate_bucket(self, change: MembershipChange) -> str | None:
        try:
            bucket = shared_connector(change.group.connector).change_bucket(change.group.external_id)
        except ConnectorError:
            return None
        return f"{change.group.connector}:{bucket}" if bucket else None

    def rate_windows(self, batch: Batch) -> dict[str, RateWindow]:
        windows: dict[str, RateWindow] = {}
        for name in batch.resource("providers", set):
            with contextlib.suppress(ConnectorError):
                windows.update({f"{name}:{b}": w for b, w in shared_connector(name).take_rate_windows().items()})
        return windows

    # -- performing ------------------------------------------------------------------------
    def perform(self, change: MembershipChange, batch: Batch) -> AddResult | RemoveResult:
        (outcome,) = self.perform_many([change], batch, timezone.now())
        if isinstance(outcome, DeliveryError):
            raise outcome
        return outcome

    def perform_many(self, changes: Sequence[MembershipChange], batch: Batch, deadline: datetime) -> list[Any]:
        """The changes at once, through a flight of their own."""
        flight = self.flight(batch)
        flight.start(changes, deadline)
        outcomes = {change.pk: outcome for change, outcome in collect_all(flight)}
        return [outcomes[change.pk] for change in changes]

    def flight(self, batch: Batch) -> MembershipFlight:
        """Each provider's changes run concurrently up to the provider's limit (async SDKs in the
        background, so that changes claimed meanwhile join them)."""
        return MembershipFlight(batch)

    def success_fields(self, change: MembershipChange, result: Any, now: datetime) -> dict[str, Any]:
        return {"result": result.value}

    def succeeded_many(self, done: Sequence[tuple[MembershipChange, AddResult | RemoveResult]]) -> None:
        _mirror_memberships(done)
        port.notify_changes_settled([change for change, _ in done])

    def failed(self, change: MembershipChange, error: DeliveryError) -> None:
        port.notify_change_settled(change)


membership_outbox = MembershipOutbox()


def queue_change(*, action: str, person: Person, group: IdpGroup) -> MembershipChange:
    """Write one change to the outbox; it is executed by a task after the transaction commits."""
    change = MembershipChange.objects.create(
        action=action, person=person, group=group, priority=priority_of(action), next_attempt_at=timezone.now()
    )
    membership_outbox.enqueue([change.pk])
    return change


def queue_changes(changes: list[MembershipChange]) -> list[MembershipChange]:
    """Write many changes to the outbox at once; they are executed after commit, in batches."""
    now = timezone.now()
    for change in changes:
        change.next_attempt_at = now
        change.priority = priority_of(change.action)
    created = MembershipChange.objects.bulk_create(changes, batch_size=1000)
    membership_outbox.enqueue(c.pk for c in created if c.status == MembershipChange.Status.QUEUED)
    return created


def record_kept_membership(*, person: Person, group: IdpGroup, reason: str) -> MembershipChange:
    """Record a removal that was deliberately not made (another grant, or pre-existing access)."""
    now = timezone.now()
    return MembershipChange.objects.create(
        action=MembershipChange.Action.REMOVE,
        person=person,
        group=group,
        status=MembershipChange.Status.SKIPPED,
        result=MembershipChange.Result.KEPT,
        priority=Priority.REVOCATION,
        last_error=reason,
        next_attempt_at=now,
        finished_at=now,
    )


def deliver_urgent() -> int:
    """Perform the due removals (revocations, expiries) now, up to a batch, whatever the task
    queue holds: the expiry timer's own lane. Returns how many it took."""
    due = MembershipChange.objects.filter(
        status=MembershipChange.Status.QUEUED, priority=Priority.REVOCATION, next_attempt_at__lte=timezone.now()
    ).order_by("next_attempt_at", "id")
    ids = list(due.values_list("id", flat=True)[: membership_outbox.policy().batch_size])
    return len(membership_outbox.deliver(ids, fill=False)) if ids else 0


def execute_change(change_id: int) -> MembershipChange | None:
    """Run one queued change against its provider. Safe to call twice: the second call does nothing."""
    return membership_outbox.deliver_one(change_id)


def _mirror_memberships(done: Sequence[tuple[MembershipChange, AddResult | RemoveResult]]) -> None:
    """Keep catalog.GroupMembership in step with what the provider now holds (two queries)."""
    removed = {(c.person_id, c.group_id) for c, _ in done if c.action == MembershipChange.Action.REMOVE}
    if removed:
        held = GroupMembership.objects.filter(
            person_id__in={p for p, _ in removed}, group_id__in={g for _, g in removed}
        ).values_list("id", "person_id", "group_id")
        GroupMembership.objects.filter(id__in=[i for i, p, g in held if (p, g) in removed]).delete()
    added = [
        GroupMembership(person_id=c.person_id, group_id=c.group_id, origin=_origin(c, result), since=c.finished_at)
        for c, result in done
        if c.action == MembershipChange.Action.ADD
    ]
    found = [membership for membership in added if membership.origin == GroupMembership.Origin.EXTERNAL]
    GroupMembership.objects.bulk_create(found, ignore_conflicts=True)  # a membership already known is kept
    # Ours even if a directory sync listed it between the provider's answer and this settle (it
    # would have recorded it as found in the provider, and the grant's end would then leave it).
    ours = [membership for membership in added if membership.origin == GroupMembership.Origin.GATEHOUSE]
    GroupMembership.objects.bulk_create(
        ours, update_conflicts=True, unique_fields=["person", "group"], update_fields=["origin"]
    )


def _origin(change: MembershipChange, result: AddResult | RemoveResult) -> str:
    # "Already a member" after an attempt that may have gone through is most likely our own add:
    # recording it as pre-existing would leave the access in place when the grant ends.
    ours = result == AddResult.ADDED or change.maybe_applied
    return GroupMembership.Origin.GATEHOUSE if ours else GroupMembership.Origin.EXTERNAL


def retry_failed_change(*, change: MembershipChange) -> MembershipChange:
    """Put a failed change back in the queue (IT's "retry" in the admin)."""
    if change.status != MembershipChange.Status.FAILED:
        raise ProvisioningError(f"Only failed changes can be retried; this one is {change.status}.")
    try:
        return membership_outbox.retry(change)
    except RetryRefused as error:
        raise ProvisioningError(str(error)) from error


def recover_changes(*, limit: int = 1000) -> dict[str, int]:
    """The periodic sweep: free changes whose worker died, and enqueue due changes no task covers."""
    return membership_outbox.sweep(limit=limit)


def open_fulfilment_task(*, action: str, instructions: str) -> FulfilmentTask:
    return FulfilmentTask.objects.create(action=action, instructions=instructions)


def complete_fulfilment_task(*, task: FulfilmentTask, user: AbstractBaseUser, note: str = "") -> FulfilmentTask:
    """IT marks a manual change as done; the bound listener (governance) then moves the grant on."""
    with transaction.atomic():
        updated = FulfilmentTask.objects.filter(id=task.id, status=FulfilmentTask.Status.OPEN).update(
            status=FulfilmentTask.Status.DONE, done_by=user, done_at=timezone.now(), note=note
        )
        if not updated:
            raise ProvisioningError("This fulfilment task is not open (already done or cancelled).")
        task.refresh_from_db()
        port.notify_fulfilment_done(task)
    return task


def cancel_open_fulfilment_tasks(*, tasks: Iterable[FulfilmentTask]) -> int:
    ids = [t.id for t in tasks]
    return FulfilmentTask.objects.filter(id__in=ids, status=FulfilmentTask.Status.OPEN).update(
        status=FulfilmentTask.Status.CANCELLED
    )
