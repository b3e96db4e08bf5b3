"""The memberships phase of a sync: mirror the members of every group a role maps to.

Each group is read on its own. A group the provider no longer has (404), one it will not let us
read, or one it keeps failing for after the run's retries is reported on the run and keeps the
memberships last seen; the other groups are mirrored as usual. So is a group whose member
listing shrank sharply since the last run (a broken read, most likely).
"""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from catalog.models import GroupMembership, IdpGroup
from provisioning.connectors import Connector, ConnectorError
from provisioning.models import MembershipChange, SyncCursor, SyncProblem

from .run_state import BATCH, Progress, RunState, batched, shrank_sharply, sync_setting

logger = logging.getLogger(__name__)

#: not_writable_reason of a group the provider answered 404 for; cleared when it is seen again
DELETED_REASON = "Deleted at the provider"


def _mapped_groups(connector_name: str) -> list[IdpGroup]:
    return list(IdpGroup.objects.filter(connector=connector_name, role_mappings__isnull=False).distinct())


def start_full_pass_reads(connector: Connector, connector_name: str, state: RunState) -> None:
    """Full runs: start listing the groups, the applications and the mapped groups' members now,
    so that the connector reads them while it lists the users (where it can); each phase then
    collects what was read for it."""
    state.members_read_started = timezone.now()
    group_ids = [g.external_id for g in _mapped_groups(connector_name)]
    connector.prefetch_full_pass(group_ids, sync_setting("SYNC_CONCURRENCY"))


def sync_memberships(connector: Connector, connector_name: str, state: RunState, progress: Progress) -> None:
    """Read the mapped groups' members (up to GATEHOUSE_SYNC_CONCURRENCY listings at once; in
    full runs those `start_full_pass_reads` started) and mirror them. Incremental runs read only the
    groups listed as changed and those whose members were not mirrored by the last run (newly
    mapped, or failed then)."""
    mapped = _mapped_groups(connector_name)
    cursor = SyncCursor.objects.filter(connector=connector_name).first()
    mirrored = set(cursor.member_groups) if cursor else set()
    if state.since is not None:
        mapped = [g for g in mapped if g.external_id in state.groups_changed or g.external_id not in mirrored]
    held_counts = dict(
        GroupMembership.objects.filter(group__in=mapped)
        .values("group_id")
        .annotate(n=Count("id"))
        .values_list("group_id", "n")
    )
    # A membership written after its group's listing started may be missing from it (see _write).
    read_started = state.members_read_started or timezone.now()
    listed: set[tuple[int, int]] = set()
    applied: list[IdpGroup] = []
    first_reads = connector.read_group_members([g.external_id for g in mapped], sync_setting("SYNC_CONCURRENCY"))
    for done, group in enumerate(mapped, start=1):
        pairs = _read_members(connector, group, state, first_reads.get(group.external_id))
        progress("members", done, len(mapped))
        if pairs is None:
            continue
        if not state.allow_shrink and shrank_sharply(held_counts.get(group.pk, 0), len(pairs)):
            state.problem(
                SyncProblem.Kind.MEMBERS_SHRANK,
                group.name,
                f"The provider listed {len(pairs)} members, {held_counts[group.pk]} were known: more of a drop "
                "than GATEHOUSE_SYNC_MAX_SHRINK allows, so the known memberships were kept. If it is real, "
                "sync with --allow-shrink once.",
                group=group,
            )
            continue
        listed |= pairs
        applied.append(group)
    _write(applied, listed, read_started, state)
    _clear_deleted_marks([g for g in applied if g.not_writable_reason.startswith(DELETED_REASON)])
    _remember_mirrored(connector_name, cursor, mirrored, mapped, applied, state)


def _remember_mirrored(connector_name, cursor, mirrored, attempted, applied, state: RunState) -> None:
    """Record which mapped groups' members are mirrored now; written only when that changes."""
    still_mapped = set(
        IdpGroup.objects.filter(connector=connector_name, role_mappings__isnull=False).values_list(
            "external_id", flat=True
        )
    )
    kept = mirrored - {g.external_id for g in attempted} if state.since is not None else set()
    now = sorted((kept | {g.external_id for g in applied}) & still_mapped)
    if cursor is None:
        SyncCursor.objects.create(connector=connector_name, member_groups=now)
    elif cursor.member_groups != now:
        cursor.member_groups = now
        cursor.save(update_fields=["member_groups"])


