"""Auto Reclaim, reading and deciding: every piece of access to one application (grants, and
memberships no live grant explains), and what the sweep should do about each, before any write.

A fixed number of bulk queries per application, whatever the number of people."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from django.db.models import Subquery

from catalog.models import AppActivity, GroupMembership, Person, RoleGroup
from governance.models import Grant
from governance.services import Actor, unexplained_memberships
from reviews.models import ReclaimCase, ReclaimPolicy

SYSTEM = Actor.system("auto-reclaim")
KEEP_SOURCE = "keep-my-access"  # the activity source of "Keep my access" (reviews.reclaim.keep)
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
class SweepPlan:
    """The sweep's decisions for one application, before any write."""

    new_inactive: list[Target] = field(default_factory=list)
    reports: list[tuple[Target, str]] = field(default_factory=list)  # closed-on-creation cases
    closes: list[tuple[ReclaimCase, str, str, Target | None]] = field(default_factory=list)
    due: list[ReclaimCase] = field(default_factory=list)
    waiting: int = 0
    excluded: int = 0


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
    # "Keep my access" counts whatever the source (reviews.reclaim.keep records it as app activity).
    kept = dict(
        AppActivity.objects.filter(application=app, source=KEEP_SOURCE).values_list("person_id", "last_activity_at")
    )
    targets: dict[Key, Target] = {}
    skipped = 0

    def add(person_id: int, status: str, last_login: datetime | None, grant_id=None, group_id=None) -> None:
        nonlocal skipped
        if status != Person.Status.ACTIVE:  # suspended or gone: the leaver path handles these
            skipped += 1
            return
        seen = activity.get(person_id) if activity is not None else last_login
        if person_id in kept and (seen is None or kept[person_id] > seen):
            seen = kept[person_id]
        target = Target(person_id=person_id, grant_id=grant_id, group_id=group_id, activity=seen)
        targets[target.key] = target

    grants = Grant.objects.filter(status=Grant.Status.ACTIVE, role__application=app).values_list(
        "id", "person_id", "person__status", "person__last_login_at"
    )
    for grant_id, person_id, status, last_login in grants.iterator(chunk_size=5000):
        add(person_id, status, last_login, grant_id=grant_id)

    app_groups = RoleGroup.objects.filter(role__application=app).values("group_id")
    drift = unexplained_memberships(Subquery(app_groups)).values_list(
        "person_id", "group_id", "person__status", "person__last_login_at"
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


def is_inactive(policy: ReclaimPolicy, seen: datetime, now: datetime) -> bool:
    """Inactive when the last activity is at least `threshold_days` old (the boundary day counts)."""
    return seen <= now - timedelta(days=policy.threshold_days)


def plan_sweep(policy: ReclaimPolicy, now: datetime, *, new_cases: bool) -> tuple[SweepPlan, int, int]:
    targets, skipped = _targets(policy)
    excluded = _excluded_people(policy)
    open_cases = list(
        ReclaimCase.objects.filter(application=policy.application, policy=policy, status__in=ReclaimCase.OPEN_STATUSES)
    )
    plan = SweepPlan()
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
        elif is_inactive(policy, target.activity, now):
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
    if not is_inactive(policy, target.activity, now):
        if case.last_activity_at is None or target.activity > case.last_activity_at:
            return Outcome.KEPT_ACTIVE_AGAIN, f"active again on {target.activity:%Y-%m-%d %H:%M} UTC"
        return Outcome.POLICY_CHANGED, f"the threshold is now {policy.threshold_days} days"
    return "", ""
