"""The expiry timer process: ends each grant on the second, picks up new grants, stops cleanly."""

from __future__ import annotations

import os
import signal
import threading
from datetime import timedelta
from io import StringIO

import time_machine
from django.core.management import call_command

from governance.grants.expiry import POLL_SECONDS, run_expiry_timer
from governance.management.commands.expiry_timer import Command
from governance.models import Grant
from tests.test_time_bound import T0, granted


class Clock:
    """The timer's wait: moves frozen time on instead of sleeping, and stops the loop on cue."""

    def __init__(self, traveller, stop_when):
        self.traveller, self.stop_when, self.waits = traveller, stop_when, []

    def wait(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.traveller.shift(timedelta(seconds=seconds))

    def should_stop(self) -> bool:
        return self.stop_when() or len(self.waits) > 50


def test_it_ends_a_grant_within_the_second_of_its_expiry(company, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        grant = granted(company, django_capture_on_commit_callbacks, role="reader", duration=timedelta(minutes=1))
    with time_machine.travel(grant.expires_at - timedelta(seconds=12), tick=False) as traveller:
        clock = Clock(traveller, lambda: Grant.objects.filter(pk=grant.pk, status=Grant.Status.EXPIRED).exists())
        with django_capture_on_commit_callbacks(execute=True):
            assert run_expiry_timer(should_stop=clock.should_stop, wait=clock.wait) == 1
    grant.refresh_from_db()
    assert clock.waits == [POLL_SECONDS, POLL_SECONDS, 2.0]  # polls, then exactly up to the expiry
    assert timedelta(0) <= grant.ended_at - grant.expires_at < timedelta(seconds=1)
    assert grant.removed_at is not None  # the removal went through the outbox to the provider


def test_it_sees_a_grant_activated_while_it_waits(company, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False) as traveller:
        grants: list[Grant] = []

        def wait(seconds: float) -> None:
            waits.append(seconds)
            traveller.shift(timedelta(seconds=seconds))
            if not grants:  # nothing was due when the timer started waiting
                grants.append(
                    granted(company, django_capture_on_commit_callbacks, role="reader", duration=timedelta(seconds=8))
                )

        waits: list[float] = []
        done = lambda: bool(grants) and Grant.objects.filter(pk=grants[0].pk, status="expired").exists()  # noqa: E731
        with django_capture_on_commit_callbacks(execute=True):
            assert run_expiry_timer(should_stop=lambda: done() or len(waits) > 20, wait=wait) == 1
    grants[0].refresh_from_db()
    assert waits[0] == POLL_SECONDS  # no grant at all: it polls
    assert grants[0].ended_at - grants[0].expires_at < timedelta(seconds=1)


def test_once_ends_what_is_due_and_exits(company, django_capture_on_commit_callbacks):
    with time_machine.travel(T0, tick=False):
        grant = granted(company, django_capture_on_commit_callbacks, role="reader", duration=timedelta(minutes=1))
    out = StringIO()
    with (
        time_machine.travel(grant.expires_at + timedelta(seconds=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        call_command("expiry_timer", "--once", stdout=out)
    grant.refresh_from_db()
    assert out.getvalue().strip() == "expired: 1" and grant.status == Grant.Status.EXPIRED


def test_sigterm_stops_the_timer_between_passes():
    stop = threading.Event()
    previous = signal.getsignal(signal.SIGTERM), signal.getsignal(signal.SIGINT)
    try:
        Command._stop_on_signals(stop)
        os.kill(os.getpid(), signal.SIGTERM)
        assert stop.wait(5)
    finally:
        signal.signal(signal.SIGTERM, previous[0])
        signal.signal(signal.SIGINT, previous[1])


def test_a_non_positive_poll_is_refused():
    import pytest
    from django.core.management.base import CommandError

    with pytest.raises(CommandError, match="--poll must be a positive number"):
        call_command("expiry_timer", "--poll", "0")


def test_the_removal_lane_removes_without_the_task_queue(company, django_capture_on_commit_callbacks):
    from governance.grants.expiry import run_removal_lane
    from governance.services import expire_due_grants
    from provisioning.models import LocalMembership, MembershipChange

    with time_machine.travel(T0, tick=False):
        grant = granted(company, django_capture_on_commit_callbacks, role="reader", duration=timedelta(minutes=1))
    with time_machine.travel(grant.expires_at + timedelta(seconds=1), tick=False):
        with django_capture_on_commit_callbacks(execute=False):  # the queued task never runs
            assert expire_due_grants() == 1
        waits: list[float] = []
        removed = run_removal_lane(should_stop=lambda: bool(waits), wait=waits.append)
    grant.refresh_from_db()
    assert removed == 1 and waits == [1.0]  # one removal made, then idle
    assert grant.removed_at is not None
    assert not LocalMembership.objects.filter(person=company.bob).exists()
    assert MembershipChange.objects.get(action="remove").status == "succeeded"


def test_the_removal_lane_hands_out_changes_given_back_until_a_reset(company, django_capture_on_commit_callbacks):
    from governance.grants.expiry import run_removal_lane
    from provisioning.models import MembershipChange
    from provisioning.outbox import services as provisioning

    with django_capture_on_commit_callbacks(execute=False):
        change = provisioning.queue_change(action="add", person=company.bob, group=company.readers)
    MembershipChange.objects.filter(pk=change.pk).update(enqueued_at=None)  # given back: no task covers it
    ticks = iter([0.0, 6.0, 6.0, 12.0])
    waits: list[float] = []
    with django_capture_on_commit_callbacks(execute=True):
        run_removal_lane(should_stop=lambda: len(waits) >= 1, wait=waits.append, clock=lambda: next(ticks))
    change.refresh_from_db()
    assert change.status == "succeeded"  # handed to a worker by the lane's sweep, five seconds on