def _read_members(
    connector: Connector, group: IdpGroup, state: RunState, first_read: list[str] | ConnectorError | None
) -> set[tuple[int, int]] | None:
    """(person, group) pairs of the group's members, or None (reported) when they cannot be read.

    `first_read` is the concurrent first attempt's answer; a transient error there is retried
    here, within the run's retry budget, one group at a time."""
    pending = [first_read] if first_read is not None else []

    def read() -> list[str]:
        if pending:
            answer = pending.pop()
            if isinstance(answer, ConnectorError):
                raise answer
            return answer
        return list(connector.iter_group_members(group.external_id))

    try:
        member_ids = state.retry.call(f"list the members of {group.name}", read)
    except ConnectorError as error:
        _report_unreadable(group, error, state)
        return None
    pairs = set()
    for member_id in member_ids:
        person_id = state.people_by_external_id.get(str(member_id))
        if person_id is None:
            state.errors += 1
            logger.warning("sync: %s member %r is not a listed user; skipped", group.name, member_id)
            continue
        pairs.add((person_id, group.pk))
    return pairs


def _report_unreadable(group: IdpGroup, error: ConnectorError, state: RunState) -> None:
    if error.status == 404:
        state.problem(SyncProblem.Kind.GROUP_MISSING, group.name, str(error), group=group)
        reason = (
            f"{DELETED_REASON} (HTTP 404 when its members were read on {timezone.now():%Y-%m-%d %H:%M} UTC); "
            "bind the role to a group that exists."
        )
        IdpGroup.objects.filter(pk=group.pk).update(writable=False, not_writable_reason=reason)
    elif error.retryable:
        state.problem(
            SyncProblem.Kind.GROUP_UNAVAILABLE,
            group.name,
            f"{error} — still failing after this run's retries; the memberships last seen were kept.",
            group=group,
        )
    else:
        state.problem(SyncProblem.Kind.GROUP_UNREADABLE, group.name, str(error), group=group)


def _clear_deleted_marks(groups: list[IdpGroup]) -> None:
    """A group marked deleted whose members could be read again exists after all."""
    if groups:
        IdpGroup.objects.filter(pk__in=[g.pk for g in groups]).update(writable=True, not_writable_reason="")


def _write(applied: list[IdpGroup], listed: set[tuple[int, int]], read_started, state: RunState) -> None:
    group_ids = [g.pk for g in applied]
    rows = GroupMembership.objects.filter(group_id__in=group_ids).values("id", "person_id", "group_id", "since")
    held = {(m["person_id"], m["group_id"]): m for m in rows}
    added = listed - held.keys()
    # A row the outbox wrote while we were reading is newer than what we read: leave it.
    gone = [held[pair]["id"] for pair in held.keys() - listed if held[pair]["since"] < read_started]
    now = timezone.now()
    ours = _added_by_gatehouse(group_ids) if added else set()
    with transaction.atomic():
        GroupMembership.objects.bulk_create(
            [
                GroupMembership(
                    person_id=person_id,
                    group_id=group_id,
                    since=now,
                    origin=GroupMembership.Origin.GATEHOUSE
                    if (person_id, group_id) in ours
                    else GroupMembership.Origin.EXTERNAL,
                )
                for person_id, group_id in sorted(added)
            ],
            batch_size=BATCH,
            ignore_conflicts=True,  # the outbox may have recorded the same membership meanwhile
        )
        for batch in batched(gone):
            GroupMembership.objects.filter(id__in=batch).delete()
    state.memberships = len(added) + len(gone)


def _added_by_gatehouse(group_ids: list[int]) -> set[tuple[int, int]]:
    """Pairs whose latest settled change is an add that Gatehouse itself made."""
    latest: dict[tuple[int, int], tuple[str, str]] = {}
    rows = (
        MembershipChange.objects.filter(group_id__in=group_ids, status=MembershipChange.Status.SUCCEEDED)
        .order_by("id")
        .values_list("person_id", "group_id", "action", "result", "maybe_applied")
    )
    for person_id, group_id, action, result, maybe_applied in rows.iterator():
        # An "already a member" after an attempt that may have gone through counts as ours (see
        # provisioning.outbox.services._mirror_memberships).
        ours = result == MembershipChange.Result.ADDED or (
            result == MembershipChange.Result.ALREADY_MEMBER and maybe_applied
        )
        latest[(person_id, group_id)] = (action, ours)
    return {pair for pair, (action, ours) in latest.items() if action == "add" and ours}
