"""Expiry on time: warnings before, and a timer that removes access within seconds of the end."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, close_old_connections, connections, transaction
from django.utils import timezone

from catalog.durations import format_iso_duration, parse_iso_duration
from governance.audit.services import Actor, record
from governance.grants import bulk_expiry
from governance.models import ExpiryWarning, Grant
from governance.notifications.services import notify_person
from governance.slack.blocks import EXTEND as EXTEND_ACTION
from lib import readable
from provisioning.outbox import services as provisioning

logger = logging.getLogger(__name__)


def warning_leads() -> list[timedelta]:
    leads = [parse_iso_duration(text) for text in settings.GATEHOUSE["EXPIRY_WARNINGS"]]
    return sorted({lead for lead in leads if lead})


def _due_leads(grant: Grant, now: datetime, leads: list[timedelta]) -> list[timedelta]:
    """Leads whose moment has come for this grant (only for grants longer than the lead)."""
    remaining = grant.expires_at - now
    length = grant.expires_at - grant.starts_at
    return [lead for lead in leads if remaining <= lead < length]


def _warn(grant: Grant, due: list[timedelta]) -> bool:
    """Record every due lead for this expiry; send one message. False when already sent."""
    try:
        with transaction.atomic():
            for lead in due:
                ExpiryWarning.objects.create(
                    grant=grant, lead_seconds=int(lead.total_seconds()), expires_at=grant.expires_at
                )
            remaining = max(grant.expires_at - timezone.now(), timedelta(0))
            left = readable.duration_words(timedelta(minutes=int(remaining.total_seconds() // 60)))
            how = (
                f"POST /api/v1/grants/{grant.pk}/extend/ with a duration and a reason, or ask IT to extend "
                "it in the admin"
            )
            record(
                "grant.expiry_warning",
                f"{grant.person.email}'s {grant.role} ends at "
                f"{readable.moment(grant.expires_at)} (in {left}). To keep it: {how}.",
                actor=Actor.system("expiry"),
                grant=grant,
                data={"expires_at": grant.expires_at, "leads": [format_iso_duration(d) for d in due]},
            )
            notify_person(
                grant.person,
                subject=f"Your {grant.role} access ends at {grant.expires_at:%Y-%m-%d %H:%M} UTC",
                body=f"Your access to {grant.role} ends at {readable.moment(grant.expires_at)}.\nTo extend it: {how}.",
                button=("Extend", EXTEND_ACTION, str(grant.pk)),  # Slack only: calls the extension service
            )
    except IntegrityError:
        return False  # another sweep sent it
    return True


def send_expiry_warnings(now: datetime | None = None) -> int:
    """Warn every active grant whose warning time has come, once per lead and expiry."""
    now = now or timezone.now()
    leads = warning_leads()
    if not leads:
        return 0
    candidates = (
        Grant.objects.filter(status=Grant.Status.ACTIVE, expires_at__gt=now, expires_at__lte=now + leads[-1])
        .select_related("person", "role__application", "request")
        .order_by("expires_at")
    )
    sent_keys = set(
        ExpiryWarning.objects.filter(grant__in=candidates).values_list("grant_id", "lead_seconds", "expires_at")
    )
    sent = 0
    for grant in candidates:
        due = [
            lead
            for lead in _due_leads(grant, now, leads)
            if (grant.pk, int(lead.total_seconds()), grant.expires_at) not in sent_keys
        ]
        if due and _warn(grant, due):
            sent += 1
    return sent


#: Grants falling due closer together than this are ended in one batch: at most this late, and far
#: fewer write transactions when thousands expire in the same minute.
TICK_SECONDS = 0.5
#: The longest the timer waits before it looks again (for grants activated or extended meanwhile).
POLL_SECONDS = 5.0


def seconds_to_next_expiry(poll_seconds: float = POLL_SECONDS) -> float:
    """How long the timer may wait: until the next active grant's end, between a tick and a poll."""
    now = timezone.now()
    upcoming = (
        Grant.objects.filter(status=Grant.Status.ACTIVE, expires_at__gt=now)
        .order_by("expires_at")
        .values_list("expires_at", flat=True)
        .first()
    )
    if upcoming is None:
        return poll_seconds
    return min(max((upcoming - now).total_seconds(), TICK_SECONDS), poll_seconds)


def run_expiry_timer(
    *,
    should_stop: Callable[[], bool],
    wait: Callable[[float], object],
    poll_seconds: float = POLL_SECONDS,
    ended: Callable[[int], object] = lambda count: None,
) -> int:
    """The expiry timer process's loop: end every due grant, wait for the next expiry, again, until
    `should_stop()`; `ended(count)` is told after each pass that ended grants. Several timers (or
    the minute sweep) at once are harmless: expiry is idempotent."""
    expired = 0
    while not should_stop():
        count = bulk_expiry.expire_due_grants()
        expired += count
        if count:
            ended(count)
        if should_stop():
            break
        wait(seconds_to_next_expiry(poll_seconds))
    return expired


#: seconds the removal lane waits, with nothing due, before it looks again (unless woken)
LANE_IDLE_SECONDS = 1.0
#: seconds between two of the lane's sweeps of the membership outbox (the schedule's is a minute)
LANE_SWEEP_SECONDS = 5.0


def run_removal_lane(
    *,
    should_stop: Callable[[], bool],
    wait: Callable[[float], object],
    idle_seconds: float = LANE_IDLE_SECONDS,
    sweep_seconds: float = LANE_SWEEP_SECONDS,
    clock: Callable[[], float] = time.monotonic,
) -> int:
    """The expiry timer's second loop: perform due removals (expiries and revocations) as soon as
    they are queued, so they never wait behind the task cluster's queue of grants, emails or bulk
    work. The cluster's workers take them too (a task claims the most urgent rows first): every
    claim is conditional, so each removal is made once. Every `sweep_seconds` it also hands the
    workers any due change no task covers (changes given back until a rate-limit reset resume
    within seconds of it, not at the next minute's sweep)."""
    removed, swept_at = 0, clock()
    while not should_stop():
        count = provisioning.deliver_urgent()
        removed += count
        if clock() - swept_at >= sweep_seconds:
            provisioning.recover_changes()
            swept_at = clock()
        if not count:
            wait(idle_seconds)
    return removed


class RemovalLane:
    """`run_removal_lane` on a thread of its own, woken as soon as the timer ended grants."""

    def __init__(self, stop: threading.Event, *, retry_seconds: float = 5.0) -> None:
        self.stop, self.removed, self.retry_seconds = stop, 0, retry_seconds
        self._woken = threading.Event()
        self._thread = threading.Thread(target=self._run, name="removal-lane", daemon=True)
        self._thread.start()

    def wake(self, count: int = 0) -> None:
        self._woken.set()

    def _wait(self, seconds: float) -> None:
        self._woken.wait(seconds)
        self._woken.clear()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    self.removed += run_removal_lane(should_stop=self.stop.is_set, wait=self._wait)
                except Exception:  # a database restart, or a bug: the cluster covers meanwhile
                    logger.exception("removal lane failed; starting again in %g s", self.retry_seconds)
                    close_old_connections()
                    self.stop.wait(self.retry_seconds)
        finally:
            connections.close_all()

    def join(self) -> int:
        self._woken.set()
        self._thread.join(timeout=60)
        return self.removed
