"""Movers: a department, manager or title change re-decides access under the mover policy."""

from __future__ import annotations

from django.conf import settings

from catalog.models import MoverPolicy, Person
from governance.audit.services import Actor
from governance.lifecycle import joiners, ports, revocation
from governance.models import Grant, LifecycleEvent, StepKind
from governance.requests.rerouting import reroute_steps

SYSTEM = Actor.system("lifecycle")


def mover_policy(grant: Grant) -> str:
    """The role's policy, else the application's, else GATEHOUSE_MOVER_POLICY."""
    return grant.role.mover_policy or grant.role.application.mover_policy or settings.GATEHOUSE["MOVER_POLICY"]


def _birthright_of(grant: Grant, department: str) -> bool:
    """Granted by an auto-approval rule for `department` (the old team's birthright)."""
    rule = grant.request.auto_approval_rule if grant.request else None
    return bool(rule and department.strip().lower() in {d.strip().lower() for d in rule.departments})


def handle_move(event: LifecycleEvent, *, old_manager: Person | None) -> dict:
    """Apply the mover policy to the person's live grants; re-route approvals of the old manager;
    birthright for the new department. Call inside a transaction; returns what was done."""
    person, changes = event.person, event.changes
    outcome: dict = {}
    if "manager" in changes and old_manager is not None:
        outcome["steps_rerouted"] = reroute_steps(
            away=old_manager,
            replacement=person.manager,
            beneficiary=person,
            kinds=[StepKind.MANAGER],
            reason=f"{person.email} now reports to {person.manager.email if person.manager else 'nobody'}",
        )
    grants = list(
        Grant.objects.filter(person=person, status__in=Grant.LIVE)
        .select_related("person", "role__application", "request__auto_approval_rule")
        .order_by("id")
    )
    old_department = changes.get("department", [person.department])[0] or ""
    to_revoke, to_review = [], []
    for grant in grants:
        policy = mover_policy(grant)
        if policy == MoverPolicy.NOTHING:
            continue
        still_birthright = _birthright_of(grant, person.department or "")
        if policy == MoverPolicy.REVOKE and _birthright_of(grant, old_department) and not still_birthright:
            to_revoke.append(grant)
        else:
            to_review.append(grant)
    if to_revoke:
        reason = f"moved from {old_department} to {person.department or 'no department'}"
        outcome["revoked"] = revocation.revoke_grants(to_revoke, actor=SYSTEM, reason=reason)
    if to_review:
        outcome.update(ports.emit("mover", event=event, grants=to_review))
    if "department" in changes and person.department:
        outcome["birthright"] = joiners.grant_birthright(person, why=f"moved into {person.department}")
    return outcome
