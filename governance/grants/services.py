"""Grants: provisioning after approval, activation, expiry, revocation (reference-counted)."""

from __future__ import annotations

import logging

from django.db import IntegrityError, transaction
from django.utils import timezone
from django_q.models import Schedule

from catalog.models import Application, GroupMembership, IdpGroup, Person
from governance.audit.services import Actor, record
from governance.errors import Conflict, NotAllowed
from governance.grants import changes
from governance.models import AccessRequest, Grant
from governance.requests.routing import resolve_policy
from governance.transitions import move_grant, move_request
from provisioning.models import FulfilmentTask, MembershipChange
from provisioning.outbox import services as provisioning

logger = logging.getLogger(__name__)

R = AccessRequest.Status
G = Grant.Status
C = MembershipChange.Status
EXPIRE_TASK = "governance.tasks.expire_grant"
#: names of the one-off schedules that end one grant each (never pruned by setup_schedules)
EXPIRY_SCHEDULE_PREFIX = "expire-grant-"


def start_grant(*, request: AccessRequest) -> Grant:
    """After the last approval: create the grant and queue its changes (never call an IdP here)."""
    role = request.role
    try:
        with transaction.atomic():
            grant = Grant.objects.create(
                request=request, person=request.beneficiary, role=role, duration=request.duration
            )
    except IntegrityError:
        raise Conflict(
            f"{request.beneficiary.email} already holds {role}; the database allows one live grant per person and "
            "role.",
            field="role",
            code="already_granted",
        ) from None
    record(
        "grant.created",
        f"Grant #{grant.pk} created for {grant.person.email}.",
        actor=Actor.system("approval"),
        grant=grant,
    )
    move_request(request, R.PROVISIONING, actor=Actor.system("approval"), message="Provisioning started.")
    if role.application.provisioning_mode == Application.ProvisioningMode.MANUAL:
        changes.open_grant_task(
            grant,
            action=FulfilmentTask.Action.GRANT,
            instructions=f"Give {grant.person.name} <{grant.person.email}> the role “{role.name}” in "
            f"{role.application.name}, then mark this task done.",
        )
        record(
            "fulfilment.opened",
            f"Manual fulfilment task opened for IT ({role.application.name}).",
            actor=Actor.system("provisioning"),
            grant=grant,
        )
        return grant
    groups = [m.group for m in role.group_mappings.select_related("group")]
    if not groups:
        _fail(grant, f"Role {role} maps to no identity-provider group; nothing can be provisioned.")
        return grant
    for group in groups:
        changes.queue_grant_change(grant, action=MembershipChange.Action.ADD, group=group)
    record(
        "membership.queued",
        f"Queued: add {grant.person.email} to {', '.join(g.name for g in groups)}.",
        actor=Actor.system("provisioning"),
        grant=grant,
        data={"groups": [g.name for g in groups]},
    )
    return grant


def _lock_grant(grant_id: int) -> Grant:
    return (
        Grant.objects.select_for_update(of=("self",))
        .select_related("person", "role__application", "request")
        .get(pk=grant_id)
    )


def membership_change_settled(change: MembershipChange) -> None:
    """Called by provisioning, inside its transaction, when a change succeeded or failed for good."""
    grant_id = changes.grant_id_of_change(change)
    if grant_id is None:
        return
    grant = _lock_grant(grant_id)
    verb = "added to" if change.action == MembershipChange.Action.ADD else "removed from"
    if change.status == C.FAILED:
        record(
            f"membership.{change.action}_failed",
            f"{change.person.email} could not be {verb} {change.group.name}: {change.last_error}",
            actor=Actor.system("provisioning"),
            grant=grant,
            data={"change": change.pk, "group": change.group.name, "error": change.last_error},
        )
        if change.action == MembershipChange.Action.ADD and grant.status == G.PENDING:
            _fail(grant, f"Adding {change.person.email} to {change.group.name} failed: {change.last_error}")
        return
    record(
        f"membership.{change.action}ed" if change.action == "add" else "membership.removed",
        f"{change.person.email} {verb} {change.group.name} ({change.get_result_display().lower()}).",
        actor=Actor.system("provisioning"),
        grant=grant,
        data={
            "change": change.pk,
            "group": change.group.name,
            "connector": change.group.connector,
            "result": change.result,
        },
    )
    if change.action == MembershipChange.Action.ADD and grant.status not in Grant.LIVE:
        _take_back(grant, change)
    elif change.action == MembershipChange.Action.ADD and grant.status == G.PENDING and _all_done(grant, "add"):
        activate_grant(grant)
    elif change.action == MembershipChange.Action.REMOVE and grant.removed_at is None and _all_done(grant, "remove"):
        _mark_removed(grant)


