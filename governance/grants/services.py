"""Grants: provisioning after approval, activation, the outbox's answers, revocation checks.

Ending grants (expiry, revocation) is `governance.grants.ending`; what an end does to memberships
is `governance.grants.release`.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Application, IdpGroup, Person
from governance.audit.services import Actor, audit_batch, record, record_many
from governance.errors import Conflict, NotAllowed
from governance.grants import changes, coverage, ending
from governance.grants.ending import end_grants, lock_grants
from governance.grants.release import lock_people, mark_removed, release_memberships, take_back
from governance.models import AccessRequest, Grant
from governance.requests.routing import resolve_policy
from governance.transitions import move_grant, move_grants, move_request, move_requests
from lib import readable
from lib.prefetch import keep_as_prefetched
from provisioning.models import FulfilmentTask, MembershipChange
from provisioning.outbox import services as provisioning

logger = logging.getLogger(__name__)

RequestStatus = AccessRequest.Status
GrantStatus = Grant.Status
PROVISIONING = Actor.system("provisioning")
#: names of the one-off schedules that ended one grant each in earlier versions (the expiry timer
#: ends every grant now; setup_schedules never prunes those left over: each runs once, then goes)
EXPIRY_SCHEDULE_PREFIX = "expire-grant-"


def start_grant(*, request: AccessRequest) -> Grant:
    """After the last approval: create the grant and queue its changes (never call an IdP here)."""
    role = request.role
    try:
        with transaction.atomic():
            grant = Grant.objects.create(
                request=request,
                person=request.beneficiary,
                role=role,
                duration=request.duration,
                requested_at=request.created_at,
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
    move_request(request, RequestStatus.PROVISIONING, actor=Actor.system("approval"), message="Provisioning started.")
    _keep_new_grant_detail(grant)
    if role.application.provisioning_mode == Application.ProvisioningMode.MANUAL:
        task = changes.open_grant_task(
            grant,
            action=FulfilmentTask.Action.GRANT,
            instructions=f"Give {grant.person.name} <{grant.person.email}> the role “{role.name}” in "
            f"{role.application.name}, then mark this task done.",
        )
        _keep_new_grant_detail(grant, tasks=[task])
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
    queued = [changes.queue_grant_change(grant, action=MembershipChange.Action.ADD, group=group) for group in groups]
    _keep_new_grant_detail(grant, changes=queued)
    record(
        "membership.queued",
        f"Queued: add {grant.person.email} to {', '.join(g.name for g in groups)}.",
        actor=Actor.system("provisioning"),
        grant=grant,
        data={"groups": [g.name for g in groups]},
    )
    return grant


def _keep_new_grant_detail(
    grant: Grant, *, changes: Sequence[MembershipChange] = (), tasks: Sequence[FulfilmentTask] = ()
) -> None:
    """A grant just created has only the changes and tasks made with it, and no extension: kept
    on it, so the request's answer renders them without reading them back."""
    keep_as_prefetched(grant, "membership_changes", changes)
    keep_as_prefetched(grant, "fulfilment_tasks", tasks)
    keep_as_prefetched(grant, "extensions", [])


def _lock_grant(grant_id: int) -> Grant:
    (grant,) = lock_grants([grant_id])
    return grant


def membership_change_failed(change: MembershipChange) -> None:
    """Called by provisioning, inside its transaction, when a change failed for good."""
    grant_id = changes.grant_id_of_change(change)
    if grant_id is None:
        return
    grant = _lock_grant(grant_id)
    verb = "added to" if change.action == MembershipChange.Action.ADD else "removed from"
    record(
        f"membership.{change.action}_failed",
        f"{change.person.email} could not be {verb} {change.group.name}: {change.last_error}",
        actor=PROVISIONING,
        grant=grant,
        data={"change": change.pk, "group": change.group.name, "error": change.last_error},
    )
    if change.action == MembershipChange.Action.ADD and grant.status == GrantStatus.PENDING:
        _fail(grant, f"Adding {change.person.email} to {change.group.name} failed: {change.last_error}")


def membership_changes_succeeded(settled: list[MembershipChange]) -> None:
    """Called by provisioning, inside its transaction, with a batch of changes that succeeded:
    their audit events together, then each grant moved on once all its changes of that kind
    are done. A fixed number of queries, whatever the batch's size."""
    grant_of = changes.grant_ids_of_changes(change.pk for change in settled)
    ours = [change for change in settled if change.pk in grant_of]
    if not ours:
        return
    # What settling reads: the role (the events' application) and the request (fulfilled on activation).
    grants = {grant.pk: grant for grant in lock_grants(set(grant_of.values()), reading=("role", "request"))}
    with audit_batch():
        record_many([_settled_event(change, grants[grant_of[change.pk]]) for change in ours], actor=PROVISIONING)
        adds = [change for change in ours if change.action == MembershipChange.Action.ADD]
        for change in adds:
            if grants[grant_of[change.pk]].status not in Grant.LIVE:
                take_back(grants[grant_of[change.pk]], change)
        _activate_where_added({grant_of[c.pk]: grants[grant_of[c.pk]] for c in adds})
        removes = [change for change in ours if change.action == MembershipChange.Action.REMOVE]
        _confirm_where_removed({grant_of[c.pk]: grants[grant_of[c.pk]] for c in removes})


