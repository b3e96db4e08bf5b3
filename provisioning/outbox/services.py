"""The outbox: queue membership changes, execute them idempotently, recover what was left behind."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django_q.tasks import async_task

from catalog.models import GroupMembership, IdpGroup, Person
from provisioning.connectors import AddResult, ConnectorError, PermanentError, RemoveResult, UserRef, connector_for
from provisioning.models import FulfilmentTask, MembershipChange
from provisioning.outbox import port as outbox

logger = logging.getLogger(__name__)

EXECUTE_TASK = "provisioning.tasks.execute_membership_change"
EXECUTE_MANY_TASK = "provisioning.tasks.execute_membership_changes"


class ProvisioningError(Exception):
    """A provisioning action cannot be done as asked (readable message)."""


def _config(key: str) -> int:
    return settings.GATEHOUSE[key]


def queue_change(*, action: str, person: Person, group: IdpGroup, grant=None) -> MembershipChange:
    """Write one change to the outbox; it is executed by a task after the transaction commits."""
    change = MembershipChange.objects.create(
        action=action, person=person, group=group, grant=grant, next_attempt_at=timezone.now()
    )
    transaction.on_commit(lambda: async_task(EXECUTE_TASK, change.pk))
    return change


def queue_changes(changes: list[MembershipChange], *, chunk: int = 50) -> list[MembershipChange]:
    """Write many changes to the outbox at once; they are executed after commit, `chunk` per task."""
    now = timezone.now()
    for change in changes:
        change.next_attempt_at = now
    created = MembershipChange.objects.bulk_create(changes, batch_size=1000)
    ids = [c.pk for c in created if c.status == MembershipChange.Status.QUEUED]

    def enqueue() -> None:
        for start in range(0, len(ids), chunk):
            async_task(EXECUTE_MANY_TASK, ids[start : start + chunk])

    transaction.on_commit(enqueue)
    return created


def record_kept_membership(*, person: Person, group: IdpGroup, grant, reason: str) -> MembershipChange:
    """Record a removal that was deliberately not made (another grant, or pre-existing access)."""
    now = timezone.now()
    return MembershipChange.objects.create(
        action=MembershipChange.Action.REMOVE,
        person=person,
        group=group,
        grant=grant,
        status=MembershipChange.Status.SKIPPED,
        result=MembershipChange.Result.KEPT,
        last_error=reason,
        next_attempt_at=now,
        finished_at=now,
    )


def _backoff(attempts: int, retry_after: float | None) -> timedelta:
    base = _config("CHANGE_BACKOFF_SECONDS") * (2 ** max(attempts - 1, 0))
    seconds = min(base, _config("CHANGE_BACKOFF_MAX_SECONDS"))
    if retry_after is not None:
        seconds = max(seconds, retry_after)
    return timedelta(seconds=seconds)


def _claim(change_id: int) -> MembershipChange | None:
    """Take the change for this worker; None when it is not due or someone else has it."""
    now = timezone.now()
    claimed = MembershipChange.objects.filter(
        id=change_id, status=MembershipChange.Status.QUEUED, next_attempt_at__lte=now
    ).update(status=MembershipChange.Status.RUNNING, claimed_at=now, attempts=F("attempts") + 1)
    if not claimed:
        return None
    return MembershipChange.objects.select_related("person", "group").get(id=change_id)


def _has_earlier_open_change(change: MembershipChange) -> bool:
    """Changes to one person-in-group run in the order they were queued."""
    return MembershipChange.objects.filter(
        person_id=change.person_id, group_id=change.group_id, status__in=MembershipChange.OPEN, id__lt=change.id
    ).exists()


def _call_provider(change: MembershipChange) -> AddResult | RemoveResult:
    group = change.group
    if not group.writable:  # the provider would refuse it; say why without asking
        reason = group.not_writable_reason or "the provider does not accept membership changes to it"
        raise PermanentError(f"Group {group.name} ({group.external_id}) cannot be changed by Gatehouse: {reason}")
    connector = connector_for(change.group.connector)
    try:
        person = change.person
        # The provider's id is known once a sync of that provider has listed the person.
        known = person.external_id if person.directory == change.group.connector and person.external_id else None
        user = UserRef(email=person.email, external_id=known)
        if change.action == MembershipChange.Action.ADD:
            return connector.add_member(change.group.external_id, user)
        return connector.remove_member(change.group.external_id, user)
    finally:
        connector.close()


def execute_change(change_id: int) -> MembershipChange | None:
    """Run one queued change against its provider. Safe to call twice: the second call does nothing.

    Network I/O happens outside any transaction; the outcome is recorded in one transaction
    together with whatever the listeners (governance) do about it.
    """
    change = _claim(change_id)
    if change is None:
        return None
    if _has_earlier_open_change(change):
        _release(change, delay=timedelta(seconds=5), error="waiting for an earlier change to the same membership")
        return change
    try:
        result = _call_provider(change)
    except ConnectorError as error:
        return _record_failure(change, error)
    except Exception as error:
        logger.exception("membership change %s raised", change.pk)
        return _record_failure(change, ConnectorError(f"unexpected error: {error!r}", retryable=True))
    return _record_success(change, result)


def _release(change: MembershipChange, *, delay: timedelta, error: str) -> None:
    fields = {
        "status": MembershipChange.Status.QUEUED,
        "next_attempt_at": timezone.now() + delay,
        "last_error": error,
    }
    MembershipChange.objects.filter(id=change.id, status=MembershipChange.Status.RUNNING).update(
        attempts=F("attempts") - 1, **fields
    )
    for name, value in {**fields, "attempts": change.attempts - 1}.items():
        setattr(change, name, value)


def _finish(change: MembershipChange, **fields) -> bool:
    """Conditional update: False when the change was taken over (lease expired) meanwhile."""
    updated = MembershipChange.objects.filter(
        id=change.id, status=MembershipChange.Status.RUNNING, claimed_at=change.claimed_at
    ).update(**fields)
    for name, value in fields.items():
        setattr(change, name, value)
    return bool(updated)


def _record_success(change: MembershipChange, result: AddResult | RemoveResult) -> MembershipChange:
    now = timezone.now()
    with transaction.atomic():
        if not _finish(
            change, status=MembershipChange.Status.SUCCEEDED, result=result.value, finished_at=now, last_error=""
        ):
            return change
        _mirror_membership(change, result, now)
        outbox.notify_change_settled(change)
    return change


def _record_failure(change: MembershipChange, error: ConnectorError) -> MembershipChange:
    now = timezone.now()
    message = str(error)[:2000]
    if error.retryable and change.attempts < _config("CHANGE_MAX_ATTEMPTS"):
        retry_at = now + _backoff(change.attempts, error.retry_after)
        # A throttled call (429) was refused before it ran; a timeout or a 5xx may have been applied.
        maybe_applied = change.maybe_applied or error.status != 429
        if _finish(
            change,
            status=MembershipChange.Status.QUEUED,
            next_attempt_at=retry_at,
            last_error=message,
            maybe_applied=maybe_applied,
        ):
            logger.info("change %s will be retried at %s: %s", change.pk, retry_at.isoformat(), message)
        return change
    if not error.retryable:
        message = f"{message} (permanent: not retried)"
    else:
        message = f"{message} (gave up after {change.attempts} attempts)"
    with transaction.atomic():
        if _finish(change, status=MembershipChange.Status.FAILED, finished_at=now, last_error=message):
            outbox.notify_change_settled(change)
    return change


def _mirror_membership(change: MembershipChange, result: AddResult | RemoveResult, now) -> None:
    """Keep catalog.GroupMembership in step with what the provider now holds."""
    if change.action == MembershipChange.Action.REMOVE:
        GroupMembership.objects.filter(person_id=change.person_id, group_id=change.group_id).delete()
        return
    # "Already a member" after an attempt that may have gone through is most likely our own add:
    # recording it as pre-existing would leave the access in place when the grant ends.
    ours = result == AddResult.ADDED or change.maybe_applied
    origin = GroupMembership.Origin.GATEHOUSE if ours else GroupMembership.Origin.EXTERNAL
    GroupMembership.objects.get_or_create(
        person_id=change.person_id, group_id=change.group_id, defaults={"origin": origin, "since": now}
    )


def retry_failed_change(*, change: MembershipChange) -> MembershipChange:
    """Put a failed change back in the queue (IT's "retry" in the admin)."""
    if change.status != MembershipChange.Status.FAILED:
        raise ProvisioningError(f"Only failed changes can be retried; this one is {change.status}.")
    MembershipChange.objects.filter(id=change.id, status=MembershipChange.Status.FAILED).update(
        status=MembershipChange.Status.QUEUED, attempts=0, next_attempt_at=timezone.now(), finished_at=None
    )
    change.refresh_from_db()
    transaction.on_commit(lambda: async_task(EXECUTE_TASK, change.pk))
    return change


def recover_changes(*, limit: int = 1000) -> dict[str, int]:
    """The periodic sweep: free changes whose worker died, and enqueue every due change."""
    now = timezone.now()
    lease = timedelta(seconds=_config("CHANGE_LEASE_SECONDS"))
    reclaimed = MembershipChange.objects.filter(
        status=MembershipChange.Status.RUNNING, claimed_at__lt=now - lease
    ).update(
        status=MembershipChange.Status.QUEUED,
        next_attempt_at=now,
        last_error="worker stopped mid-way; retried",
        maybe_applied=True,  # it may have reached the provider before the worker died
    )
    due_ids = list(
        MembershipChange.objects.filter(status=MembershipChange.Status.QUEUED, next_attempt_at__lte=now)
        .order_by("next_attempt_at", "id")
        .values_list("id", flat=True)[:limit]
    )
    for change_id in due_ids:
        async_task(EXECUTE_TASK, change_id)
    return {"reclaimed": reclaimed, "enqueued": len(due_ids)}


def open_fulfilment_task(*, grant, action: str, instructions: str) -> FulfilmentTask:
    return FulfilmentTask.objects.create(grant=grant, action=action, instructions=instructions)


def complete_fulfilment_task(*, task: FulfilmentTask, user: AbstractBaseUser, note: str = "") -> FulfilmentTask:
    """IT marks a manual change as done; listeners (governance) then move the grant on."""
    with transaction.atomic():
        updated = FulfilmentTask.objects.filter(id=task.id, status=FulfilmentTask.Status.OPEN).update(
            status=FulfilmentTask.Status.DONE, done_by=user, done_at=timezone.now(), note=note
        )
        if not updated:
            raise ProvisioningError("This fulfilment task is not open (already done or cancelled).")
        task.refresh_from_db()
        outbox.notify_fulfilment_done(task)
    return task


def cancel_open_fulfilment_tasks(*, tasks: Iterable[FulfilmentTask]) -> int:
    ids = [t.id for t in tasks]
    return FulfilmentTask.objects.filter(id__in=ids, status=FulfilmentTask.Status.OPEN).update(
        status=FulfilmentTask.Status.CANCELLED
    )
