"""Auto Reclaim, writing: open and warn cases, record report-only outcomes and close cases (removing
the access of due ones is `reclaim.removal`). Safe to run twice: case creation is guarded by unique
constraints and every transition is a conditional update."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction

from catalog.models import IdpGroup, Person
from governance.models import Grant
from governance.services import (
    Actor,
    notify_people,
    record_many,
)
from reviews.models import ReclaimCase, ReclaimPolicy
from reviews.reclaim.links import KEEP_ACTION, keep_link
from reviews.reclaim.models import DEFAULT_WARNING
from reviews.reclaim.plan import SYSTEM, Outcome, Status, Target
from reviews.reclaim.tickets import open_case_tickets


def close_case(case: ReclaimCase, outcome: str, note: str, *, actor: Actor, now: datetime, seen=None) -> bool:
    """Close one open case (conditional update) and record the outcome. False if already closed."""
    with transaction.atomic():
        fields = {"status": Status.CLOSED, "outcome": outcome, "outcome_note": note, "closed_at": now}
        if seen is not None:
            fields["last_activity_at"] = seen
        if not ReclaimCase.objects.filter(pk=case.pk, status__in=ReclaimCase.OPEN_STATUSES).update(**fields):
            return False
        case.refresh_from_db()
        _record_outcome(case, actor=actor)
    return True


def _record_outcome(case: ReclaimCase, *, actor: Actor) -> None:
    record_many([outcome_event(case)], actor=actor)


def outcome_event(case: ReclaimCase) -> dict:
    """The audit event of a closed case (as `record_many` takes it)."""
    return {
        "action": f"reclaim.{case.outcome}",
        "message": f"Reclaim case #{case.pk} ({case.application.name}) closed: {case.get_outcome_display()}"
        + (f" — {case.outcome_note}" if case.outcome_note else "."),
        "grant": case.grant,
        "subject": case.person,
        "data": case_data(case),
    }


def case_data(case: ReclaimCase) -> dict:
    return {
        "case": case.pk,
        "policy": case.policy_id,
        "application": case.application.slug,
        "group": case.group.name if case.group_id else None,
        "outcome": case.outcome,
        "last_activity_at": case.last_activity_at,
        "revoke_after": case.revoke_after,
    }


def warning_text(policy: ReclaimPolicy, person: Person, revoke_after: datetime) -> str:
    """The warning, from the policy's text (placeholders {name} {application} {days} {revoke_after})."""
    values = {
        "name": person.name,
        "application": policy.application.name,
        "days": policy.threshold_days,
        "revoke_after": f"{revoke_after:%Y-%m-%d %H:%M} UTC",
    }
    try:
        return (policy.warning_text or DEFAULT_WARNING).format(**values)
    except (KeyError, IndexError, ValueError):
        return DEFAULT_WARNING.format(**values)


def _case(policy: ReclaimPolicy, target: Target, now: datetime, **fields) -> ReclaimCase:
    """An unsaved case about one piece of access, opened now."""
    return ReclaimCase(
        policy=policy,
        person_id=target.person_id,
        application=policy.application,
        grant_id=target.grant_id,
        group_id=target.group_id,
        last_activity_at=target.activity,
        opened_at=now,
        **fields,
    )


def open_cases(policy: ReclaimPolicy, targets: list[Target], now: datetime) -> int:
    """Open (and warn for) new cases: one bulk insert; a concurrent sweep's cases are skipped."""
    if not targets:
        return 0
    revoke_after = now + timedelta(days=policy.grace_days)
    status = Status.WARNED if policy.warn else Status.OPEN
    warned_at = now if policy.warn else None
    rows = [_case(policy, t, now, status=status, warned_at=warned_at, revoke_after=revoke_after) for t in targets]
    try:
        with transaction.atomic():
            created = ReclaimCase.objects.bulk_create(rows, batch_size=1000)
            _announce(policy, created)
    except IntegrityError:
        # Another sweep opened some of these meanwhile: open the rest one by one.
        created = []
        for row in rows:
            row.pk = None
            try:
                with transaction.atomic():
                    ReclaimCase.objects.bulk_create([row])
                    _announce(policy, [row])
            except IntegrityError:
                continue
            created.append(row)
    return len(created)


