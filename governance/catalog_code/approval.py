"""Approval policies in files: one shape for every scope (role, application, risk tier, global)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch

from catalog.models import Person
from governance.audit.services import Actor
from governance.catalog_code.kinds import Change, Entity, Source
from governance.catalog_code.schema import Reader
from governance.catalog_code.yamlio import Marked, MarkedList
from governance.models import ApprovalPolicy, PolicyStep, StepKind
from governance.requests.policies import policy_changed

NAMED_KINDS = (StepKind.NAMED, StepKind.NAMED_ALL)
POLICY_FIELDS = ("name", "fallback_approvers", "steps")


def active_policies() -> list[ApprovalPolicy]:
    """Every active policy with its steps and people, in a fixed number of queries."""
    return list(
        ApprovalPolicy.objects.filter(is_active=True)
        .select_related("application", "role__application")
        .prefetch_related(
            Prefetch("fallback_approvers", queryset=Person.objects.only("email")),
            Prefetch("steps", queryset=PolicyStep.objects.prefetch_related("approvers")),
        )
        .order_by("pk")
    )


def policy_entity(policy: ApprovalPolicy) -> Entity:
    steps = []
    for step in policy.steps.all():
        entry: dict[str, Any] = {"kind": step.kind}
        if step.kind in NAMED_KINDS:
            entry["approvers"] = sorted(person.email.lower() for person in step.approvers.all())
        steps.append(entry)
    return {
        "name": policy.name,
        "fallback_approvers": sorted(person.email.lower() for person in policy.fallback_approvers.all()),
        "steps": steps,
    }


def read_policy(reader: Reader, value: Any, line: int, name: str) -> Entity | None:
    doc = reader.mapping(value, line, name)
    if doc is None:
        return None
    policy_reader = reader.nested(name)
    policy_reader.only(doc, POLICY_FIELDS)
    steps_value = doc.get("steps")
    steps: list[dict[str, Any]] = []
    if not isinstance(steps_value, MarkedList) or not steps_value:
        policy_reader.fail(doc, "steps", "must be a list of at least one step.")
    else:
        for index, item in enumerate(steps_value):
            step = _read_step(policy_reader, item, steps_value.lines[index], f"{name}.steps[{index}]")
            if step is not None:
                steps.append(step)
    return {
        "name": policy_reader.text(doc, "name", required=True),
        "fallback_approvers": policy_reader.people(doc, "fallback_approvers"),
        "steps": steps,
    }


def _read_step(reader: Reader, value: Any, line: int, name: str) -> dict[str, Any] | None:
    doc = reader.mapping(value, line, name)
    if doc is None:
        return None
    step_reader = reader.nested(name)
    step_reader.only(doc, ("kind", "approvers"))
    kind = step_reader.choice(doc, "kind", list(StepKind.values), "")
    if "kind" not in doc:
        step_reader.fail(doc, "kind", "is required.")
    entry: dict[str, Any] = {"kind": kind}
    if kind in NAMED_KINDS:
        approvers = step_reader.people(doc, "approvers")
        if not approvers and "approvers" not in doc:
            step_reader.fail(doc, "approvers", "is required for named-people steps.")
        entry["approvers"] = approvers
    elif "approvers" in doc:
        step_reader.fail(doc, "approvers", "only named and named_all steps have approvers.")
    return entry


def apply_policy(change: Change, scope: dict[str, Any], source: Source, actor: Actor) -> None:
    """Create, update or deactivate the active policy of `scope`; its version and audit via policy_changed."""
    detail = {"catalog_change": change.as_data(), "source": source.as_data()}
    policy = ApprovalPolicy.objects.filter(is_active=True, **_scope_filter(scope)).first()
    if change.after is None:
        if policy is not None:
            policy.is_active = False
            policy.save(update_fields=["is_active", "updated_at"])
            policy_changed(policy=policy, actor=actor, created=False, detail=detail)
        return
    created = policy is None
    if created:
        policy = ApprovalPolicy(**scope)
    policy.name = change.after["name"]
    policy.save()
    emails = {*change.after["fallback_approvers"]}
    for step in change.after["steps"]:
        emails.update(step.get("approvers", []))
    people = {person.email.lower(): person for person in Person.objects.filter(email__in=emails)}
    policy.fallback_approvers.set([people[email] for email in change.after["fallback_approvers"]])
    policy.steps.all().delete()
    for order, step in enumerate(change.after["steps"], start=1):
        saved = PolicyStep.objects.create(policy=policy, order=order, kind=step["kind"])
        if step.get("approvers"):
            saved.approvers.set([people[email] for email in step["approvers"]])
    policy_changed(policy=policy, actor=actor, created=created, detail=detail)


def _scope_filter(scope: dict[str, Any]) -> dict[str, Any]:
    if scope.get("role") is not None:
        return {"role": scope["role"]}
    if scope.get("application") is not None:
        return {"role": None, "application": scope["application"]}
    return {"role": None, "application": None, "risk_tier": scope.get("risk_tier", "")}


def describe_policy(change: Change) -> list[str]:
    """The steps before and after, as a person reads them."""

    def route(entity: Entity | None) -> str:
        if entity is None:
            return "(none)"
        parts = []
        for step in entity["steps"]:
            who = f" ({', '.join(step['approvers'])})" if step.get("approvers") else ""
            parts.append(f"{step['kind']}{who}")
        return " → ".join(parts)

    lines = []
    if change.before is None or change.after is None or change.before["steps"] != change.after["steps"]:
        lines.append(f"steps: {route(change.before)}  ⇒  {route(change.after)}")
    for field in ("name", "fallback_approvers"):
        if change.before and change.after and change.before[field] != change.after[field]:
            lines.append(f"{field}: {change.before[field]!r} ⇒ {change.after[field]!r}")
    return lines


__all__ = ["Marked", "active_policies", "apply_policy", "describe_policy", "policy_entity", "read_policy"]
