"""Ending many grants at once: thousands can expire in the same minute.

Same outcome as ending them one by one (grants.expire_grant): statuses, audit events,
reference-counted removals and kept memberships; but a fixed number of queries per batch.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from catalog.models import Application, GroupMembership, IdpGroup, Person, RoleGroup
from governance.audit.services import Actor, record_many
from governance.grants import services as one_by_one
from governance.grants.changes import queue_grant_changes
from governance.models import Grant
from provisioning.models import MembershipChange

G = Grant.Status
C = MembershipChange
ACTOR = Actor.system("expiry")


def lock_people(person_ids: set[int]) -> None:
    """Serialise reference counting with concurrent grant changes of the same people."""
    list(Person.objects.select_for_update().filter(id__in=person_ids).order_by("id").values_list("id", flat=True))


def _due_ids(now: datetime, limit: int) -> list[int]:
    due = Grant.objects.filter(status=G.ACTIVE, expires_at__lte=now).order_by("expires_at", "id")
    return list(due.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[:limit])


def _groups_by_grant(grant_ids: list[int]) -> dict[int, set[int]]:
    rows = (
        C.objects.filter(grant_link__grant_id__in=grant_ids, action=C.Action.ADD)
        .exclude(status=C.Status.FAILED)
        .values_list("grant_link__grant_id", "group_id")
        .distinct()
    )
    out: dict[int, set[int]] = defaultdict(set)
    for grant_id, group_id in rows:
        out[grant_id].add(group_id)
    return out


def _covering(person_ids: set[int], group_ids: set[int]) -> dict[tuple[int, int], int]:
    """(person, group) -> a live grant (not one being ended) that still maps the person to the group."""
    role_groups = defaultdict(set)
    for role_id, group_id in RoleGroup.objects.filter(group_id__in=group_ids).values_list("role_id", "group_id"):
        role_groups[role_id].add(group_id)
    live = Grant.objects.filter(person_id__in=person_ids, status__in=Grant.LIVE, role_id__in=role_groups)
    covering = {}
    for grant_id, person_id, role_id in live.values_list("id", "person_id", "role_id"):
        for group_id in role_groups[role_id]:
            covering.setdefault((person_id, group_id), grant_id)
    return covering


def _plan(
    batch: list[Grant], now: datetime, *, why: str = "expired"
) -> tuple[list[tuple[C, Grant]], list[dict], set[int]]:
    """The removal and kept-membership rows, their audit events, and grants with nothing to remove."""
    groups_by_grant = _groups_by_grant([g.pk for g in batch])
    person_ids = {g.person_id for g in batch}
    group_ids = set().union(*groups_by_grant.values()) if groups_by_grant else set()
    covering = _covering(person_ids, group_ids)
    external = set(
        GroupMembership.objects.filter(
            person_id__in=person_ids, group_id__in=group_ids, origin=GroupMembership.Origin.EXTERNAL
        ).values_list("person_id", "group_id")
    )
    names = dict(IdpGroup.objects.filter(id__in=group_ids).values_list("id", "name"))
    changes, audits, nothing_to_remove = [], [], set()
    for grant in batch:
        queued = []
        for group_id in sorted(groups_by_grant.get(grant.pk, ())):
            key = (grant.person_id, group_id)
            if key in covering:
                reason = f"still granted by grant #{covering[key]}"
            elif key in external:
                reason = "the membership existed before Gatehouse granted it"
            else:
                changes.append((C(action=C.Action.REMOVE, person_id=grant.person_id, group_id=group_id), grant))
                queued.append(names[group_id])
                continue
            kept = C(
                action=C.Action.REMOVE,
                person_id=grant.person_id,
                group_id=group_id,
                status=C.Status.SKIPPED,
                result=C.Result.KEPT,
                last_error=reason,
                finished_at=now,
            )
            changes.append((kept, grant))
            audits.append(
                {
                    "action": "membership.kept",
                    "grant": grant,
                    "data": {"group": names[group_id], "reason": reason},
                    "message": f"{grant.person.email} stays in {names[group_id]}: {reason}.",
                }
            )
        if queued:
            audits.append(
                {
                    "action": "membership.queued",
                    "grant": grant,
                    "data": {"groups": queued},
                    "message": f"Queued: remove {grant.person.email} from {', '.join(queued)} ({why}).",
                }
            )
        else:
            nothing_to_remove.add(grant.pk)
    return changes, audits, nothing_to_remove


def expire_due_batch(*, limit: int = 500, now: datetime | None = None) -> int:
    """End up to `limit` due grants, earliest first, in one transaction. Returns how many ended."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = _due_ids(now, limit)
        if not ids:
            return 0
        batch = list(
            Grant.objects.filter(id__in=ids, status=G.ACTIVE)
            .select_related("person", "role__application", "request")
            .order_by("expires_at")
        )
        lock_people({g.person_id for g in batch})
        Grant.objects.filter(id__in=[g.pk for g in batch]).update(status=G.EXPIRED, ended_at=now, end_reason="expired")
        for grant in batch:
            grant.status, grant.ended_at, grant.end_reason = G.EXPIRED, now, "expired"
        record_many(
            [
                {
                    "action": "grant.expired",
                    "grant": g,
                    "data": {"from": G.ACTIVE},
                    "message": f"Grant #{g.pk} expired (scheduled for {g.expires_at.isoformat()}).",
                }
                for g in batch
            ],
            actor=ACTOR,
        )
        manual = [g for g in batch if g.role.application.provisioning_mode == Application.ProvisioningMode.MANUAL]
        for grant in manual:  # rare: a fulfilment task each, as when ending one grant
            one_by_one._remove_memberships(grant, why="expired")
        automatic = [g for g in batch if g not in manual]
        changes, audits, done = _plan(automatic, now)
        queue_grant_changes(changes)
        Grant.objects.filter(id__in=done).update(removed_at=now)
        audits += [
            {
                "action": "grant.removal_confirmed",
                "grant": g,
                "message": f"Every membership of grant #{g.pk} is removed.",
            }
            for g in automatic
            if g.pk in done
        ]
        record_many(audits, actor=Actor.system("provisioning"))
    return len(batch)