def _all_done(grant: Grant, action: str) -> bool:
    return not grant.membership_changes.filter(action=action).exclude(status__in=[C.SUCCEEDED, C.SKIPPED]).exists()


def _mark_removed(grant: Grant) -> None:
    grant.removed_at = timezone.now()
    grant.save(update_fields=["removed_at"])
    record(
        "grant.removal_confirmed",
        f"Every membership of grant #{grant.pk} is removed.",
        actor=Actor.system("provisioning"),
        grant=grant,
    )


def fulfilment_task_done(task: FulfilmentTask) -> None:
    """Called by provisioning when IT marks a manual task done."""
    grant = _lock_grant(changes.grant_id_of_task(task))
    actor = Actor.of_admin(task.done_by) if task.done_by else Actor.system("fulfilment")
    record(
        "fulfilment.done",
        f"IT marked the manual task “{task.get_action_display()}” done. {task.note}".strip(),
        actor=actor,
        grant=grant,
        data={"task": task.pk},
    )
    if task.action == FulfilmentTask.Action.GRANT and grant.status == G.PENDING:
        activate_grant(grant)
    elif task.action == FulfilmentTask.Action.REMOVE and grant.removed_at is None:
        _mark_removed(grant)


def activate_grant(grant: Grant) -> Grant:
    now = timezone.now()
    expires_at = now + grant.duration if grant.duration else None
    until = f" until {expires_at.isoformat()}" if expires_at else " with no end date"
    move_grant(
        grant,
        G.ACTIVE,
        actor=Actor.system("provisioning"),
        message=f"Grant #{grant.pk} active{until}.",
        starts_at=now,
        expires_at=expires_at,
    )
    if grant.request and grant.request.status == R.PROVISIONING:
        move_request(grant.request, R.FULFILLED, actor=Actor.system("provisioning"), message="Access is in place.")
    if expires_at:
        schedule_expiry(grant)
    return grant


def schedule_expiry(grant: Grant, *, announce: bool = True) -> None:
    """One task at the exact expiry time; the expiry timer and sweep catch any it misses."""

    def create() -> None:
        Schedule.objects.update_or_create(
            name=f"{EXPIRY_SCHEDULE_PREFIX}{grant.pk}",
            defaults={
                "func": EXPIRE_TASK,
                "args": str(grant.pk),
                "schedule_type": Schedule.ONCE,
                "repeats": -1,
                "next_run": grant.expires_at,
            },
        )

    transaction.on_commit(create)
    if not announce:
        return
    record(
        "grant.expiry_scheduled",
        f"Removal scheduled for {grant.expires_at.isoformat()}.",
        actor=Actor.system("expiry"),
        grant=grant,
        data={"expires_at": grant.expires_at},
    )


def _fail(grant: Grant, reason: str) -> None:
    move_grant(
        grant, G.FAILED, actor=Actor.system("provisioning"), message=reason, ended_at=timezone.now(), end_reason=reason
    )
    if grant.request and grant.request.status in (R.PROVISIONING, R.APPROVED):
        move_request(grant.request, R.FAILED, actor=Actor.system("provisioning"), message=reason, reason=reason)
    _remove_memberships(grant, why="provisioning failed; undoing the groups that were added")


