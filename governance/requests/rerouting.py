"""Re-routing open approval steps away from someone who can no longer decide them (a leaver, or a
manager the beneficiary no longer reports to), through the normal fallback chain."""

from __future__ import annotations

from collections.abc import Iterable

from django.db import transaction

from catalog.models import Person
from governance.audit.services import Actor, record
from governance.models import AccessRequest, ApprovalStep
from governance.notifications import services as notifications
from governance.requests import routing

S = ApprovalStep.Status
ACTOR = Actor.system("routing")


def reroute_steps(
    *,
    away: Person,
    reason: str,
    replacement: Person | None = None,
    beneficiary: Person | None = None,
    kinds: Iterable[str] | None = None,
) -> int:
    """Take `away` off every open step they approve (only `beneficiary`'s requests and `kinds` of
    step when given). `replacement` takes their place when eligible; a step left with nobody goes
    to the fallback chain. Returns how many steps changed. Call inside a transaction."""
    steps = ApprovalStep.objects.filter(
        status__in=[S.WAITING, S.PENDING], request__status=AccessRequest.Status.PENDING_APPROVAL, approvers=away
    )
    if beneficiary is not None:
        steps = steps.filter(request__beneficiary=beneficiary)
    if kinds is not None:
        steps = steps.filter(kind__in=list(kinds))
    steps = steps.select_related("request__role__application__owner", "request__policy").order_by("id")
    changed = 0
    with transaction.atomic():
        for step in steps.select_for_update(of=("self",)):
            _reroute(step, away, replacement, reason)
            changed += 1
    return changed


def _reroute(step: ApprovalStep, away: Person, replacement: Person | None, reason: str) -> None:
    request = step.request
    excluded = {request.requester_id, request.beneficiary_id, away.pk}
    step.approvers.remove(away)
    remaining = set(step.approvers.values_list("id", flat=True))
    added: list[Person] = []
    if replacement is not None and routing.eligible([replacement], excluded | remaining):
        added, who = [replacement], f"{replacement.email}"
    elif remaining:
        who = "the remaining approvers"
    else:
        added, who = routing.fallback_chain(request.role.application, request.policy, excluded)
        who = f"{who} ({', '.join(p.email for p in added)})" if added else "nobody eligible"
    if added:
        step.approvers.add(*added)
    note = f"{away.email} taken off ({reason}): routed to {who}"
    step.route_note = (step.route_note + "; " if step.route_note else "") + note
    step.save(update_fields=["route_note"])
    record(
        "step.rerouted" if added or remaining else "step.reroute_failed",
        f"Step {step.order}: {note}.",
        actor=ACTOR,
        request=request,
        data={"step": step.order, "away": away.email, "added": [p.email for p in added], "reason": reason},
    )
    if added and step.status == S.PENDING:
        notifications.approvers_asked(step, reason="escalated", people=added)
