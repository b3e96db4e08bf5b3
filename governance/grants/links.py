"""Which membership changes belong to a grant: the one place that knows how that link is stored.

Everything in governance that asks "which changes are this grant's" or writes "a change for this
grant" goes through these functions, so storing the link differently is an edit here only.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from django.db.models import QuerySet

from catalog.models import IdpGroup
from governance.models import Grant
from provisioning.models import MembershipChange
from provisioning.outbox import services as provisioning


def changes_of(grant: Grant) -> QuerySet[MembershipChange]:
    """Every membership change made for `grant`."""
    return MembershipChange.objects.filter(grant_id=grant.pk)


def grant_id_of(change: MembershipChange) -> int | None:
    """The grant a change was made for, or None (standing access removed, or a change of no grant)."""
    return change.grant_id


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


def change_for(grant: Grant, *, action: str, group_id: int, **fields: Any) -> MembershipChange:
    """An unsaved change of `grant`'s person in one group, made for `grant` (write it with queue_changes)."""
    return MembershipChange(action=action, person_id=grant.person_id, group_id=group_id, grant=grant, **fields)


def queue_changes(changes: list[MembershipChange]) -> list[MembershipChange]:
    """Write changes built by `change_for` to the outbox in one INSERT (kept ones are not run)."""
    return provisioning.queue_changes(changes)


def queue_change(grant: Grant, *, action: str, group: IdpGroup) -> MembershipChange:
    """Write one change for `grant` to the outbox; it runs after the transaction commits."""
    return provisioning.queue_change(action=action, person=grant.person, group=group, grant=grant)
