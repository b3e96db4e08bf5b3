"""Leavers: one service ends everything a person holds, and one record shows it until confirmed."""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone

from catalog.models import GroupMembership, Person
from governance.audit.services import Actor, record
from governance.errors import Conflict
from governance.grants.services import remove_standing_membership
from governance.lifecycle import evidence, ports, revocation
from governance.models import AccessRequest, Delegation, Grant, Offboarding
from governance.requests.decisions import cancel_request
from governance.requests.rerouting import reroute_steps
from lib import readable
from provisioning.models import FulfilmentTask, MembershipChange
from provisioning.outbox.services import complete_fulfilment_task

OS = Offboarding.Status
C = MembershipChange.Status
SYSTEM = Actor.system("lifecycle")


def offboard(
    *,
    person: Person,
    trigger: str,
    actor: Actor,
    reason: str,
    jira_issue_key: str = "",
    effective_at: datetime | None = None,
    departure: str = "",
) -> tuple[Offboarding, bool]:
    """Record an offboarding and, unless it is for later, end everything now.

    Idempotent on the person and the Jira issue key: returns (the first record, False) on a repeat."""
    key = (jira_issue_key or "").strip()
    if key and (existing := Offboarding.objects.filter(person=person, jira_issue_key=key).first()):
        return existing, False
    now = timezone.now()
    effective = effective_at or now
    try:
        with transaction.atomic():
            offboarding = Offboarding.objects.create(
                person=person,
                trigger=trigger,
                departure=departure or person.status,
                requested_by=actor.label[:254],
                reason=reason,
                jira_issue_key=key,
                effective_at=effective,
            )
            if effective > now:
                record(
                    "offboarding.scheduled",
                    f"Offboarding #{offboarding.pk} of {person.email} scheduled for "
                    f"{readable.moment(effective)}: {reason}",
                    actor=actor,
                    subject=person,
                    data={"offboarding": offboarding.pk, "effective_at": effective, "jira_issue_key": key},
                )
                return offboarding, True
            _execute(offboarding, actor=actor, now=now)
    except IntegrityError:
        existing = Offboarding.objects.filter(person=person, jira_issue_key=key).first() if key else None
        if existing is None:
            raise
        return existing, False
    return offboarding, True


def execute_scheduled(offboarding_id: int, *, now: datetime | None = None) -> Offboarding | None:
    """Carry out a scheduled offboarding now (due, or the person left for good meanwhile)."""
    now = now or timezone.now()
    with transaction.atomic():
        offboarding = Offboarding.objects.select_for_update().filter(pk=offboarding_id, status=OS.SCHEDULED).first()
        if offboarding is None:
            return None
        _execute(offboarding, actor=SYSTEM, now=now)
    return offboarding


def cancel_scheduled(*, person: Person, why: str) -> int:
    """Cancel a person's scheduled directory-triggered offboardings (they are active again)."""
    cancelled = 0
    with transaction.atomic():
        for offboarding in Offboarding.objects.select_for_update().filter(
            person=person, status=OS.SCHEDULED, trigger=Offboarding.Trigger.SYNC
        ):
            offboarding.status = OS.CANCELLED
            offboarding.save(update_fields=["status"])
            record(
                "offboarding.cancelled",
                f"Offboarding #{offboarding.pk} of {person.email} cancelled: {why}.",
                actor=SYSTEM,
                subject=person,
                data={"offboarding": offboarding.pk},
            )
            cancelled += 1
    return cancelled


def run_due_offboardings(*, now: datetime | None = None) -> int:
    """Scheduled offboardings whose time has come; a suspended person back at work is spared."""
    now = now or timezone.now()
    done = 0
    due = Offboarding.objects.filter(status=OS.SCHEDULED, effective_at__lte=now).select_related("person")
    for offboarding in due.order_by("effective_at", "id"):
        person = offboarding.person
        if offboarding.trigger == Offboarding.Trigger.SYNC and person.is_active:
            cancel_scheduled(person=person, why="active again before the grace period ended")
            continue
        done += execute_scheduled(offboarding.pk, now=now) is not None
    return done


# --- the effect ---------------------------------------------------------------------------------


