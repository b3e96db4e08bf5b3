"""The lifecycle run: compare the directory with what lifecycle last saw and act on each difference.

Runs after every directory sync (and on its own schedule, for the local directory, which the admin
edits directly). A person Gatehouse has never seen is a joiner; a status that leaves active is a
leaver; a department, manager or title change is a mover. Provisioning's sync never calls this:
governance reacts after it.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from catalog.durations import parse_iso_duration
from catalog.models import Person
from governance.audit.services import Actor, record
from governance.errors import InvalidInput, NotFound
from governance.lifecycle import joiners, leavers, movers
from governance.models import AccessRequest, Grant, LifecycleEvent, Offboarding, PersonState

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("lifecycle")
K = LifecycleEvent.Kind
WATCHED = ("department", "title", "manager_id")


@dataclass
class LifecycleReport:
    baseline: bool = False
    joiners: int = 0
    movers: int = 0
    leavers: int = 0
    returned: int = 0
    scheduled_run: int = 0
    completed: int = 0
    stopped_at_cap: bool = False
    held_leavers: list[str] = field(default_factory=list)

    def line(self) -> str:
        text = (
            f"{self.joiners} joiners, {self.movers} movers, {self.leavers} leavers, {self.returned} returned; "
            f"{self.scheduled_run} scheduled offboardings carried out, {self.completed} offboardings completed"
        )
        if self.baseline:
            text = "first run (baseline: existing people are not joiners); " + text
        if self.stopped_at_cap:
            text += (
                f"; STOPPED: {len(self.held_leavers)} leavers exceed GATEHOUSE_LEAVER_MAX_PER_RUN "
                f"({leaver_cap()}), nobody was offboarded"
            )
        return text


def leaver_cap() -> int:
    return int(settings.GATEHOUSE["LEAVER_MAX_PER_RUN"])


def suspended_grace() -> timedelta | None:
    """GATEHOUSE_SUSPENDED_GRACE as a duration; None (revoke at once) when unset."""
    value = (settings.GATEHOUSE.get("SUSPENDED_GRACE") or "").strip()
    return parse_iso_duration(value) if value else None


def _state(person: Person, now: datetime) -> PersonState:
    return PersonState(
        person=person,
        status=person.status,
        department=person.department,
        title=person.title,
        manager_id=person.manager_id,
        status_since=now,
        seen_at=now,
    )


def _save_state(person: Person, state: PersonState | None, now: datetime) -> None:
    fresh = _state(person, now)
    if state is not None:
        fresh.pk = state.pk
        if state.status == person.status:
            fresh.status_since = state.status_since
    fresh.save()


def run_lifecycle(
    *, skip_directories: Iterable[str] = (), allow_over_cap: bool = False, now: datetime | None = None
) -> LifecycleReport:
    """One pass over the directory. `skip_directories`: connectors whose sync failed this time."""
    now = now or timezone.now()
    states = {s.person_id: s for s in PersonState.objects.select_related("manager")}
    report = LifecycleReport(baseline=not states)
    people = list(Person.objects.exclude(directory__in=list(skip_directories)).select_related("manager"))
    holding = _holding_anything({p.pk for p in people if not p.is_active and p.pk not in states})
    baseline, leaving, moving, joining, back = [], [], [], [], []
    for person in people:
        state = states.get(person.pk)
        if state is None:
            if not person.is_active and person.pk in holding:
                leaving.append((person, None))
            elif person.is_active and not report.baseline:
                joining.append(person)
            else:
                baseline.append(_state(person, now))
        elif person.status != state.status:
            if person.is_active:
                back.append((person, state))
            else:
                leaving.append((person, state))
        elif person.is_active and any(getattr(person, f) != getattr(state, f) for f in WATCHED):
            moving.append((person, state))
    PersonState.objects.bulk_create(baseline, batch_size=1000)
    if len(leaving) > leaver_cap() and not allow_over_cap:
        _stop_at_cap(report, leaving)
        leaving = []
    for person, state in leaving:
        _leave(person, state, now)
        report.leavers += 1
    for person, state in back:
        _return(person, state, now)
        report.returned += 1
    for person, state in moving:
        _move(person, state, now)
        report.movers += 1
    for person in joining:
        _join(person, now)
        report.joiners += 1
    report.scheduled_run = leavers.run_due_offboardings(now=now)
    report.completed = leavers.confirm_offboardings(now=now)
    return report


def _holding_anything(person_ids: set[int]) -> set[int]:
    """People with live grants or open requests (a departed person seen for the first time)."""
    if not person_ids:
        return set()
    granted = Grant.objects.filter(person_id__in=person_ids, status__in=Grant.LIVE).values_list("person_id", flat=True)
    asked = AccessRequest.objects.filter(beneficiary_id__in=person_ids, status__in=AccessRequest.OPEN).values_list(
        "beneficiary_id", flat=True
    )
    return set(granted) | set(asked)


def _stop_at_cap(report: LifecycleReport, leaving: list) -> None:
    report.stopped_at_cap = True
    report.held_leavers = [p.email for p, _ in leaving]
    with transaction.atomic():
        record(
            "lifecycle.stopped_at_cap",
            f"Lifecycle stopped: {len(leaving)} people would be offboarded, more than GATEHOUSE_LEAVER_MAX_PER_RUN "
            f"({leaver_cap()}). Nobody was offboarded; check the directory feed, then run "
            "`manage.py run_lifecycle --allow-over-cap` if the departures are real.",
            actor=SYSTEM,
            data={"cap": leaver_cap(), "leavers": report.held_leavers[:200], "count": len(leaving)},
        )
    logger.warning("lifecycle stopped at the leaver cap: %s leavers, cap %s", len(leaving), leaver_cap())


def _event(person: Person, kind: str, now: datetime, *, changes: dict, trigger: str = "sync") -> LifecycleEvent:
    return LifecycleEvent.objects.create(person=person, kind=kind, trigger=trigger, occurred_at=now, changes=changes)


def _leave(person: Person, state: PersonState | None, now: datetime) -> None:
    before = state.status if state else "unseen"
    where = person.directory or "the directory"
    with transaction.atomic():
        scheduled = Offboarding.objects.filter(
            person=person, status=Offboarding.Status.SCHEDULED, trigger=Offboarding.Trigger.SYNC
        ).first()
        grace = suspended_grace() if person.status == Person.Status.SUSPENDED else None
        if scheduled and grace is None:
            offboarding = leavers.execute_scheduled(scheduled.pk, now=now) or scheduled
        elif scheduled:
            offboarding = scheduled
        else:
            offboarding, _ = leavers.offboard(
                person=person,
                trigger=Offboarding.Trigger.SYNC,
                actor=SYSTEM,
                reason=f"{person.status} in {where}",
                effective_at=now + grace if grace else None,
                departure=person.status,
            )
        event = _event(person, K.LEAVER, now, changes={"status": [before, person.status]})
        event.offboarding = offboarding
        event.outcome = {"offboarding": offboarding.pk, "status": offboarding.status}
        event.save(update_fields=["offboarding", "outcome"])
        record(
            "lifecycle.leaver",
            f"{person.email} is {person.status} in {where}: offboarding #{offboarding.pk} "
            f"({offboarding.get_status_display().lower()}).",
            actor=SYSTEM,
            subject=person,
            data={"event": event.pk, "offboarding": offboarding.pk, "from": before, "to": person.status},
        )
        _save_state(person, state, now)


def _return(person: Person, state: PersonState, now: datetime) -> None:
    with transaction.atomic():
        cancelled = leavers.cancel_scheduled(person=person, why=f"{person.email} is active again")
        event = _event(person, K.RETURNED, now, changes={"status": [state.status, person.status]})
        event.outcome = {"offboardings_cancelled": cancelled}
        if not cancelled:  # they had left: birthright again, as for a joiner
            event.outcome["birthright"] = joiners.grant_birthright(person, why="active again")
        event.save(update_fields=["outcome"])
        record(
            "lifecycle.returned",
            f"{person.email} is active again (was {state.status}).",
            actor=SYSTEM,
            subject=person,
            data={"event": event.pk, **event.outcome},
        )
        _save_state(person, state, now)


def _move(person: Person, state: PersonState, now: datetime) -> None:
    old_manager = state.manager
    changes = {}
    for name in ("department", "title"):
        if getattr(person, name) != getattr(state, name):
            changes[name] = [getattr(state, name), getattr(person, name)]
    if person.manager_id != state.manager_id:
        changes["manager"] = [
            old_manager.email if old_manager else None,
            person.manager.email if person.manager else None,
        ]
    with transaction.atomic():
        event = _event(person, K.MOVER, now, changes=changes)
        event.outcome = movers.handle_move(event, old_manager=old_manager)
        event.save(update_fields=["outcome"])
        described = ", ".join(f"{k} {v[0] or '—'} → {v[1] or '—'}" for k, v in changes.items())
        record(
            "lifecycle.mover",
            f"{person.email} moved: {described}.",
            actor=SYSTEM,
            subject=person,
            data={"event": event.pk, "changes": changes, "outcome": event.outcome},
        )
        _save_state(person, state, now)


def _join(person: Person, now: datetime) -> None:
    with transaction.atomic():
        event = _event(person, K.JOINER, now, changes={"department": [None, person.department]})
        event.outcome = {"birthright": joiners.grant_birthright(person, why=f"joined {person.department or '—'}")}
        event.save(update_fields=["outcome"])
        record(
            "lifecycle.joiner",
            f"{person.email} joined ({person.department or 'no department'}): "
            f"{sum(1 for b in event.outcome['birthright'] if b.get('request'))} birthright requests.",
            actor=SYSTEM,
            subject=person,
            data={"event": event.pk, **event.outcome},
        )
        _save_state(person, None, now)


# --- the offboarding call (HR tickets) ----------------------------------------------------------


def request_offboarding(
    *, email: str, by: str, reason: str, jira_issue_key: str = "", effective_at: datetime | None = None
) -> tuple[Offboarding, bool]:
    """`POST /people/{email}/offboard/`: NotFound for an unknown person; idempotent on the issue key."""
    person = Person.objects.filter(email__iexact=(email or "").strip()).first()
    if person is None:
        raise NotFound(f"No person with email {email} in the directory.", field="email")
    if not (reason or "").strip():
        raise InvalidInput("A reason is required.", field="reason")
    if effective_at is not None and timezone.is_naive(effective_at):
        raise InvalidInput("Give effective_at with a time zone, e.g. 2026-12-31T17:00:00Z.", field="effective_at")
    asker = Person.objects.filter(email__iexact=by.strip()).first()
    actor = Actor(label=by.strip().lower(), person=asker)
    with transaction.atomic():
        offboarding, created = leavers.offboard(
            person=person,
            trigger=Offboarding.Trigger.API,
            actor=actor,
            reason=reason.strip(),
            jira_issue_key=jira_issue_key,
            effective_at=effective_at,
            departure=person.status,
        )
        if created:
            event = _event(person, K.LEAVER, timezone.now(), changes={}, trigger="api")
            event.offboarding = offboarding
            event.outcome = {"offboarding": offboarding.pk, "status": offboarding.status, "by": actor.label}
            event.save(update_fields=["offboarding", "outcome"])
    return offboarding, created


def lifecycle_of(person: Person) -> dict:
    """The person's lifecycle events and offboardings, for the API."""
    events = LifecycleEvent.objects.filter(person=person).order_by("-occurred_at", "-id")[:50]
    offboardings = Offboarding.objects.filter(Q(person=person)).order_by("-created_at", "-id")[:20]
    return {"events": list(events), "offboardings": list(offboardings)}
