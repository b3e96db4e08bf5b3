"""Directory and catalog sync: mirror a provider's people, groups, mapped memberships and applications.

Reads go through the connector interface only, outside any transaction; each phase then writes in
bulk inside its own transaction. Every write compares with what the database holds first, so a run
over an unchanged directory issues no INSERT, UPDATE or DELETE (besides its own SyncRun row).

A run fails (and applies nothing of the phase that failed) when the users or groups cannot be
read, or when the user listing looks incomplete (empty, or sharply shorter than last time).
Problems with one group or with the applications are recorded on the run (`SyncProblem`) and
the rest of the run goes on; the run then still succeeds.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import IdpGroup, Person
from provisioning.connectors import Connector, ConnectorError, CursorExpired, available, connector_for
from provisioning.models import SyncCursor, SyncProblem, SyncRun

from .groups import propose_applications, sync_groups
from .lease import beating, fail_abandoned_runs
from .memberships import start_full_pass_reads, sync_memberships
from .people import sync_people
from .run_state import Progress, RunState, SyncAborted, sync_setting

logger = logging.getLogger(__name__)

#: incremental runs re-read this much before the last run started (clock skew with the provider)
OVERLAP = timedelta(minutes=5)
RUN_COUNTS = ("created", "updated", "deactivated", "suspended", "groups", "memberships", "applications", "errors")

__all__ = [
    "SyncAborted",
    "SyncRefused",
    "changes_since",
    "directories_to_sync",
    "sync_all_directories",
    "sync_directory",
]


class SyncRefused(Exception):
    """No such connector in this deployment; nothing was written."""


def _no_progress(stage: str, done: int, total: int | None) -> None:
    pass


def sync_directory(
    connector_name: str, progress: Progress | None = None, *, allow_shrink: bool = False, full: bool = False
) -> SyncRun:
    """Mirror one provider into the catalog and return the run. Provider errors fail the run (not raised).

    `allow_shrink` accepts a listing much shorter than the last one (after IT checked that the
    drop is real); otherwise such a listing fails the run. A provider that lists changes since a
    time is read incrementally between full passes (GATEHOUSE_SYNC_FULL_EVERY_HOURS); `full`
    (and `allow_shrink`) force a full pass.
    """
    progress = progress or _no_progress
    if connector_name not in available():
        raise SyncRefused(f"No connector named {connector_name!r} (available: {', '.join(available())}).")
    run = _start(connector_name)
    if run.status == SyncRun.Status.FAILED:
        return run
    progress = beating(run, progress)
    state = RunState.from_settings(allow_shrink=allow_shrink)
    connector: Connector | None = None
    try:
        connector = connector_for(connector_name)
        state.since = changes_since(connector_name, connector, full=full or allow_shrink)
        try:
            _mirror(connector, connector_name, run, state, progress)
        except CursorExpired as error:  # the provider forgot where its change listing was: read it all
            logger.info("sync of %s: %s; reading the whole directory instead", connector_name, error)
            state = RunState.from_settings(allow_shrink=allow_shrink)
            _mirror(connector, connector_name, run, state, progress)
    except (ConnectorError, SyncAborted) as error:
        logger.warning("sync of %s failed: %s", connector_name, error)
        return _finish(run, state, SyncRun.Status.FAILED, str(error))
    except Exception as error:
        _finish(run, state, SyncRun.Status.FAILED, f"unexpected error: {error!r}")
        raise
    finally:
        if connector is not None:
            connector.close()
    return _finish(run, state, SyncRun.Status.SUCCEEDED, "")


def _mirror(connector: Connector, connector_name: str, run: SyncRun, state: RunState, progress: Progress) -> None:
    """The phases of one run: people, groups, applications (full passes), memberships. Full
    passes start the reads of the last three first, so that connectors that can read them
    alongside the users listing."""
    run.kind = SyncRun.Kind.FULL if state.since is None else SyncRun.Kind.INCREMENTAL
    run.changes_since = state.since
    if connector.uses_change_cursor:
        if state.since is None:  # changes after this point are listed by the next incremental run
            connector.change_cursor = state.retry.call("start tracking changes", connector.begin_change_tracking)
        else:
            connector.change_cursor = dict(SyncCursor.objects.get(connector=connector_name).change_cursor)
    if state.since is None:  # what a full pass reads besides users is known: read it alongside them
        start_full_pass_reads(connector, connector_name, state)
    if connector_name == "local":  # its people are the catalog itself: read them, never re-stamp them
        state.people_by_external_id = {e.lower(): pk for e, pk in Person.objects.values_list("email", "pk")}
    else:
        sync_people(connector, connector_name, state, progress)
    groups = sync_groups(connector, connector_name, state, progress)
    if state.since is None:  # new applications are proposed by full passes
        propose_applications(connector, connector_name, groups, state, progress)
    sync_memberships(connector, connector_name, state, progress)
    if connector.uses_change_cursor:
        _remember_change_cursor(connector_name, connector.change_cursor)


def _remember_change_cursor(connector_name: str, change_cursor: dict[str, str]) -> None:
    """Keep where the provider's change listings resume; written only when it moved."""
    stored = SyncCursor.objects.filter(connector=connector_name).values_list("change_cursor", flat=True).first()
    if stored != change_cursor:
        SyncCursor.objects.update_or_create(connector=connector_name, defaults={"change_cursor": change_cursor})