def _settled_event(change: MembershipChange, grant: Grant) -> dict:
    verb = "added to" if change.action == MembershipChange.Action.ADD else "removed from"
    return {
        "action": "membership.added" if change.action == MembershipChange.Action.ADD else "membership.removed",
        "message": f"{change.person.email} {verb} {change.group.name} ({change.get_result_display().lower()}).",
        "grant": grant,
        "data": {
            "change": change.pk,
            "group": change.group.name,
            "connector": change.group.connector,
            "result": change.result,
        },
    }


def _activate_where_added(grants: dict[int, Grant]) -> None:
    """Activate the pending grants among these whose every add is done."""
    pending = {pk: grant for pk, grant in grants.items() if grant.status == GrantStatus.PENDING}
    if not pending:
        return
    unfinished = changes.grants_with_open(pending, action=MembershipChange.Action.ADD)
    activate_grants([grant for pk, grant in sorted(pending.items()) if pk not in unfinished])


def _confirm_where_removed(grants: dict[int, Grant]) -> None:
    """Mark removed the grants among these whose every removal is done."""
    open_ = {pk: grant for pk, grant in grants.items() if grant.removed_at is None}
    if not open_:
        return
    unfinished = changes.grants_with_open(open_, action=MembershipChange.Action.REMOVE)
    mark_removed([grant for pk, grant in sorted(open_.items()) if pk not in unfinished])


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
    if task.action == FulfilmentTask.Action.GRANT and grant.status == GrantStatus.PENDING:
        activate_grant(grant)
    elif task.action == FulfilmentTask.Action.REMOVE and grant.removed_at is None:
        mark_removed([grant])


def activate_grant(grant: Grant) -> Grant:
    activate_grants([grant])
    return grant


def activate_grants(grants: list[Grant]) -> None:
    """Pending grants whose access is in place become active from now (a fixed number of
    queries per distinct duration); their requests are fulfilled; the expiry timer ends them."""
    if not grants:
        return
    now = timezone.now()
    by_duration: dict[object, list[Grant]] = {}
    for grant in grants:
        by_duration.setdefault(grant.duration, []).append(grant)
    for duration, members in by_duration.items():
        expires_at = now + duration if duration else None
        until = f" until {readable.moment(expires_at)}" if expires_at else " with no end date"
        move_grants(
            members,
            GrantStatus.ACTIVE,
            actor=PROVISIONING,
            message=lambda grant, until=until: f"Grant #{grant.pk} active{until}.",
            starts_at=now,
            expires_at=expires_at,
        )
    provisioning_requests = [g.request for g in grants if g.request and g.request.status == RequestStatus.PROVISIONING]
    move_requests(provisioning_requests, RequestStatus.FULFILLED, actor=PROVISIONING, message="Access is in place.")
    announce_expiry([grant for grant in grants if grant.expires_at])


def announce_expiry(grants: list[Grant]) -> None:
    """Record when each grant's access will be removed. The expiry timer (`manage.py
    expiry_timer`, and the minute sweep behind it) removes it then: there is no task per grant."""
    record_many(
        [
            {
                "action": "grant.expiry_scheduled",
                "message": f"Removal scheduled for {readable.moment(grant.expires_at)}.",
                "grant": grant,
                "data": {"expires_at": grant.expires_at},
            }
            for grant in grants
        ],
        actor=Actor.system("expiry"),
    )


def _fail(grant: Grant, reason: str) -> None:
    move_grant(
        grant,
        GrantStatus.FAILED,
        actor=Actor.system("provisioning"),
        message=reason,
        ended_at=timezone.now(),
        end_reason=reason,
    )
    if grant.request and grant.request.status in (RequestStatus.PROVISIONING, RequestStatus.APPROVED):
        move_request(
            grant.request, RequestStatus.FAILED, actor=Actor.system("provisioning"), message=reason, reason=reason
        )
    release_memberships([grant], why="provisioning failed; undoing the groups that were added")


def expire_grant(grant_id: int) -> Grant | None:
    """End one grant whose time has come; does nothing if it is not (or no longer) due."""
    ended = end_grants([grant_id], outcome=ending.EXPIRED, actor=Actor.system("expiry"))
    return ended[0] if ended else None


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
        (grant,) = end_grants([grant.pk], outcome=ending.REVOKED, actor=actor, reason=reason)
    return grant


def remove_standing_membership(*, person: Person, group: IdpGroup, actor: Actor, reason: str) -> MembershipChange:
    """Remove access that no grant explains (found in the provider) through the outbox.

    Refuses when a live grant maps to the group: revoke that grant instead, so the record stays whole."""
    with transaction.atomic():
        lock_people([person.pk])
        covering = coverage.covering_grants([person.pk], [group.pk]).get((person.pk, group.pk))
        if covering:
            raise Conflict(
                f"{person.email} is in {group.name} through grant #{covering}; revoke that grant instead.",
                code="granted",
                data={"grant": covering},
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