def _execute(offboarding: Offboarding, *, actor: Actor, now: datetime) -> None:
    """Everything ends, in this transaction: grants, requests, routed steps, delegations, reviews."""
    person = Person.objects.select_for_update().get(pk=offboarding.person_id)
    reason = f"offboarding #{offboarding.pk}: {offboarding.reason}"
    grants = list(
        Grant.objects.filter(person=person, status__in=Grant.LIVE)
        .select_related("person", "role__application", "request")
        .order_by("id")
    )
    revoked = revocation.revoke_grants(grants, actor=actor, reason=reason, now=now)
    ended = {
        "grants": [_grant_line(g) for g in grants if g.pk in set(revoked)],
        "requests_cancelled": _cancel_open_requests(person, actor, reason),
        "steps_rerouted": reroute_steps(away=person, reason=f"{person.email} left"),
        "delegations_ended": _end_delegations(person, now, actor),
    }
    offboarding.grant_ids = revoked
    ended.update(ports.emit("leaver", offboarding=offboarding))
    ended["manual_tasks"] = _manual_tasks(revoked)
    offboarding.ended = ended
    offboarding.unexplained = _unexplained(person, revoked, actor, reason)
    offboarding.status, offboarding.started_at = OS.IN_PROGRESS, now
    offboarding.save(update_fields=["grant_ids", "ended", "unexplained", "status", "started_at"])
    event = record(
        "offboarding.started",
        f"Offboarding #{offboarding.pk} of {person.email}: {len(revoked)} grants revoked, "
        f"{len(ended['requests_cancelled'])} requests cancelled, {ended['steps_rerouted']} approval steps "
        f"re-routed, {ended['delegations_ended']} delegations ended, {len(ended['manual_tasks'])} manual "
        f"removals for IT, {len(offboarding.unexplained)} memberships no grant explains.",
        actor=actor,
        subject=person,
        data={
            "offboarding": offboarding.pk,
            "reason": offboarding.reason,
            "jira_issue_key": offboarding.jira_issue_key,
        },
    )
    evidence.comment_started(offboarding, event)
    if ended["manual_tasks"] or any(not u.get("change") for u in offboarding.unexplained):
        offboarding.ticket_update = evidence.open_manual_ticket(offboarding, event)
        offboarding.save(update_fields=["ticket_update"])
    _complete_if_done(offboarding, now=now)


def _grant_line(grant: Grant) -> dict:
    return {
        "id": grant.pk,
        "application": grant.role.application.name,
        "role": grant.role.name,
        "request": grant.request.jira_issue_key if grant.request else None,
    }


def _cancel_open_requests(person: Person, actor: Actor, reason: str) -> list[str]:
    open_requests = AccessRequest.objects.filter(
        Q(beneficiary=person) | Q(requester=person), status=AccessRequest.Status.PENDING_APPROVAL
    ).order_by("id")
    cancelled = []
    for request in open_requests:
        cancel_request(request=request, actor=actor, reason=reason, authorised=True)
        cancelled.append(str(request))
    return cancelled


def _end_delegations(person: Person, now: datetime, actor: Actor) -> int:
    """Delegations from or to the leaver stop now (future ones are withdrawn)."""
    both = Delegation.objects.filter(Q(person=person) | Q(delegate=person), ends_at__gt=now)
    future, _ = both.filter(starts_at__gte=now).delete()
    current = both.filter(starts_at__lt=now).update(ends_at=now)
    if future or current:
        record(
            "offboarding.delegations_ended",
            f"{current + future} delegations from or to {person.email} ended.",
            actor=actor,
            subject=person,
            data={"ended": current, "withdrawn": future},
        )
    return current + future


def _manual_tasks(grant_ids: list[int]) -> list[dict]:
    tasks = _open_removal_tasks(grant_ids).values_list(
        "id", "grant_link__grant_id", "grant_link__grant__role__application__name"
    )
    return [{"task": task, "grant": grant, "application": app} for task, grant, app in tasks.order_by("id")]


def _open_removal_tasks(grant_ids: list[int]):
    return FulfilmentTask.objects.filter(
        grant_link__grant_id__in=grant_ids, action=FulfilmentTask.Action.REMOVE, status=FulfilmentTask.Status.OPEN
    )


def _unexplained(person: Person, grant_ids: list[int], actor: Actor, reason: str) -> list[dict]:
    """Memberships left once every grant's removal is queued; removed too when the policy says so."""
    removing = MembershipChange.objects.filter(
        grant_link__grant_id__in=grant_ids, action=MembershipChange.Action.REMOVE
    )
    removing = set(removing.exclude(status=C.SKIPPED).values_list("group_id", flat=True))
    rows = GroupMembership.objects.filter(person=person).exclude(group_id__in=removing).select_related("group")
    remove = settings.GATEHOUSE["LEAVER_REMOVE_UNEXPLAINED"]
    listed = []
    for membership in rows.order_by("group__name"):
        entry = {
            "group_id": membership.group_id,
            "group": membership.group.name,
            "connector": membership.group.connector,
            "origin": membership.origin,
            "change": None,
        }
        if remove:
            try:
                change = remove_standing_membership(person=person, group=membership.group, actor=actor, reason=reason)
                entry["change"] = change.pk
            except Conflict as error:
                entry["note"] = error.message
        listed.append(entry)
    if listed:
        record(
            "offboarding.unexplained_listed",
            f"{len(listed)} memberships of {person.email} no grant explains: "
            + ", ".join(e["group"] for e in listed)
            + (" (removal queued)." if remove else " (listed for IT; GATEHOUSE_LEAVER_REMOVE_UNEXPLAINED is off)."),
            actor=actor,
            subject=person,
            data={"memberships": listed},
        )
    return listed


