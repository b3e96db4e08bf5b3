"""The provisioning work a grant calls for, linked to the grant (governance owns the link).

Everything in governance that asks "which changes (or manual tasks) are this grant's" or writes
"a change for this grant" goes through these functions: how the link is stored is known here only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.db import transaction
from django.db.models import QuerySet

from catalog.models import IdpGroup
from governance.models import Grant, GrantFulfilmentTask, GrantMembershipChange
from governance.requests.touches import add_manual_touch
from provisioning.models import FulfilmentTask, MembershipChange
from provisioning.outbox import services as provisioning


def queue_grant_change(grant: Grant, *, action: str, group: IdpGroup) -> MembershipChange:
    """Queue one change for `grant`; the link commits with the change, before any worker sees it."""
    with transaction.atomic(savepoint=False):  # together, or not at all (no savepoint to roll back to)
        change = provisioning.queue_change(action=action, person=grant.person, group=group)
        GrantMembershipChange.objects.create(grant=grant, change=change)
    return change


def queue_grant_changes(planned: list[tuple[MembershipChange, Grant]]) -> list[MembershipChange]:
    """Queue many (change, grant) rows at once (kept-membership rows may be among them)."""
    with transaction.atomic(savepoint=False):
        created = provisioning.queue_changes([change for change, _ in planned])
        links = [
            GrantMembershipChange(grant=grant, change=change)
            for change, (_, grant) in zip(created, planned, strict=True)
        ]
        GrantMembershipChange.objects.bulk_create(links, batch_size=1000)
    return created


def open_grant_task(grant: Grant, *, action: str, instructions: str) -> FulfilmentTask:
    with transaction.atomic(savepoint=False):
        task = provisioning.open_fulfilment_task(action=action, instructions=instructions)
        GrantFulfilmentTask.objects.create(grant=grant, task=task)
        add_manual_touch(grant.request_id)
    return task


def grant_id_of_change(change: MembershipChange) -> int | None:
    return GrantMembershipChange.objects.filter(change_id=change.pk).values_list("grant_id", flat=True).first()


def grant_ids_of_changes(change_ids: Iterable[int]) -> dict[int, int]:
    """change id -> the grant it was made for (changes made for no grant are left out)."""
    rows = GrantMembershipChange.objects.filter(change_id__in=list(change_ids)).values_list("change_id", "grant_id")
    return dict(rows)


def grants_with_open(grant_ids: Iterable[int], *, action: str) -> set[int]:
    """The grants among these with a change of `action` not yet settled (succeeded or skipped)."""
    settled = (MembershipChange.Status.SUCCEEDED, MembershipChange.Status.SKIPPED)
    # From the grants' links, each change found by its key: a cost in the grants, not in the outbox's size.
    links = GrantMembershipChange.objects.filter(grant_id__in=list(grant_ids), change__action=action)
    return set(links.exclude(change__status__in=settled).order_by().values_list("grant_id", flat=True).distinct())


def grant_id_of_task(task: FulfilmentTask) -> int | None:
    return GrantFulfilmentTask.objects.filter(task_id=task.pk).values_list("grant_id", flat=True).first()


def changes_of(grant: Grant) -> QuerySet[MembershipChange]:
    """Every membership change made for `grant`."""
    return grant.membership_changes.all()


def tasks_of(grant_ids: Iterable[int]) -> QuerySet[FulfilmentTask]:
    """Every manual fulfilment task opened for these grants."""
    return FulfilmentTask.objects.filter(grant_link__grant_id__in=list(grant_ids))


def fulfilled(grant_ids: Iterable[int]) -> set[int]:
    """The grants among these whose access IT gave by hand (a done "grant" task)."""
    done = tasks_of(grant_ids).filter(action=FulfilmentTask.Action.GRANT, status=FulfilmentTask.Status.DONE)
    return set(done.values_list("grant_link__grant_id", flat=True))


def added_groups(grant_ids: Iterable[int]) -> dict[int, set[int]]:
    """grant id -> the groups that grant put (or is putting) its person in: adds that did not fail."""
    rows = (
        MembershipChange.objects.filter(grant_link__grant_id__in=list(grant_ids), action=MembershipChange.Action.ADD)
        .exclude(status=MembershipChange.Status.FAILED)
        .values_list("grant_link__grant_id", "group_id")
        .distinct()
    )
    groups: dict[int, set[int]] = defaultdict(set)
    for grant_id, group_id in rows:
        groups[grant_id].add(group_id)
    return groups