def changes_since(connector_name: str, connector: Connector, *, full: bool = False) -> datetime | None:
    """The time an incremental run asks the provider for changes after, or None: a full pass.

    Full when asked, when the connector cannot list changes, when GATEHOUSE_SYNC_FULL_EVERY_HOURS
    is 0, when no full pass succeeded within that many hours, or before any cursor exists. An
    incremental run starts from the start of the last successful run, less `OVERLAP` (clock
    skew between Gatehouse and the provider): reading a change twice writes nothing.
    """
    hours = sync_setting("SYNC_FULL_EVERY_HOURS")
    if full or not hours or not connector.lists_changes_since:
        return None
    succeeded = SyncRun.objects.filter(connector=connector_name, status=SyncRun.Status.SUCCEEDED)
    last_full = succeeded.filter(kind=SyncRun.Kind.FULL).order_by("-started_at").values_list("started_at", flat=True)
    last_full_at = last_full.first()
    if last_full_at is None or last_full_at < timezone.now() - timedelta(hours=hours):
        return None
    cursor = SyncCursor.objects.filter(connector=connector_name).first()
    if cursor is None or (connector.uses_change_cursor and not cursor.change_cursor):
        return None
    last_at = succeeded.order_by("-started_at").values_list("started_at", flat=True).first()
    return last_at - OVERLAP


def _start(connector_name: str) -> SyncRun:
    """A new running SyncRun, or an unsaved failed one when another sync of this directory is running."""
    now = timezone.now()
    fail_abandoned_runs(connector_name)
    try:
        with transaction.atomic():
            return SyncRun.objects.create(connector=connector_name, started_at=now, heartbeat_at=now)
    except IntegrityError:
        return SyncRun(
            connector=connector_name,
            started_at=now,
            finished_at=now,
            status=SyncRun.Status.FAILED,
            error=f"Another sync of {connector_name} is running; this one was not started.",
        )


def _finish(run: SyncRun, state: RunState, status: str, error: str) -> SyncRun:
    """Record the run's outcome, unless the lease sweep already marked it abandoned (its heartbeat
    went quiet and another sync may have started since): that verdict stays, with what happened next."""
    for name in RUN_COUNTS:
        setattr(run, name, getattr(state, name))
    run.users_listed = state.users_listed if status == SyncRun.Status.SUCCEEDED else None
    run.status, run.error, run.finished_at = status, error[:4000], timezone.now()
    with transaction.atomic():
        if run.pk is None:
            run.save()
        elif not _record_outcome(run):
            _note_finished_after_abandoned(run, status)
        for problem in state.problems:
            problem.run = run
        SyncProblem.objects.bulk_create(state.problems)
    return run


def _record_outcome(run: SyncRun) -> bool:
    """Save the outcome of a run that is still recorded as running; False when it is not."""
    fields = [*RUN_COUNTS, "kind", "changes_since", "heartbeat_at", "users_listed", "status", "error", "finished_at"]
    values = {name: getattr(run, name) for name in fields}
    return bool(SyncRun.objects.filter(pk=run.pk, status=SyncRun.Status.RUNNING).update(**values))


def _note_finished_after_abandoned(run: SyncRun, status: str) -> None:
    """Keep the abandoned verdict and its time; add the counts and how the late run ended."""
    recorded = SyncRun.objects.get(pk=run.pk)
    note = f"{recorded.error}; the run was still alive and ended later ({status}"
    note += f": {run.error})" if run.error else ")"
    counts = {name: getattr(run, name) for name in (*RUN_COUNTS, "kind", "changes_since")}
    SyncRun.objects.filter(pk=run.pk).update(error=note[:4000], **counts)
    for name, value in {**counts, "error": note[:4000]}.items():
        setattr(run, name, value)
    run.status, run.finished_at, run.users_listed = recorded.status, recorded.finished_at, None


# All providers ----------------------------------------------------------------------------------


def directories_to_sync() -> list[str]:
    """Every connector an IdpGroup uses, except `local`: the local directory is the database itself."""
    names = set(IdpGroup.objects.values_list("connector", flat=True).distinct())
    names.discard("local")
    return sorted(names)


def sync_all_directories(progress: Progress | None = None) -> list[SyncRun]:
    """Sync every external directory in turn (one failing does not stop the others)."""
    runs = []
    for name in directories_to_sync():
        try:
            runs.append(sync_directory(name, progress))
        except SyncRefused as error:  # a group names a connector this deployment does not have
            logger.error("directory %s not synced: %s", name, error)
    return runs
