""" "Keep my access": the person an Auto Reclaim warning went to says they still use the access.

It records activity for them on the application now (source `keep-my-access`, which every policy
counts, whatever its activity source), and closes their open cases of that policy as kept. The
warning's signed link (`reviews.reclaim.views.keep_page`) and its Slack button (through
governance's Slack button port, registered at start-up) both call `keep_access`.
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from catalog.models import Person
from governance.errors import NotAllowed
from governance.services import ActivityRow, Actor, record_activity
from governance.slack import buttons
from reviews.models import ReclaimCase, ReclaimPolicy
from reviews.reclaim.cases import close_case
from reviews.reclaim.links import KEEP_ACTION
from reviews.reclaim.plan import KEEP_SOURCE, Outcome

KEEP_NOTE = "the person said they still use it (Keep my access)"


def keep_access(*, person: Person, policy: ReclaimPolicy) -> int:
    """Record that `person` uses the policy's application now and close their open cases of the
    policy as kept; returns how many were closed. NotAllowed when they have none open."""
    cases = list(
        ReclaimCase.objects.filter(policy=policy, person=person, status__in=ReclaimCase.OPEN_STATUSES).select_related(
            "application", "grant", "group", "person"
        )
    )
    if not cases:
        raise NotAllowed(f"you have no access to {policy.application.name} waiting to be removed.", field="person")
    now = timezone.now()
    actor = Actor.of_person(person)
    with transaction.atomic():
        record_activity(
            rows=[ActivityRow(application=policy.application.slug, person=person.email, last_active_at=now)],
            source=KEEP_SOURCE,
            actor=actor,
        )
        return sum(
            close_case(case, Outcome.KEPT_ACTIVE_AGAIN, KEEP_NOTE, actor=actor, now=now, seen=now) for case in cases
        )


def on_keep_button(person: Person, value: str) -> str:
    """The Slack button of a warning (value: the policy id): keep, and say what was kept."""
    policy = ReclaimPolicy.objects.select_related("application").filter(pk=int(value) if value.isdigit() else 0).first()
    if policy is None:
        raise NotAllowed("this warning's policy no longer exists.", field="policy")
    kept = keep_access(person=person, policy=policy)
    return f"Kept: your access to {policy.application.name} stays ({kept} item{'s' if kept != 1 else ''})."


def register() -> None:
    buttons.register(KEEP_ACTION, on_keep_button)
