"""Joiners (birthright): rules that grant on join request and provision access for new people."""

from __future__ import annotations

from catalog.models import Application, Person
from governance.audit.services import Actor, record
from governance.errors import GovernanceError
from governance.models import AutoApprovalRule
from governance.requests.services import RequestInput, submit_request

SYSTEM = Actor.system("lifecycle")


def birthright_rules(person: Person) -> list[AutoApprovalRule]:
    """Active grant-on-join rules for the person's department (contractors only where the rule says)."""
    department = (person.department or "").strip().lower()
    if not department:
        return []
    rules = (
        AutoApprovalRule.objects.filter(is_active=True, grant_on_join=True, role__isnull=False)
        .exclude(role__application__risk_tier=Application.RiskTier.PRIVILEGED)
        .select_related("role__application")
        .order_by("id")
    )
    return [
        rule
        for rule in rules
        if (rule.include_contractors or not person.is_contractor)
        and department in {d.strip().lower() for d in rule.departments}
    ]


def grant_birthright(person: Person, *, why: str) -> list[dict]:
    """Request (and so provision) every birthright role the person does not hold yet.

    Each request is `source: lifecycle` and records the rule; a refusal (already held, a role that
    needs a duration) is recorded, never raised."""
    outcome = []
    for rule in birthright_rules(person):
        role = rule.role
        data = RequestInput(
            requester=person.email,
            application=role.application.slug,
            role=role.slug,
            reason=f"Birthright access: rule {rule.name!r} ({why}).",
        )
        try:
            request, _ = submit_request(data=data, source="lifecycle", actor=SYSTEM)
        except GovernanceError as error:
            record(
                "lifecycle.birthright_skipped",
                f"Birthright {role} for {person.email} not requested (rule {rule.name!r}): {error.message}",
                actor=SYSTEM,
                subject=person,
                data={"rule": rule.pk, "role": role.pk, "error": error.message, "code": error.code},
            )
            outcome.append({"rule": rule.name, "role": str(role), "skipped": error.message})
            continue
        outcome.append({"rule": rule.name, "role": str(role), "request": request.pk, "status": request.status})
    return outcome
