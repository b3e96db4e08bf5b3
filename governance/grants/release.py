"""What a grant's end does to the memberships it put in place, for one grant or a whole batch.

Every membership goes through one reference-count rule (`coverage.keep_reason`): the person leaves
the group only when nothing else explains it; otherwise the removal is recorded as kept. A fixed
number of queries per batch, whatever its size (manual applications: a task per grant).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.utils import timezone

from catalog.models import Application, IdpGroup, Person
from governance.audit.services import Actor, record, record_many
from governance.grants import changes, coverage
from governance.models import Grant
from provisioning.models import FulfilmentTask, MembershipChange
from provisioning.outbox import services as provisioning

PROVISIONING = Actor.system("provisioning")
REMOVE = MembershipChange.Action.REMOVE


def lock_people(person_ids: Iterable[int]) -> None:
    """Serialise reference counting with concurrent grant changes of the same people."""
    list(Person.objects.select_for_update().filter(id__in=set(person_ids)).order_by("id").values_list("id", flat=True))


@dataclass
class Plan:
    """The outbox rows and audit events a set of (grant, group) removals calls for."""

    changes: list[tuple[MembershipChange, Grant]] = field(default_factory=list)
    kept: dict[int, list[dict]] = field(default_factory=lambda: defaultdict(list))  # grant id -> audit events
    queued: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))  # grant id -> group names

    def events(self, grant: Grant, *, why: str) -> list[dict]:
        """The grant's audit events: what it kept, then what it queued for removal (if anything)."""
        events = list(self.kept.get(grant.pk, ()))
        names = sorted(self.queued.get(grant.pk, ()))
        if names:
            events.append(
                {
                    "action": "membership.queued",
                    "grant": grant,
                    "data": {"groups": names},
                    "message": f"Queued: remove {grant.person.email} from {', '.join(names)} ({why}).",
                }
            )
        return events


def plan_removals(pairs: list[tuple[Grant, int]], *, now: datetime) -> Plan:
    """For each (ended grant, group it added): a removal, or a kept record and its audit event."""
    person_ids = {grant.person_id for grant, _ in pairs}
    group_ids = {group_id for _, group_id in pairs}
    covering = coverage.covering_grants(person_ids, group_ids)
    found = coverage.pre_existing(person_ids, group_ids)
    names = dict(IdpGroup.objects.filter(id__in=group_ids).values_list("id", "name"))
    plan = Plan()
    for grant, group_id in pairs:
        reason = coverage.keep_reason((grant.person_id, group_id), covering, found)
        if not reason:
            plan.changes.append((_removal(grant, group_id), grant))
            plan.queued[grant.pk].append(names[group_id])
            continue
        kept = {"status": MembershipChange.Status.SKIPPED, "result": MembershipChange.Result.KEPT}
        plan.changes.append((_removal(grant, group_id, last_error=reason, finished_at=now, **kept), grant))
        plan.kept[grant.pk].append(
            {
                "action": "membership.kept",
                "grant": grant,
                "data": {"group": names[group_id], "reason": reason},
                "message": f"{grant.person.email} stays in {names[group_id]}: {reason}.",
            }
        )
    return plan


def _removal(grant: Grant, group_id: int, **fields) -> MembershipChange:
    return MembershipChange(action=REMOVE, person_id=grant.person_id, group_id=group_id, **fields)


def _removal_confirmed(grant: Grant) -> dict:
    return {
        "action": "grant.removal_confirmed",
        "grant": grant,
        "message": f"Every membership of grant #{grant.pk} is removed.",
    }


def mark_removed(grants: list[Grant], *, now: datetime | None = None) -> None:
    """Every membership of these grants is gone (or was never there): say so."""
    if not grants:
        return
    now = now or timezone.now()
    Grant.objects.filter(id__in=[grant.pk for grant in grants]).update(removed_at=now)
    for grant in grants:
        grant.removed_at = now
    record_many([_removal_confirmed(grant) for grant in grants], actor=PROVISIONING)


def release_memberships(grants: list[Grant], *, why: str, now: datetime | None = None) -> None:
    """Queue the removals the end of these grants calls for, keeping what is still needed."""
    if not grants:
        return
    now = now or timezone.now()
    lock_people(grant.person_id for grant in grants)
    manual = [g for g in grants if g.role.application.provisioning_mode == Application.ProvisioningMode.MANUAL]
    done = _release_manual(manual, why=why) if manual else []
    automatic = [grant for grant in grants if grant not in manual]
    added = changes.added_groups(grant.pk for grant in automatic)
    plan = plan_removals([(g, group_id) for g in automatic for group_id in sorted(added.get(g.pk, ()))], now=now)
    changes.queue_grant_changes(plan.changes)
    record_many([event for grant in automatic for event in plan.events(grant, why=why)], actor=PROVISIONING)
    mark_removed(done + [grant for grant in automatic if not plan.queued.get(grant.pk)], now=now)


def _release_manual(grants: list[Grant], *, why: str) -> list[Grant]:
    """Manual applications: IT removes what IT added (a task each); returns grants with nothing to remove."""
    fulfilled = changes.fulfilled(grant.pk for grant in grants)
    nothing_added = [grant for grant in grants if grant.pk not in fulfilled]
    for grant in grants:
        if grant.pk not in fulfilled:
            continue
        changes.open_grant_task(
            grant,
            action=FulfilmentTask.Action.REMOVE,
            instructions=f"Remove the role “{grant.role.name}” in {grant.role.application.name} from "
            f"{grant.person.name} <{grant.person.email}> ({why}), then mark this task done.",
        )
        record("fulfilment.opened", "Manual removal task opened for IT.", actor=PROVISIONING, grant=grant)
    if nothing_added:
        provisioning.cancel_open_fulfilment_tasks(tasks=changes.tasks_of(grant.pk for grant in nothing_added))
    return nothing_added


def take_back(grant: Grant, change: MembershipChange) -> None:
    """An add that succeeded after its grant ended (e.g. IT retried it): nothing stands behind
    that access any more, so it is removed again unless a removal is already on its way."""
    later_removal = changes.changes_of(grant).filter(action=REMOVE, group_id=change.group_id, id__gt=change.id)
    if later_removal.exists():
        return
    lock_people([grant.person_id])
    plan = plan_removals([(grant, change.group_id)], now=timezone.now())
    changes.queue_grant_changes(plan.changes)
    record_many(plan.kept.get(grant.pk, []), actor=PROVISIONING)
    if not plan.queued:
        return
    grant.removed_at = None
    grant.save(update_fields=["removed_at"])
    record(
        "membership.queued",
        f"Queued: remove {grant.person.email} from {change.group.name} (added after grant #{grant.pk} "
        f"was {grant.status}).",
        actor=PROVISIONING,
        grant=grant,
        data={"groups": [change.group.name]},
    )
