"""A directory sync renews a heartbeat while it runs; one that died is marked failed and blocks nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from provisioning.models import SyncRun
from provisioning.sync.lease import fail_abandoned_runs
from provisioning.sync.services import sync_directory
from provisioning.tasks import fail_abandoned_syncs
from tests.fake_directory import FakeDirectory

T0 = datetime(2026, 11, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def idp(db) -> FakeDirectory:
    directory = FakeDirectory("leaseidp").install()
    for n in range(3):
        directory.user(f"u{n}", f"person{n}@example.com")
    directory.group("g1", "staff", "u0", "u1")
    return directory


def test_a_run_silent_past_the_lease_is_failed_and_the_next_sync_starts(idp, settings):
    lease = settings.GATEHOUSE["SYNC_LEASE_SECONDS"]
    dead = SyncRun.objects.create(connector="leaseidp", started_at=T0, heartbeat_at=T0)
    with time_machine.travel(T0 + timedelta(seconds=lease + 1), tick=False):
        run = sync_directory("leaseidp")
    dead.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert dead.status == SyncRun.Status.FAILED and dead.error.startswith("abandoned: no sign of life")
    assert dead.finished_at == T0 + timedelta(seconds=lease + 1)


def test_a_run_that_beat_recently_still_blocks_a_second_one(idp, settings):
    lease = settings.GATEHOUSE["SYNC_LEASE_SECONDS"]
    started = T0 - timedelta(hours=5)  # long-running, but alive
    alive = SyncRun.objects.create(connector="leaseidp", started_at=started, heartbeat_at=T0)
    with time_machine.travel(T0 + timedelta(seconds=lease - 1), tick=False):
        run = sync_directory("leaseidp")
    alive.refresh_from_db()
    assert run.status == SyncRun.Status.FAILED and "Another sync of leaseidp is running" in run.error
    assert alive.status == SyncRun.Status.RUNNING


def test_a_long_sync_renews_its_heartbeat_as_it_goes(idp, settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "SYNC_LEASE_SECONDS": 100}
    with time_machine.travel(T0, tick=False) as traveller:
        beats = []

        def iter_groups():  # the provider takes its time
            traveller.shift(timedelta(seconds=30))
            beats.append(SyncRun.objects.get(connector="leaseidp").heartbeat_at)
            yield from FakeDirectory.iter_groups(idp)

        idp.iter_groups = iter_groups
        run = sync_directory("leaseidp")
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    run.refresh_from_db()
    assert beats == [T0]  # at the start of the run
    assert run.heartbeat_at == T0 + timedelta(seconds=30)  # renewed when the group listing reported


def test_the_sweep_marks_dead_runs_of_every_directory(db, settings):
    lease = settings.GATEHOUSE["SYNC_LEASE_SECONDS"]
    SyncRun.objects.create(connector="one", started_at=T0, heartbeat_at=T0)
    SyncRun.objects.create(connector="two", started_at=T0)  # recorded before heartbeats: its start counts
    SyncRun.objects.create(connector="three", started_at=T0, heartbeat_at=T0 + timedelta(seconds=lease))
    with time_machine.travel(T0 + timedelta(seconds=lease + 1), tick=False):
        assert fail_abandoned_syncs() == 2
        assert fail_abandoned_runs() == 0
    assert set(SyncRun.objects.filter(status="running").values_list("connector", flat=True)) == {"three"}


def test_a_slow_run_marked_abandoned_keeps_that_verdict_when_it_ends(idp, settings):
    lease = settings.GATEHOUSE["SYNC_LEASE_SECONDS"]
    with time_machine.travel(T0, tick=False) as traveller:

        def iter_groups():  # silent past the lease; the sweep gives the run up meanwhile
            traveller.shift(timedelta(seconds=lease + 1))
            assert fail_abandoned_runs() == 1
            yield from FakeDirectory.iter_groups(idp)

        idp.iter_groups = iter_groups
        run = sync_directory("leaseidp")
    stored = SyncRun.objects.get(pk=run.pk)
    assert stored.status == SyncRun.Status.FAILED
    assert stored.error.startswith("abandoned: no sign of life")
    assert stored.error.endswith("the run was still alive and ended later (succeeded)")
    assert stored.finished_at == T0 + timedelta(seconds=lease + 1)  # when it was given up
    assert stored.created == run.created == 3  # what it did is still counted
    assert run.status == stored.status and run.error == stored.error