def _announce(policy: ReclaimPolicy, cases: list[ReclaimCase]) -> None:
    """Audit each new case; when warning, message each person once and comment/ticket in Jira.
    A fixed number of queries however many cases (one audit INSERT, one message INSERT, …)."""
    grants = Grant.objects.select_related("request", "role").in_bulk([c.grant_id for c in cases if c.grant_id])
    people = Person.objects.in_bulk({c.person_id for c in cases})
    groups = IdpGroup.objects.in_bulk({c.group_id for c in cases if c.group_id})
    by_person: dict[int, list[ReclaimCase]] = defaultdict(list)
    for case in cases:
        case.person = people[case.person_id]
        case.application = policy.application
        case.grant = grants.get(case.grant_id) if case.grant_id else None
        case.group = groups.get(case.group_id) if case.group_id else None
        by_person[case.person_id].append(case)
    record_many([_opened_event(policy, case) for case in cases], actor=SYSTEM)
    if not policy.warn:
        return
    open_case_tickets([c for c in cases if not (c.grant and c.grant.request and c.grant.request.jira_issue_key)])
    notify_people(
        [
            (
                person_cases[0].person,
                f"Your access to {policy.application.name} will be removed",
                warning_text(policy, person_cases[0].person, person_cases[0].revoke_after)
                + f"\n\nStill need it? Keep my access: {keep_link(policy, person_cases[0].person)}",
            )
            for person_cases in by_person.values()
        ],
        button=("Keep my access", KEEP_ACTION, str(policy.pk)),  # in Slack; link and button: reviews.reclaim.keep
    )


def _opened_event(policy: ReclaimPolicy, case: ReclaimCase) -> dict:
    what = f"grant #{case.grant_id} ({case.grant.role.name})" if case.grant else f"group {case.group.name}"
    seen = f"{case.last_activity_at:%Y-%m-%d}" if case.last_activity_at else "unknown"
    return {
        "action": "reclaim.warned" if policy.warn else "reclaim.opened",
        "message": f"{case.person.email} has not used {policy.application.name} since {seen}: {what} will be "
        f"removed after {case.revoke_after:%Y-%m-%d %H:%M} UTC unless they become active (case #{case.pk}).",
        "grant": case.grant,
        "request": case.grant.request if case.grant else None,
        "subject": case.person,
        "data": case_data(case),
    }


def report_outcomes(policy: ReclaimPolicy, reports: list[tuple[Target, str]], now: datetime) -> None:
    """Record report-only outcomes (unknown activity, dry run) as closed cases, for IT to see."""
    if not reports:
        return
    notes = {
        Outcome.UNKNOWN_ACTIVITY: "no last activity is known; IT to check (never treated as inactive)",
        Outcome.DRY_RUN: f"unused for {policy.threshold_days}+ days; the policy is in dry run, nothing was done",
    }
    rows = [
        _case(policy, t, now, status=Status.CLOSED, outcome=outcome, outcome_note=notes[outcome], closed_at=now)
        for t, outcome in reports
    ]
    with transaction.atomic():
        created = ReclaimCase.objects.bulk_create(rows, batch_size=1000)
        grants = Grant.objects.select_related("request").in_bulk([c.grant_id for c in created if c.grant_id])
        people = Person.objects.in_bulk({c.person_id for c in created})
        groups = IdpGroup.objects.in_bulk({c.group_id for c in created if c.group_id})
        for case in created:
            case.person, case.application = people[case.person_id], policy.application
            case.grant = grants.get(case.grant_id) if case.grant_id else None
            case.group = groups.get(case.group_id) if case.group_id else None
            _record_outcome(case, actor=SYSTEM)
