"""The provisioning work a grant calls for, linked to the grant: the one place that knows how that
link is stored.

Everything in governance that asks "which changes (or manual tasks) are this grant's" or writes
"a change for this grant" goes through these functions, so storing the link differently (a link
table owned by governance) is an edit here only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db.models import QuerySet

from catalog.models import IdpGroup
from governance.models import Grant
from provisioning.models import FulfilmentTask, MembershipChange
from provisioning.outbox import services as provisioning


def queue_grant_change(grant: Grant, *, action: str, group: IdpGroup) -> MembershipChange:
    """Queue one change for `grant`; it runs after the transaction commits."""
    return provisioning.queue_change(action=action, person=grant.person, group=group, grant=grant)


def queue_grant_changes(planned: list[tuple[MembershipChange, Grant]]) -> list[MembershipChange]:
    """Queue many unsaved (change, grant) rows in one INSERT (kept-membership rows may be among them)."""
    for change, grant in planned:
        change.grant = grant
    return provisioning.queue_changes([change for change, _ in planned])


def open_grant_task(grant: Grant, *, action: str, instructions: str) -> FulfilmentTask:
    """Open a manual fulfilment task for `grant` (applications IT provisions by hand)."""
    return provisioning.open_fulfilment_task(grant=grant, action=action, instructions=instructions)


def grant_id_of_change(change: MembershipChange) -> int | None:
    """The grant a change was made for, or None (standing access removed, or a change of no grant)."""
    return change.grant_id


def grant_id_of_task(task: FulfilmentTask) -> int | None:
    return task.grant_id


def changes_of(grant: Grant) -> QuerySet[MembershipChange]:
    """Every membership change made for `grant`."""
    return grant.membership_changes.all()


def tasks_of(grant_ids: Iterable[int]) -> QuerySet[FulfilmentTask]:
    """Every manual fulfilment task opened for these grants."""
    return FulfilmentTask.objects.filter(grant_id__in=list(grant_ids))


def fulfilled(grant_ids: Iterable[int]) -> set[int]:
    """The grants among these whose access IT gave by hand (a done "grant" task)."""
    done = tasks_of(grant_ids).filter(action=FulfilmentTask.Action.GRANT, status=FulfilmentTask.Status.DONE)
    return set(done.values_list("grant_id", flat=True))


def added_groups(grant_ids: Iterable[int]) -> dict[int, set[int]]:
    """grant id -> the groups that grant put (or is putting) its person in: adds that did not fail."""
    rows = (
        MembershipChange.objects.filter(grant_id__in=list(grant_ids), action=MembershipChange.Action.ADD)
        .exclude(status=MembershipChange.Status.FAILED)
        .values_list("grant_id", "group_id")
        .distinct()
    )
    groups: dict[int, set[int]] = defaultdict(set)
    for grant_id, group_id in rows:
        groups[grant_id].add(group_id)
    return groups
