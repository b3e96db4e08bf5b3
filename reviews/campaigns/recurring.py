"""Recurring reviews: launch each template's campaign when its period comes, exactly once per period.

A template's runs are `starts_at` plus whole steps of its recurrence (1, 3, 6 or 12 months), always
counted from `starts_at` so a run never drifts; a run on a month's last day stays on the last day.
Launching claims the run with a conditional update of `next_run_at` (a second worker, or a second
run of the schedule, updates nothing and launches nothing) and the campaign is unique per template
and period, so a period never gets two campaigns. Missed runs (the schedule was down) are not
caught up one by one: one campaign is launched, and the next run is the first one in the future.
"""

from __future__ import annotations

import calendar
import logging
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.models import Application
from governance.audit.services import Actor, record
from governance.errors import GovernanceError
from governance.services import notify_person
from reviews.campaigns.launch import launch_campaign
from reviews.campaigns.models import REVIEW_RULES
from reviews.models import Recurrence, ReviewCampaign, ReviewTemplate

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("recurring reviews")
MONTHS = {Recurrence.MONTHLY: 1, Recurrence.QUARTERLY: 3, Recurrence.SEMIANNUAL: 6, Recurrence.ANNUAL: 12}
PRIVILEGED_TIERS = (Application.RiskTier.HIGH, Application.RiskTier.PRIVILEGED)
#: A template reviews chosen applications or roles, or every privileged application, or both.
SCOPE_REQUIRED = "Choose the applications or roles to review, or every privileged application."


# --- Schedule arithmetic --------------------------------------------------------------------------


def add_months(moment: datetime, months: int) -> datetime:
    """`moment` moved by whole months; the day is clamped to the month, and a month's last day stays last."""
    index = moment.year * 12 + moment.month - 1 + months
    year, month = divmod(index, 12)
    month += 1
    last_day = calendar.monthrange(year, month)[1]
    was_last = moment.day == calendar.monthrange(moment.year, moment.month)[1]
    return moment.replace(year=year, month=month, day=last_day if was_last else min(moment.day, last_day))


def run_after(starts_at: datetime, recurrence: str, after: datetime) -> datetime:
    """The first run of the schedule (starts_at + k steps, k ≥ 0) strictly after `after`."""
    step = MONTHS[recurrence]
    if starts_at > after:
        return starts_at
    months_between = (after.year - starts_at.year) * 12 + after.month - starts_at.month
    k = max(months_between // step - 1, 0)
    while (run := add_months(starts_at, k * step)) <= after:
        k += 1
    return run


def period_of(run: datetime, recurrence: str) -> str:
    """The calendar period a run belongs to: 2026-03 (monthly), 2026-Q1, 2026-H1, 2026 (yearly)."""
    if recurrence == Recurrence.MONTHLY:
        return f"{run.year}-{run.month:02d}"
    if recurrence == Recurrence.QUARTERLY:
        return f"{run.year}-Q{(run.month - 1) // 3 + 1}"
    if recurrence == Recurrence.SEMIANNUAL:
        return f"{run.year}-H{1 if run.month <= 6 else 2}"
    return str(run.year)


def next_run(template: ReviewTemplate) -> datetime:
    """Where the template's schedule stands: its first run until it launched, then the run after the last launch."""
    if template.last_launched_at is None:
        return template.starts_at
    return run_after(template.starts_at, template.recurrence, template.last_launched_at)


# --- Services ---------------------------------------------------------------------------------------


def schedule_template(*, template: ReviewTemplate) -> ReviewTemplate:
    """Set the template's next run from its (new) start and recurrence; called after every edit."""
    template.next_run_at = next_run(template) if template.is_active else None
    ReviewTemplate.objects.filter(pk=template.pk).update(next_run_at=template.next_run_at)
    return template


def launch_due_templates(*, now: datetime | None = None) -> int:
    """Launch the campaign of every active template whose run has come; returns how many were created."""
    now = now or timezone.now()
    due = ReviewTemplate.objects.filter(is_active=True, next_run_at__lte=now).order_by("next_run_at", "pk")
    created = 0
    for template_id in due.values_list("pk", flat=True):
        try:
            created += launch_template(template_id=template_id, now=now) is not None
        except Exception:  # one broken template must not hold up the others
            logger.exception("Recurring review template %s could not launch", template_id)
    return created


def _campaign(template: ReviewTemplate, period: str, now: datetime) -> ReviewCampaign:
    campaign = ReviewCampaign.objects.create(
        name=f"{template.name} {period}"[:200],
        template=template,
        period=period,
        starts_at=now,
        due_at=now + timedelta(days=template.duration_days),
        **{name: getattr(template, name) for name in REVIEW_RULES},
    )
    applications = set(template.applications.values_list("pk", flat=True))
    if template.privileged_applications:
        applications |= set(Application.objects.filter(risk_tier__in=PRIVILEGED_TIERS).values_list("pk", flat=True))
    campaign.applications.set(applications)
    campaign.roles.set(template.roles.values_list("pk", flat=True))
    return campaign


def launch_template(*, template_id: int, now: datetime) -> ReviewCampaign | None:
    """Claim the template's due run and launch its period's campaign; None if it is not due or was taken.

    A campaign that cannot launch unattended (an application needs an uploaded account list, or the
    scope is empty) is created as a draft for IT to complete and launch from the admin."""
    with transaction.atomic():
        template = ReviewTemplate.objects.select_related("fallback_reviewer").get(pk=template_id)
        run = template.next_run_at
        if not template.is_active or run is None or run > now:
            return None
        following = run_after(template.starts_at, template.recurrence, now)
        claimed = ReviewTemplate.objects.filter(pk=template.pk, is_active=True, next_run_at=run).update(
            next_run_at=following, last_launched_at=now
        )
        if not claimed:
            return None  # another worker launched this run
        period = period_of(run, template.recurrence)
        data = {"template": template.pk, "period": period, "run": run.isoformat(), "next_run": following.isoformat()}
        try:
            with transaction.atomic():
                campaign = _campaign(template, period, now)
        except IntegrityError:
            record(
                "review.recurring_period_skipped",
                f"Recurring review {template.name!r}: {period} has its campaign already; "
                f"next run {following:%Y-%m-%d}.",
                actor=SYSTEM,
                data=data,
            )
            return None
        waiting = ""
        try:
            with transaction.atomic():
                launch_campaign(campaign=campaign, actor=SYSTEM)
        except GovernanceError as error:
            waiting = error.message
            notify_person(
                template.fallback_reviewer,
                subject=f"Access review {campaign.name} waits for you",
                body=f"The recurring review could not launch on its own: {waiting}\n"
                "Complete the draft campaign in the admin (Review campaigns) and launch it.\n",
            )
        state = f"created as a draft ({waiting})" if waiting else "launched"
        record(
            "review.recurring_campaign_created",
            f"Recurring review {template.name!r}: campaign {campaign.name!r} {state}; next run {following:%Y-%m-%d}.",
            actor=SYSTEM,
            data={**data, "campaign": campaign.pk, "launched": not waiting, "waiting": waiting},
        )
    return campaign
