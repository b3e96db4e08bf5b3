"""Auto Reclaim: warn people about access they stopped using, then remove it after a grace period.

The sweep reads everything it needs for one application in a fixed number of bulk queries (the
count does not grow with the number of people) and writes only for what changes. Safe to run
twice: case creation is guarded by unique constraints and every transition is a conditional update.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from catalog.models import AppActivity, Application, GroupMembership, IdpGroup, Person, RoleGroup
from governance.errors import GovernanceError, InvalidInput
from governance.models import Grant
from governance.services import Actor, notify_person, record, remove_standing_membership, revoke_grant
from reviews.models import ReclaimCase, ReclaimPolicy
from reviews.reclaim.models import DEFAULT_WARNING
from reviews.reclaim.tickets import open_case_ticket

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("auto-reclaim")
Outcome = ReclaimCase.Outcome
Status = ReclaimCase.Status
Key = tuple[str, int, int]  # ("grant", grant id, 0) or ("group", person id, group id)


@dataclass
class Target:
    """One piece of access to the application: a grant, or a membership no grant explains."""

    person_id: int
    grant_id: int | None
    group_id: int | None
    activity: datetime | None

    @property
    def key(self) -> Key:
        return ("grant", self.grant_id, 0) if self.grant_id else ("group", self.person_id, self.group_id)


def case_key(case: ReclaimCase) -> Key:
    return ("grant", case.grant_id, 0) if case.grant_id else ("group", case.person_id, case.group_id)


@dataclass
class AppSummary:
    """What one sweep of one application found and did (or, in a dry run, would do)."""

    application: str
    mode: str
    dry_run: bool
    access_checked: int = 0
    warned: int = 0
    removed: int = 0
    due_not_removed: int = 0
    waiting: int = 0
    kept_active: int = 0
    excluded: int = 0
    unknown_activity: int = 0
    policy_changed: int = 0
    access_gone: int = 0
    dry_run_reported: int = 0
    skipped_deprovisioned: int = 0
    stopped_at_cap: bool = False
    errors: list[str] = field(default_factory=list)

    def line(self) -> str:
        verb = "would " if self.dry_run else ""
        text = (
            f"{self.application} [{self.mode}{', dry run' if self.dry_run else ''}]: "
            f"{self.access_checked} checked, {verb}warn {self.warned}, {verb}remove {self.removed}, "
            f"waiting {self.waiting}, kept active {self.kept_active}, excluded {self.excluded}, "
            f"unknown activity {self.unknown_activity}, policy changed {self.policy_changed}, "
            f"access gone {self.access_gone}, reported (dry-run policy) {self.dry_run_reported}, "
            f"leavers skipped {self.skipped_deprovisioned}"
        )
        if self.stopped_at_cap:
            text += f"; STOPPED at the removal cap, {self.due_not_removed} due removals left for the next run"
        return text


@dataclass
class ReclaimSummary:
    dry_run: bool
    apps: list[AppSummary] = field(default_factory=list)
    orphans_closed: int = 0

    def lines(self) -> list[str]:
        out = [a.line() for a in self.apps]
        if self.orphans_closed:
            out.append(f"{self.orphans_closed} open cases of inactive policies closed (policy changed)")
        return out or ["No active reclaim policy."]


@dataclass
class _Plan:
    """The sweep's decisions for one application, before any write."""

    new_inactive: list[Target] = field(default_factory=list)
    reports: list[tuple[Target, str]] = field(default_factory=list)  # closed-on-creation cases
    closes: list[tuple[ReclaimCase, str, str, Target | None]] = field(default_factory=list)
    due: list[ReclaimCase] = field(default_factory=list)
    waiting: int = 0
    excluded: int = 0


# --- reads -----------------------------------------------------------------------------------------


def _excluded_people(policy: ReclaimPolicy) -> set[int]:
    people = policy.excluded_people.through.objects.filter(reclaimpolicy=policy)
    direct = set(people.values_list("person_id", flat=True))
    groups = policy.excluded_groups.through.objects.filter(reclaimpolicy=policy).values("idpgroup_id")
    by_group = GroupMembership.objects.filter(group_id__in=Subquery(groups)).values_list("person_id", flat=True)
    return direct | set(by_group)


