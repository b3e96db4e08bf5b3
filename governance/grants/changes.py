"""The provisioning work a grant calls for, linked to the grant (governance owns the link)."""

from __future__ import annotations

from django.db import transaction

from catalog.models import IdpGroup
from governance.models import Grant, GrantFulfilmentTask, GrantMembershipChange
from provisioning.models import FulfilmentTask, MembershipChange
from provisioning.outbox import services as provisioning


def queue_grant_change(grant: Grant, *, action: str, group: IdpGroup) -> MembershipChange:
    """Queue one change for `grant`; the link commits with the change, before any worker sees it."""
    with transaction.atomic():
        change = provisioning.queue_change(action=action, person=grant.person, group=group)
        GrantMembershipChange.objects.create(grant=grant, change=change)
    return change


def queue_grant_changes(planned: list[tuple[MembershipChange, Grant]]) -> list[MembershipChange]:
    """Queue many (change, grant) rows at once (kept-membership rows may be among them)."""
    with transaction.atomic():
        created = provisioning.queue_changes([change for change, _ in planned])
        links = [
            GrantMembershipChange(grant=grant, change=change)
            for change, (_, grant) in zip(created, planned, strict=True)
        ]
        GrantMembershipChange.objects.bulk_create(links, batch_size=1000)
    return created


def record_kept(grant: Grant, *, group: IdpGroup, reason: str) -> MembershipChange:
    with transaction.atomic():
        change = provisioning.record_kept_membership(person=grant.person, group=group, reason=reason)
        GrantMembershipChange.objects.create(grant=grant, change=change)
    return change


def open_grant_task(grant: Grant, *, action: str, instructions: str) -> FulfilmentTask:
    with transaction.atomic():
        task = provisioning.open_fulfilment_task(action=action, instructions=instructions)
        GrantFulfilmentTask.objects.create(grant=grant, task=task)
    return task


def grant_id_of_change(change: MembershipChange) -> int | None:
    return GrantMembershipChange.objects.filter(change_id=change.pk).values_list("grant_id", flat=True).first()


def grant_id_of_task(task: FulfilmentTask) -> int | None:
    return GrantFulfilmentTask.objects.filter(task_id=task.pk).values_list("grant_id", flat=True).first()
