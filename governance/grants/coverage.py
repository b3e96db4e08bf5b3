"""Whether a grant explains a membership: the one rule under reference counting and drift.

A membership (person, group) is explained while some live grant (pending or active) of that
person has a role mapped to that group. Where it came from (`GroupMembership.origin`) does not
change that: a membership Gatehouse added and no live grant explains any more (its removal failed
or is still on its way) is unexplained access like one found in the provider. `origin` matters
only when a grant ends: a membership that existed before Gatehouse granted it is kept, not removed.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Exists, OuterRef, QuerySet

from catalog.models import GroupMembership
from governance.models import Grant

Pair = tuple[int, int]  # (person id, group id)

#: Why a membership stays when a grant that put it there ends and nothing else holds it.
PRE_EXISTING = "the membership existed before Gatehouse granted it"


def covering_grants(person_ids: Iterable[int], group_ids: Iterable[int]) -> dict[Pair, int]:
    """(person, group) -> the oldest live grant that maps that person to that group."""
    groups = set(group_ids)
    rows = (
        Grant.objects.filter(
            person_id__in=set(person_ids), status__in=Grant.LIVE, role__group_mappings__group_id__in=groups
        )
        .values_list("id", "person_id", "role__group_mappings__group_id")
        .order_by("id")
    )
    covering: dict[Pair, int] = {}
    for grant_id, person_id, group_id in rows:
        if group_id in groups:
            covering.setdefault((person_id, group_id), grant_id)
    return covering


def pre_existing(person_ids: Iterable[int], group_ids: Iterable[int]) -> set[Pair]:
    """The pairs whose membership was found in the provider rather than added by Gatehouse."""
    return set(
        GroupMembership.objects.filter(
            person_id__in=set(person_ids), group_id__in=set(group_ids), origin=GroupMembership.Origin.EXTERNAL
        ).values_list("person_id", "group_id")
    )


def keep_reason(pair: Pair, covering: dict[Pair, int], found: set[Pair]) -> str:
    """Why a grant's end must leave this membership in place, or "" when it is removed.

    The person leaves the group only when no other live grant maps them to it and the membership
    is not one Gatehouse found in the provider."""
    if pair in covering:
        return f"still granted by grant #{covering[pair]}"
    if pair in found:
        return PRE_EXISTING
    return ""


def unexplained_memberships(group_ids: Iterable[int] | QuerySet) -> QuerySet[GroupMembership]:
    """Memberships of these groups (ids, or a subquery of ids) that no live grant explains."""
    explained = Grant.objects.filter(
        person_id=OuterRef("person_id"), status__in=Grant.LIVE, role__group_mappings__group_id=OuterRef("group_id")
    )
    return GroupMembership.objects.filter(group_id__in=group_ids).filter(~Exists(explained))