def _targets(policy: ReclaimPolicy) -> tuple[dict[Key, Target], int]:
    """Every piece of access to the application, with each person's activity; and leavers skipped."""
    app = policy.application
    activity: dict[int, datetime] | None = None
    if policy.activity_source == ReclaimPolicy.ActivitySource.APP_ACTIVITY:
        activity = dict(AppActivity.objects.filter(application=app).values_list("person_id", "last_activity_at"))
    targets: dict[Key, Target] = {}
    skipped = 0

    def add(person_id: int, status: str, last_login: datetime | None, grant_id=None, group_id=None) -> None:
        nonlocal skipped
        if status != Person.Status.ACTIVE:  # suspended or gone: the leaver path handles these
            skipped += 1
            return
        seen = activity.get(person_id) if activity is not None else last_login
        target = Target(person_id=person_id, grant_id=grant_id, group_id=group_id, activity=seen)
        targets[target.key] = target

    grants = Grant.objects.filter(status=Grant.Status.ACTIVE, role__application=app).values_list(
        "id", "person_id", "person__status", "person__last_login_at"
    )
    for grant_id, person_id, status, last_login in grants.iterator(chunk_size=5000):
        add(person_id, status, last_login, grant_id=grant_id)

    app_groups = RoleGroup.objects.filter(role__application=app).values("group_id")
    explained = Grant.objects.filter(
        person_id=OuterRef("person_id"), status__in=Grant.LIVE, role__group_mappings__group_id=OuterRef("group_id")
    )
    drift = (
        GroupMembership.objects.filter(group_id__in=Subquery(app_groups))
        .filter(~Exists(explained))
        .values_list("person_id", "group_id", "person__status", "person__last_login_at")
    )
    for person_id, group_id, status, last_login in drift.iterator(chunk_size=5000):
        add(person_id, status, last_login, group_id=group_id)
    return targets, skipped


def _reported(policy: ReclaimPolicy) -> set[tuple[Key, str, datetime | None]]:
    """Report-only cases already recorded (unknown activity, dry run), so a rerun records none again."""
    rows = ReclaimCase.objects.filter(
        policy=policy, status=Status.CLOSED, outcome__in=[Outcome.UNKNOWN_ACTIVITY, Outcome.DRY_RUN]
    ).values_list("grant_id", "person_id", "group_id", "outcome", "last_activity_at")
    return {
        ((("grant", g, 0) if g else ("group", p, grp)), outcome, seen) for g, p, grp, outcome, seen in rows.iterator()
    }


def _is_inactive(policy: ReclaimPolicy, seen: datetime, now: datetime) -> bool:
    """Inactive when the last activity is at least `threshold_days` old (the boundary day counts)."""
    return seen <= now - timedelta(days=policy.threshold_days)


# --- decisions -------------------------------------------------------------------------------------


def _plan(policy: ReclaimPolicy, now: datetime, *, new_cases: bool) -> tuple[_Plan, int, int]:
    targets, skipped = _targets(policy)
    excluded = _excluded_people(policy)
    open_cases = list(
        ReclaimCase.objects.filter(application=policy.application, policy=policy, status__in=ReclaimCase.OPEN_STATUSES)
    )
    plan = _Plan()
    with_case: set[Key] = set()
    for case in open_cases:
        key = case_key(case)
        with_case.add(key)
        target = targets.get(key)
        outcome, note = _judge_open_case(policy, case, target, excluded, now)
        if outcome:
            plan.closes.append((case, outcome, note, target))
        elif case.revoke_after and case.revoke_after <= now:
            plan.due.append(case)
        else:
            plan.waiting += 1
    if not new_cases:
        return plan, len(targets), skipped
    reported = _reported(policy)
    for key, target in targets.items():
        if key in with_case:
            continue
        if target.person_id in excluded:
            plan.excluded += 1
            continue
        if target.activity is None:
            if (key, Outcome.UNKNOWN_ACTIVITY, None) not in reported:
                plan.reports.append((target, Outcome.UNKNOWN_ACTIVITY))
        elif _is_inactive(policy, target.activity, now):
            if policy.enforcing:
                plan.new_inactive.append(target)
            elif (key, Outcome.DRY_RUN, target.activity) not in reported:
                plan.reports.append((target, Outcome.DRY_RUN))
    plan.due.sort(key=lambda c: (c.revoke_after, c.pk))
    return plan, len(targets), skipped