# --- progress and confirmation ------------------------------------------------------------------


def progress(offboarding: Offboarding) -> dict:
    """What is still pending: grants whose removal is unconfirmed, IT tasks, memberships for IT."""
    grants_pending = Grant.objects.filter(id__in=offboarding.grant_ids, removed_at__isnull=True)
    changes = [u["change"] for u in offboarding.unexplained if u.get("change")]
    unconfirmed = MembershipChange.objects.filter(id__in=changes).exclude(status=C.SUCCEEDED).count()
    listed = sum(1 for u in offboarding.unexplained if not u.get("change"))
    return {
        "grants": len(offboarding.grant_ids),
        "grants_pending": list(grants_pending.values_list("id", flat=True)),
        "manual_tasks_open": _open_removal_tasks(offboarding.grant_ids).count(),
        "unexplained_removals_pending": unconfirmed,
        "unexplained_for_it": 0 if offboarding.manual_confirmed_at else listed,
    }


def _last_removal(offboarding: Offboarding) -> datetime | None:
    moments = [
        Grant.objects.filter(id__in=offboarding.grant_ids).aggregate(at=Max("removed_at"))["at"],
        MembershipChange.objects.filter(
            id__in=[u["change"] for u in offboarding.unexplained if u.get("change")]
        ).aggregate(at=Max("finished_at"))["at"],
        offboarding.manual_confirmed_at,
    ]
    moments = [m for m in moments if m]
    return max(moments) if moments else None


def _complete_if_done(offboarding: Offboarding, *, now: datetime) -> bool:
    state = progress(offboarding)
    pending = state["grants_pending"] or state["unexplained_removals_pending"] or state["unexplained_for_it"]
    if offboarding.status != OS.IN_PROGRESS or pending:
        return False
    offboarding.status, offboarding.completed_at = OS.COMPLETED, now
    offboarding.last_removal_confirmed_at = _last_removal(offboarding) or offboarding.started_at
    offboarding.save(update_fields=["status", "completed_at", "last_removal_confirmed_at"])
    event = record(
        "offboarding.completed",
        f"Offboarding #{offboarding.pk} of {offboarding.person.email} complete: every removal confirmed "
        f"(last at {readable.moment(offboarding.last_removal_confirmed_at)}).",
        actor=SYSTEM,
        subject=offboarding.person,
        data={"offboarding": offboarding.pk, "last_removal_confirmed_at": offboarding.last_removal_confirmed_at},
    )
    evidence.comment_completed(offboarding, event)
    return True


def confirm_offboardings(*, now: datetime | None = None, limit: int = 1000) -> int:
    """Complete every offboarding in progress whose removals are all confirmed."""
    now = now or timezone.now()
    completed = 0
    ids = Offboarding.objects.filter(status=OS.IN_PROGRESS).order_by("id").values_list("id", flat=True)[:limit]
    for offboarding_id in list(ids):
        with transaction.atomic():
            offboarding = (
                Offboarding.objects.select_for_update(of=("self",))
                .select_related("person")
                .filter(pk=offboarding_id, status=OS.IN_PROGRESS)
                .first()
            )
            completed += bool(offboarding and _complete_if_done(offboarding, now=now))
    return completed


def confirm_manual_removal(*, offboarding: Offboarding, user, note: str = "") -> Offboarding:
    """IT removed by hand what Gatehouse could not (manual applications, memberships no grant explains)."""
    with transaction.atomic():
        offboarding = (
            Offboarding.objects.select_for_update(of=("self",)).select_related("person").get(pk=offboarding.pk)
        )
        if offboarding.status != OS.IN_PROGRESS:
            raise Conflict(f"Offboarding #{offboarding.pk} is {offboarding.get_status_display().lower()}.")
        tasks = _open_removal_tasks(offboarding.grant_ids)
        done = 0
        for task in tasks:
            complete_fulfilment_task(task=task, user=user, note=note or f"offboarding #{offboarding.pk}")
            done += 1
        now = timezone.now()
        offboarding.manual_confirmed_at, offboarding.manual_confirmed_by = now, user.get_username()
        offboarding.save(update_fields=["manual_confirmed_at", "manual_confirmed_by"])
        record(
            "offboarding.manual_confirmed",
            f"IT ({user.get_username()}) confirmed the manual removals of offboarding #{offboarding.pk}: {done} "
            f"tasks done, {sum(1 for u in offboarding.unexplained if not u.get('change'))} memberships handled.",
            actor=Actor.of_admin(user),
            subject=offboarding.person,
            data={"offboarding": offboarding.pk, "tasks": done, "note": note},
        )
        _complete_if_done(offboarding, now=now)
    return offboarding
