"""Auto Reclaim, removing: the access of due cases goes through governance's revocation services,
all grants of a sweep in one `end_grants` batch, so a capped run of hundreds costs a fixed number
of queries (memberships found in the provider without a grant: one queued removal each). Safe to
run twice: cases are claimed with a conditional update, and a grant that ended meanwhile closes
its case as "access gone"."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db import transaction

from governance.errors import GovernanceError
from governance.models import Grant
from governance.services import end_grants, record_many, remove_standing_membership
from reviews.models import ReclaimCase, ReclaimPolicy
from reviews.reclaim.cases import case_data, outcome_event
from reviews.reclaim.plan import SYSTEM, Outcome, Status


@dataclass
class Removed:
    removed: int = 0
    gone: int = 0


def _claim(cases: list[ReclaimCase], now: datetime) -> list[ReclaimCase]:
    """The cases this sweep takes (another sweep may have taken some), with what removal reads."""
    ids = [case.pk for case in cases]
    open_cases = ReclaimCase.objects.filter(pk__in=ids, status__in=ReclaimCase.OPEN_STATUSES)
    open_cases.filter(removal_requested_at__isnull=True).update(removal_requested_at=now)
    mine = open_cases.filter(removal_requested_at=now)
    return list(mine.select_related("person", "application", "grant__request", "group").order_by("pk"))


def reason_for(policy: ReclaimPolicy) -> str:
    return f"Auto Reclaim: no use of {policy.application.name} for {policy.threshold_days} days"


def remove_due_access(policy: ReclaimPolicy, cases: list[ReclaimCase], now: datetime) -> Removed:
    """Remove the access of these due cases and close them; returns how many were removed and how
    many had lost their access meanwhile."""
    result = Removed()
    if not cases:
        return result
    with transaction.atomic():
        claimed = _claim(cases, now)
        details, gone = _revoke_grants(policy, [case for case in claimed if case.grant_id])
        for case in claimed:
            if not case.grant_id:
                _remove_membership(policy, case, details, gone)
        removed = [case for case in claimed if case.pk in details]
        _close(removed, gone, details, now)
        record_many([_requested_event(policy, case, details[case.pk]) for case in removed], actor=SYSTEM)
        record_many([outcome_event(case) for case in removed + list(gone)], actor=SYSTEM)
    result.removed, result.gone = len(removed), len(gone)
    return result


def _revoke_grants(policy: ReclaimPolicy, cases: list[ReclaimCase]) -> tuple[dict[int, str], dict[ReclaimCase, str]]:
    """(case id -> what was done, case -> why nothing was) for the cases about a grant."""
    ended = {
        grant.pk: grant
        for grant in end_grants(
            [case.grant_id for case in cases], outcome=Grant.Status.REVOKED, actor=SYSTEM, reason=reason_for(policy)
        )
    }
    details, gone = {}, {}
    for case in cases:
        if case.grant_id in ended:
            case.grant = ended[case.grant_id]
            details[case.pk] = f"grant #{case.grant_id} revoked"
        else:
            gone[case] = f"Grant #{case.grant_id} is no longer pending or active."
    return details, gone


def _remove_membership(
    policy: ReclaimPolicy, case: ReclaimCase, details: dict[int, str], gone: dict[ReclaimCase, str]
) -> None:
    try:
        change = remove_standing_membership(
            person=case.person, group=case.group, actor=SYSTEM, reason=f"{reason_for(policy)} (case #{case.pk})"
        )
    except GovernanceError as error:
        gone[case] = error.message
        return
    details[case.pk] = f"removal from {case.group.name} queued (change #{change.pk})"


def _close(removed: list[ReclaimCase], gone: dict[ReclaimCase, str], details: dict[int, str], now: datetime) -> None:
    for case in removed:
        detail = details[case.pk]
        case.status, case.outcome, case.outcome_note, case.closed_at = Status.CLOSED, Outcome.RECLAIMED, detail, now
        case.removal_detail = detail[:300]
    for case, note in gone.items():
        case.status, case.outcome, case.outcome_note, case.closed_at = Status.CLOSED, Outcome.ACCESS_GONE, note, now
        case.removal_requested_at = None
    fields = ["status", "outcome", "outcome_note", "closed_at", "removal_requested_at", "removal_detail"]
    ReclaimCase.objects.bulk_update([*removed, *gone], fields, batch_size=500)


def _requested_event(policy: ReclaimPolicy, case: ReclaimCase, detail: str) -> dict:
    return {
        "action": "reclaim.removal_requested",
        "message": f"Auto Reclaim removes {case.person.email}'s access to {policy.application.name}: {detail}.",
        "grant": case.grant,
        "subject": case.person,
        "data": {**case_data(case), "detail": detail},
    }