def _judge_open_case(
    policy: ReclaimPolicy, case: ReclaimCase, target: Target | None, excluded: set[int], now: datetime
) -> tuple[str, str]:
    """The outcome an open case closes with now, or ("", "") to keep it open."""
    if not policy.is_active:
        return Outcome.POLICY_CHANGED, "the policy was deactivated"
    if target is None:
        return (
            Outcome.ACCESS_GONE,
            "the access is no longer there as it was (revoked, expired, removed, now granted, or a leaver)",
        )
    if case.person_id in excluded:
        return Outcome.EXCLUDED, "the person (or one of their groups) is now excluded by the policy"
    if not policy.enforcing:
        return Outcome.POLICY_CHANGED, "the policy was switched to dry run"
    if target.activity is None:
        return Outcome.UNKNOWN_ACTIVITY, "the last activity is no longer known; not removed"
    if not _is_inactive(policy, target.activity, now):
        if case.last_activity_at is None or target.activity > case.last_activity_at:
            return Outcome.KEPT_ACTIVE_AGAIN, f"active again on {target.activity:%Y-%m-%d %H:%M} UTC"
        return Outcome.POLICY_CHANGED, f"the threshold is now {policy.threshold_days} days"
    return "", ""


# --- writes ----------------------------------------------------------------------------------------


def _close(case: ReclaimCase, outcome: str, note: str, *, actor: Actor, now: datetime, seen=None) -> bool:
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
    record(
        f"reclaim.{case.outcome}",
        f"Reclaim case #{case.pk} ({case.application.name}) closed: {case.get_outcome_display()}"
        + (f" — {case.outcome_note}" if case.outcome_note else "."),
        actor=actor,
        grant=case.grant,
        subject=case.person,
        data=_case_data(case),
    )


def _case_data(case: ReclaimCase) -> dict:
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


def _open_cases(policy: ReclaimPolicy, targets: list[Target], now: datetime) -> int:
    """Open (and warn for) new cases: one bulk insert; a concurrent sweep's cases are skipped."""
    if not targets:
        return 0
    revoke_after = now + timedelta(days=policy.grace_days)
    status = Status.WARNED if policy.warn else Status.OPEN
    rows = [
        ReclaimCase(
            policy=policy,
            person_id=t.person_id,
            application=policy.application,
            grant_id=t.grant_id,
            group_id=t.group_id,
            status=status,
            last_activity_at=t.activity,
            opened_at=now,
            warned_at=now if policy.warn else None,
            revoke_after=revoke_after,
        )
        for t in targets
    ]
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
    """Audit each new case; when warning, email each person once and comment/ticket in Jira."""
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
        what = f"grant #{case.grant_id} ({case.grant.role.name})" if case.grant else f"group {case.group.name}"
        seen = f"{case.last_activity_at:%Y-%m-%d}" if case.last_activity_at else "unknown"
        record(
            "reclaim.warned" if policy.warn else "reclaim.opened",
            f"{case.person.email} has not used {policy.application.name} since {seen}: {what} will be removed "
            f"after {case.revoke_after:%Y-%m-%d %H:%M} UTC unless they become active (case #{case.pk}).",
            actor=SYSTEM,
            grant=case.grant,
            request=case.grant.request if case.grant else None,
            subject=case.person,
            data=_case_data(case),
        )
        if policy.warn and not (case.grant and case.grant.request and case.grant.request.jira_issue_key):
            open_case_ticket(case)
    if policy.warn:
        for person_cases in by_person.values():
            person = person_cases[0].person
            notify_person(
                person,
                subject=f"Your access to {policy.application.name} will be removed",
                body=warning_text(policy, person, person_cases[0].revoke_after),
            )