def _groups_of(grant: Grant) -> list[IdpGroup]:
    """The groups this grant put (or is putting) the person in."""
    ids = (
        grant.membership_changes.filter(action=MembershipChange.Action.ADD)
        .exclude(status=C.FAILED)
        .values_list("group_id", flat=True)
    )
    return list(IdpGroup.objects.filter(id__in=set(ids)))


def _still_needed_by(grant: Grant, group: IdpGroup) -> Grant | None:
    return (
        Grant.objects.filter(person_id=grant.person_id, status__in=Grant.LIVE, role__group_mappings__group=group)
        .exclude(pk=grant.pk)
        .first()
    )


def _remove_memberships(grant: Grant, *, why: str) -> None:
    """Queue the removals this grant's end calls for, keeping what is still needed."""
    Person.objects.select_for_update().filter(pk=grant.person_id).first()  # serialise reference counting
    if grant.role.application.provisioning_mode == Application.ProvisioningMode.MANUAL:
        if grant.fulfilment_tasks.filter(
            action=FulfilmentTask.Action.GRANT, status=FulfilmentTask.Status.DONE
        ).exists():
            changes.open_grant_task(
                grant,
                action=FulfilmentTask.Action.REMOVE,
                instructions=f"Remove the role “{grant.role.name}” in {grant.role.application.name} from "
                f"{grant.person.name} <{grant.person.email}> ({why}), then mark this task done.",
            )
            record(
                "fulfilment.opened",
                "Manual removal task opened for IT.",
                actor=Actor.system("provisioning"),
                grant=grant,
            )
            return
        provisioning.cancel_open_fulfilment_tasks(tasks=grant.fulfilment_tasks.all())
        _mark_removed(grant)
        return
    queued = [group.name for group in _groups_of(grant) if _remove_or_keep(grant, group)]
    if queued:
        record(
            "membership.queued",
            f"Queued: remove {grant.person.email} from {', '.join(queued)} ({why}).",
            actor=Actor.system("provisioning"),
            grant=grant,
            data={"groups": queued},
        )
    else:
        _mark_removed(grant)


def _remove_or_keep(grant: Grant, group: IdpGroup) -> bool:
    """Queue the removal of the person from `group` unless it must stay; True when queued."""
    other = _still_needed_by(grant, group)
    membership = GroupMembership.objects.filter(person_id=grant.person_id, group=group).first()
    if other:
        _keep(grant, group, f"still granted by grant #{other.pk}")
    elif membership and membership.origin == GroupMembership.Origin.EXTERNAL:
        _keep(grant, group, "the membership existed before Gatehouse granted it")
    else:
        changes.queue_grant_change(grant, action=MembershipChange.Action.REMOVE, group=group)
        return True
    return False


def _take_back(grant: Grant, change: MembershipChange) -> None:
    """An add that succeeded after its grant ended (e.g. IT retried it): nothing stands behind
    that access any more, so it is removed again unless a removal is already on its way."""
    if grant.membership_changes.filter(
        action=MembershipChange.Action.REMOVE, group_id=change.group_id, id__gt=change.id
    ).exists():
        return
    Person.objects.select_for_update().filter(pk=grant.person_id).first()  # serialise reference counting
    if _remove_or_keep(grant, change.group):
        grant.removed_at = None
        grant.save(update_fields=["removed_at"])
        record(
            "membership.queued",
            f"Queued: remove {grant.person.email} from {change.group.name} (added after grant #{grant.pk} "
            f"was {grant.status}).",
            actor=Actor.system("provisioning"),
            grant=grant,
            data={"groups": [change.group.name]},
        )


def _keep(grant: Grant, group: IdpGroup, reason: str) -> None:
    changes.record_kept(grant, group=group, reason=reason)
    record(
        "membership.kept",
        f"{grant.person.email} stays in {group.name}: {reason}.",
        actor=Actor.system("provisioning"),
        grant=grant,
        data={"group": group.name, "reason": reason},
    )


