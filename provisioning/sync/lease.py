"""The lease of a running directory sync: a heartbeat renewed as it reports progress, and the
sweep that marks failed a run whose heartbeat went quiet (its process died)."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from provisioning.models import SyncRun
from provisioning.sync.run_state import Progress


def lease() -> timedelta:
    """How long a running sync may stay silent before it is taken to have died."""
    return timedelta(seconds=settings.GATEHOUSE["SYNC_LEASE_SECONDS"])


def fail_abandoned_runs(connector_name: str | None = None) -> int:
    """Mark failed every running sync whose heartbeat is older than the lease (its process died)."""
    now = timezone.now()
    cutoff = now - lease()
    silent = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    runs = SyncRun.objects.filter(silent, status=SyncRun.Status.RUNNING)
    if connector_name is not None:
        runs = runs.filter(connector=connector_name)
    seconds = int(lease().total_seconds())
    return runs.update(
        status=SyncRun.Status.FAILED,
        finished_at=now,
        error=f"abandoned: no sign of life for {seconds} s (the process running it stopped)",
    )


def beating(run: SyncRun, progress: Progress) -> Progress:
    """`progress`, also renewing the run's heartbeat (at most every tenth of the lease)."""
    every = lease() / 10
    last = [run.heartbeat_at or timezone.now()]

    def beat(stage: str, done: int, total: int | None) -> None:
        now = timezone.now()
        if now - last[0] >= every:
            last[0] = run.heartbeat_at = now
            SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(heartbeat_at=now)
        progress(stage, done, total)

    return beat