def _report(policy: ReclaimPolicy, reports: list[tuple[Target, str]], now: datetime) -> None:
    """Record report-only outcomes (unknown activity, dry run) as closed cases, for IT to see."""
    if not reports:
        return
    notes = {
        Outcome.UNKNOWN_ACTIVITY: "no last activity is known; IT to check (never treated as inactive)",
        Outcome.DRY_RUN: f"unused for {policy.threshold_days}+ days; the policy is in dry run, nothing was done",
    }
    rows = [
        ReclaimCase(
            policy=policy,
            person_id=t.person_id,
            application=policy.application,
            grant_id=t.grant_id,
            group_id=t.group_id,
            status=Status.CLOSED,
            outcome=outcome,
            outcome_note=notes[outcome],
            last_activity_at=t.activity,
            opened_at=now,
            closed_at=now,
        )
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


def _remove(policy: ReclaimPolicy, case: ReclaimCase, now: datetime) -> str:
    """Remove the access of one due case through the revocation services; safe to call twice.

    Returns "removed", "gone" (the access had ended meanwhile) or "" (another sweep took the case)."""
    with transaction.atomic():
        claimed = ReclaimCase.objects.filter(
            pk=case.pk, status__in=ReclaimCase.OPEN_STATUSES, removal_requested_at__isnull=True
        ).update(removal_requested_at=now)
        if not claimed:
            return ""
        case = ReclaimCase.objects.select_related("person", "application", "grant__request", "group").get(pk=case.pk)
        days = f"unused since {case.last_activity_at:%Y-%m-%d}" if case.last_activity_at else "unused"
        reason = f"Auto Reclaim: {policy.application.name} {days} (case #{case.pk})"
        try:
            if case.grant_id:
                revoke_grant(grant=case.grant, actor=SYSTEM, reason=reason, authorised=True)
                detail = f"grant #{case.grant_id} revoked"
            else:
                change = remove_standing_membership(person=case.person, group=case.group, actor=SYSTEM, reason=reason)
                detail = f"removal from {case.group.name} queued (change #{change.pk})"
        except GovernanceError as error:
            ReclaimCase.objects.filter(pk=case.pk).update(removal_requested_at=None)
            case.refresh_from_db()
            _close(case, Outcome.ACCESS_GONE, error.message, actor=SYSTEM, now=now)
            return "gone"
        record(
            "reclaim.removal_requested",
            f"Auto Reclaim removes {case.person.email}'s access to {policy.application.name}: {detail}.",
            actor=SYSTEM,
            grant=case.grant,
            subject=case.person,
            data={**_case_data(case), "detail": detail},
        )
        ReclaimCase.objects.filter(pk=case.pk).update(removal_detail=detail[:300])
        _close(case, Outcome.RECLAIMED, detail, actor=SYSTEM, now=now)
    return "removed"


# --- the sweep -------------------------------------------------------------------------------------


def max_removals_per_run() -> int:
    return int(settings.GATEHOUSE.get("RECLAIM_MAX_REMOVALS_PER_RUN", 50))


def sweep_policy(policy: ReclaimPolicy, *, now: datetime, dry_run: bool = False) -> AppSummary:
    """Sweep one application under its policy. `dry_run` writes nothing at all and reports."""
    plan, checked, skipped = _plan(policy, now, new_cases=True)
    summary = AppSummary(
        application=policy.application.slug,
        mode=policy.mode,
        dry_run=dry_run,
        access_checked=checked,
        skipped_deprovisioned=skipped,
        waiting=plan.waiting,
        excluded=plan.excluded,
    )
    cap = max_removals_per_run()
    for _, outcome, _, _ in plan.closes:
        _count(summary, outcome)
    for _, outcome in plan.reports:
        _count(summary, outcome)
    summary.warned = len(plan.new_inactive)
    if dry_run:
        summary.removed = min(len(plan.due), cap)
        summary.due_not_removed = max(len(plan.due) - cap, 0)
        summary.stopped_at_cap = len(plan.due) > cap
        return summary
    for case, outcome, note, target in plan.closes:
        _close(case, outcome, note, actor=SYSTEM, now=now, seen=target.activity if target else None)
    _report(policy, plan.reports, now)
    summary.warned = _open_cases(policy, plan.new_inactive, now)
    for case in plan.due[:cap]:
        result = _remove(policy, case, now)
        summary.removed += result == "removed"
        summary.access_gone += result == "gone"
    if len(plan.due) > cap:
        summary.stopped_at_cap = True
        summary.due_not_removed = len(plan.due) - cap
        _record_cap(policy, cap, len(plan.due))
    return summary


def _count(summary: AppSummary, outcome: str) -> None:
    name = {
        Outcome.KEPT_ACTIVE_AGAIN: "kept_active",
        Outcome.EXCLUDED: "excluded",
        Outcome.UNKNOWN_ACTIVITY: "unknown_activity",
        Outcome.POLICY_CHANGED: "policy_changed",
        Outcome.ACCESS_GONE: "access_gone",
        Outcome.DRY_RUN: "dry_run_reported",
    }[outcome]
    setattr(summary, name, getattr(summary, name) + 1)


def _record_cap(policy: ReclaimPolicy, cap: int, due: int) -> None:
    with transaction.atomic():
        record(
            "reclaim.stopped_at_cap",
            f"Auto Reclaim stopped after {cap} removals in {policy.application.name}: {due} were due. "
            f"The rest wait for the next run; check the activity data if this is unexpected.",
            actor=SYSTEM,
            data={"application": policy.application.slug, "policy": policy.pk, "cap": cap, "due": due},
        )
    logger.warning("reclaim stopped at the cap for %s: %s due, cap %s", policy.application.slug, due, cap)


def _close_orphaned_cases(now: datetime) -> int:
    """Open cases whose policy is no longer active close as "policy changed"."""
    orphans = ReclaimCase.objects.filter(status__in=ReclaimCase.OPEN_STATUSES, policy__is_active=False)
    return sum(
        _close(case, Outcome.POLICY_CHANGED, "the policy was deactivated", actor=SYSTEM, now=now)
        for case in orphans.select_related("person", "application", "grant", "group")
    )


def run_reclaim(
    app_slug: str | None = None, dry_run: bool | None = None, now: datetime | None = None
) -> ReclaimSummary:
    """The sweep over every application with an active policy (or just `app_slug`).

    `dry_run=True` writes nothing and reports what would happen; otherwise each policy's own mode applies
    (a policy in dry run records "would be reclaimed" cases for IT and never warns or removes).
    """
    now = now or timezone.now()
    report_only = bool(dry_run)
    policies = ReclaimPolicy.objects.filter(is_active=True).select_related("application").order_by("application__slug")
    if app_slug:
        if not Application.objects.filter(slug=app_slug).exists():
            raise InvalidInput(f"No application with the slug {app_slug!r}.", field="app")
        policies = policies.filter(application__slug=app_slug)
        if not policies:
            raise InvalidInput(f"Application {app_slug!r} has no active reclaim policy.", field="app")
    summary = ReclaimSummary(dry_run=report_only)
    if not report_only and not app_slug:
        summary.orphans_closed = _close_orphaned_cases(now)
    for policy in policies:
        summary.apps.append(sweep_policy(policy, now=now, dry_run=report_only))
    return summary


def apply_policy_change(*, policy: ReclaimPolicy, actor: Actor, now: datetime | None = None) -> int:
    """After a policy is edited: close the open cases it no longer justifies (raised threshold,
    person or group excluded, switched to dry run, deactivated). Returns how many closed."""
    now = now or timezone.now()
    plan, _, _ = _plan(policy, now, new_cases=False)
    return sum(
        _close(case, outcome, note, actor=actor, now=now, seen=target.activity if target else None)
        for case, outcome, note, target in plan.closes
    )