def expire_grant(grant_id: int) -> Grant | None:
    """End one grant whose time has come; does nothing if it is not (or no longer) due."""
    with transaction.atomic():
        grant = _lock_grant(grant_id)
        now = timezone.now()
        if grant.status != G.ACTIVE or grant.expires_at is None or grant.expires_at > now:
            return None
        move_grant(
            grant,
            G.EXPIRED,
            actor=Actor.system("expiry"),
            message=f"Grant #{grant.pk} expired (scheduled for {grant.expires_at.isoformat()}).",
            ended_at=now,
            end_reason="expired",
        )
        _remove_memberships(grant, why="expired")
    return grant


def expire_due_grants(*, limit: int = 20000) -> int:
    """The expiry sweep: every active grant past its end, earliest first, in batches."""
    from governance.grants.bulk_expiry import expire_due_batch

    ended = 0
    while ended < limit and (count := expire_due_batch(limit=min(500, limit - ended))):
        ended += count
    return ended


def may_revoke(person: Person, grant: Grant) -> bool:
    """The holder, their manager, the application owner, or the policy's fallback approvers (IT)."""
    if person.id in (grant.person_id, grant.person.manager_id, grant.role.application.owner_id):
        return True
    policy = resolve_policy(grant.role)
    return bool(policy and policy.fallback_approvers.filter(pk=person.pk).exists())


def revoke_grant(*, grant: Grant, actor: Actor, reason: str, authorised: bool = False) -> Grant:
    """End a live grant now and remove its memberships. `authorised` skips the may_revoke check
    (admins, and services that decided already, such as reviews)."""
    with transaction.atomic():
        grant = _lock_grant(grant.pk)
        if not authorised and (actor.person is None or not may_revoke(actor.person, grant)):
            raise NotAllowed(f"{actor.label} may not revoke grant #{grant.pk}.", field="by")
        if grant.status not in Grant.LIVE:
            raise Conflict(
                f"Grant #{grant.pk} is {grant.status}; only pending or active grants can be revoked.", code="not_live"
            )
        move_grant(
            grant,
            G.REVOKED,
            actor=actor,
            message=f"Revoked by {actor.label}: {reason}",
            ended_at=timezone.now(),
            ended_by=actor.person,
            end_reason=reason,
        )
        fail_unfinished_request(grant, actor=actor, reason=reason)
        provisioning.cancel_open_fulfilment_tasks(tasks=grant.fulfilment_tasks.filter(action="grant"))
        _remove_memberships(grant, why=f"revoked by {actor.label}")
    return grant


def fail_unfinished_request(grant: Grant, *, actor: Actor, reason: str) -> None:
    """A grant revoked while still being provisioned fails its request."""
    if grant.request and grant.request.status in (R.PROVISIONING, R.APPROVED):
        move_request(
            grant.request,
            R.FAILED,
            actor=actor,
            message="Revoked before provisioning finished.",
            reason=f"revoked: {reason}",
        )


def remove_standing_membership(*, person: Person, group: IdpGroup, actor: Actor, reason: str) -> MembershipChange:
    """Remove access that no grant explains (found in the provider) through the outbox.

    Refuses when a live grant maps to the group: revoke that grant instead, so the record stays whole."""
    with transaction.atomic():
        Person.objects.select_for_update().filter(pk=person.pk).first()
        covering = (
            Grant.objects.filter(person=person, status__in=Grant.LIVE, role__group_mappings__group=group)
            .order_by("id")
            .first()
        )
        if covering:
            raise Conflict(
                f"{person.email} is in {group.name} through grant #{covering.pk}; revoke that grant instead.",
                code="granted",
                data={"grant": covering.pk},
            )
        change = provisioning.queue_change(action=MembershipChange.Action.REMOVE, person=person, group=group)
        record(
            "membership.standing_removal_queued",
            f"Queued: remove {person.email} from {group.name} (access found in the provider): {reason}",
            actor=actor,
            subject=person,
            data={"group": group.name, "connector": group.connector, "change": change.pk, "reason": reason},
        )
    return change
