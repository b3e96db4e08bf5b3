"""Auto Reclaim: warn people about access they stopped using, then remove it after a grace period.

The sweep plans one application at a time (`plan`) and writes only for what changes (`cases`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.models import Application
from governance.errors import InvalidInput
from governance.services import Actor, record
from reviews.models import ReclaimCase, ReclaimPolicy
from reviews.reclaim.cases import close_case, open_cases, report_outcomes
from reviews.reclaim.plan import SYSTEM, Outcome, plan_sweep
from reviews.reclaim.removal import remove_due_access

logger = logging.getLogger(__name__)


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


def max_removals_per_run() -> int:
    return int(settings.GATEHOUSE.get("RECLAIM_MAX_REMOVALS_PER_RUN", 50))


def sweep_policy(policy: ReclaimPolicy, *, now: datetime, dry_run: bool = False) -> AppSummary:
    """Sweep one application under its policy. `dry_run` writes nothing at all and reports."""
    plan, checked, skipped = plan_sweep(policy, now, new_cases=True)
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
        close_case(case, outcome, note, actor=SYSTEM, now=now, seen=target.activity if target else None)
    report_outcomes(policy, plan.reports, now)
    summary.warned = open_cases(policy, plan.new_inactive, now)
    removal = remove_due_access(policy, plan.due[:cap], now)
    summary.removed += removal.removed
    summary.access_gone += removal.gone
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
        close_case(case, Outcome.POLICY_CHANGED, "the policy was deactivated", actor=SYSTEM, now=now)
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
    plan, _, _ = plan_sweep(policy, now, new_cases=False)
    return sum(
        close_case(case, outcome, note, actor=actor, now=now, seen=target.activity if target else None)
        for case, outcome, note, target in plan.closes
    )
