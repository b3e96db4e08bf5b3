"""Approval routing: which policy applies, who decides each step, and who stands in for whom."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Prefetch, Q

from catalog.models import Application, Person, Role
from governance.models import (
    AccessRequest,
    ApprovalDecision,
    ApprovalPolicy,
    AutoApprovalRule,
    Delegation,
    PolicyStep,
    StepKind,
)

#: Used when no policy at all is configured, so no request is ever unroutable by omission.
BUILT_IN_ROUTE = (StepKind.MANAGER,)
PERSON_KINDS = {StepKind.NAMED, StepKind.NAMED_ALL}


@dataclass
class PlannedStep:
    order: int
    kind: str
    approvers: list[Person] = field(default_factory=list)
    note: str = ""


@dataclass
class RoutePlan:
    policy: ApprovalPolicy | None
    steps: list[PlannedStep]
    error: str = ""

    @property
    def policy_label(self) -> str:
        if self.policy is None:
            return "built-in default (manager approval): no policy configured"
        return f"{self.policy.name} v{self.policy.version} ({self.policy.scope_label})"


def _policy_prefetch() -> tuple:
    return (Prefetch("steps", queryset=PolicyStep.objects.prefetch_related("approvers")), "fallback_approvers")


def active_policies() -> list[ApprovalPolicy]:
    """Every active policy with its steps and people, in a fixed number of queries."""
    return list(ApprovalPolicy.objects.filter(is_active=True).prefetch_related(*_policy_prefetch()))


def pick_policy(role: Role, policies: Iterable[ApprovalPolicy]) -> ApprovalPolicy | None:
    """The most specific policy: role, then application, then risk tier, then global."""
    by_rank: dict[int, ApprovalPolicy] = {}
    for policy in policies:
        if policy.role_id:
            if policy.role_id == role.id:
                by_rank[0] = policy
        elif policy.application_id:
            if policy.application_id == role.application_id:
                by_rank[1] = policy
        elif policy.risk_tier:
            if policy.risk_tier == role.application.risk_tier:
                by_rank[2] = policy
        else:
            by_rank[3] = policy
    return by_rank[min(by_rank)] if by_rank else None


def _candidate_policies(role: Role):
    app = role.application
    return ApprovalPolicy.objects.filter(is_active=True).filter(
        Q(role=role)
        | Q(role__isnull=True, application=app)
        | Q(role__isnull=True, application__isnull=True, risk_tier=app.risk_tier)
        | Q(role__isnull=True, application__isnull=True, risk_tier="")
    )


def resolve_policy(role: Role) -> ApprovalPolicy | None:
    return pick_policy(role, _candidate_policies(role).prefetch_related(*_policy_prefetch()))


def it_approvers() -> list[Person]:
    """The last resort: the fallback approvers of the active global default policy."""
    policy = (
        ApprovalPolicy.objects.filter(is_active=True, role__isnull=True, application__isnull=True, risk_tier="")
        .prefetch_related("fallback_approvers")
        .first()
    )
    return list(policy.fallback_approvers.all()) if policy else []


def describe_route(role: Role, policy: ApprovalPolicy | None) -> list[dict]:
    """The route a request would take, without naming a requester (for the catalog API)."""
    if policy is None:
        return [{"order": 1, "kind": kind, "approvers": []} for kind in BUILT_IN_ROUTE]
    route = []
    for step in policy.steps.all():
        approvers: list[str] = []
        if step.kind in PERSON_KINDS:
            approvers = [p.email for p in step.approvers.all()]
        elif step.kind == StepKind.APP_OWNER and role.application.owner:
            approvers = [role.application.owner.email]
        route.append({"order": step.order, "kind": step.kind, "approvers": approvers})
    return route


def matching_auto_rule(role: Role, beneficiary: Person) -> AutoApprovalRule | None:
    """A birthright rule that approves this role for the beneficiary's department, if any.

    Privileged applications are never approved by a department rule."""
    if role.application.risk_tier == Application.RiskTier.PRIVILEGED or not beneficiary.department:
        return None
    rules = AutoApprovalRule.objects.filter(is_active=True).filter(
        Q(role=role) | Q(role__isnull=True, application_id=role.application_id)
    )
    department = beneficiary.department.strip().lower()
    for rule in rules.order_by("id"):
        if beneficiary.is_contractor and not rule.include_contractors:
            continue
        if department in {d.strip().lower() for d in rule.departments}:
            return rule
    return None


def _why_not(person: Person | None, label: str, requester: Person, beneficiary: Person) -> str:
    if person is None:
        return f"there is no {label}"
    if person.id == requester.id:
        return f"the {label} ({person.email}) is the requester"
    if person.id == beneficiary.id:
        return f"the {label} ({person.email}) is the beneficiary"
    return f"the {label} ({person.email}) is {person.status}"


def eligible(people: Iterable[Person | None], excluded: set[int]) -> list[Person]:
    return [p for p in people if p is not None and p.is_active and p.id not in excluded]


def _candidates(kind: str, step: PolicyStep | None, app: Application, beneficiary: Person) -> tuple[list, str]:
    if kind == StepKind.MANAGER:
        return [beneficiary.manager], "beneficiary's manager"
    if kind == StepKind.SECOND_LEVEL_MANAGER:
        manager = beneficiary.manager
        return [manager.manager if manager else None], "second-level manager"
    if kind == StepKind.APP_OWNER:
        return [app.owner], "application owner"
    return (list(step.approvers.all()) if step else []), "named approvers"


def fallback_chain(
    app: Application, policy: ApprovalPolicy | None, excluded: set[int], *, skip_owner: bool = False
) -> tuple[list[Person], str]:
    """Who decides when a step's own approvers cannot: the owner, the policy's fallback, then IT."""
    if not skip_owner and (owner := eligible([app.owner], excluded)):
        return owner, "the application owner"
    if policy and (chosen := eligible(policy.fallback_approvers.all(), excluded)):
        return chosen, "the policy's fallback approvers"
    if chosen := eligible(it_approvers(), excluded):
        return chosen, "the IT approvers (global default policy's fallback)"
    return [], ""


def _plan_step(order, kind, step, app, requester, beneficiary, policy) -> PlannedStep:
    if kind == StepKind.AUTOMATIC:
        return PlannedStep(order, kind, [], "approved automatically by policy")
    excluded = {requester.id, beneficiary.id}
    people, label = _candidates(kind, step, app, beneficiary)
    chosen = eligible(people, excluded)
    if chosen and (kind != StepKind.NAMED_ALL or len(chosen) == len(people)):
        return PlannedStep(order, kind, chosen)
    reasons = "; ".join(_why_not(p, label, requester, beneficiary) for p in people if p not in chosen)
    reasons = reasons or f"no {label} named"
    if chosen:  # "all of them", some excluded: the others must all decide
        return PlannedStep(order, kind, chosen, f"{reasons}: the remaining named approvers decide")
    fallback, who = fallback_chain(app, policy, excluded, skip_owner=kind == StepKind.APP_OWNER)
    if fallback:
        return PlannedStep(order, kind, fallback, f"{reasons}: routed to {who}")
    return PlannedStep(order, kind, [], f"{reasons}, and no fallback approver is eligible")


def plan_route(
    *, role: Role, requester: Person, beneficiary: Person, policy: ApprovalPolicy | None = None
) -> RoutePlan:
    """Who must approve, in what order. `error` is set when a step has nobody eligible.
    `policy` routes through that policy instead of the role's (an exception route)."""
    policy = policy if policy is not None else resolve_policy(role)
    app = role.application
    if policy is None:
        kinds = [(i + 1, kind, None) for i, kind in enumerate(BUILT_IN_ROUTE)]
    else:
        kinds = [(s.order, s.kind, s) for s in policy.steps.all()]
    steps = [_plan_step(order, kind, step, app, requester, beneficiary, policy) for order, kind, step in kinds]
    plan = RoutePlan(policy=policy, steps=steps)
    if not steps:
        plan.error = f"Policy {plan.policy_label} has no steps; add one (an automatic step means no approval)."
    for step in steps:
        if step.kind != StepKind.AUTOMATIC and not step.approvers:
            plan.error = f"Step {step.order} ({StepKind(step.kind).label}) cannot be routed: {step.note}."
            break
    return plan


def active_delegate(person: Person, at: datetime, excluded: set[int]) -> Person | None:
    """The eligible delegate `person` named for the moment `at`, if any."""
    delegation = (
        Delegation.objects.select_related("delegate")
        .filter(person=person, starts_at__lte=at, ends_at__gt=at)
        .order_by("-starts_at")
        .first()
    )
    if delegation and eligible([delegation.delegate], excluded):
        return delegation.delegate
    return None


def separated_from(request: AccessRequest, order: int) -> set[int]:
    """Separation of duties: the people not eligible for step `order` because they decided an
    earlier step of `request` (empty when the request's policy does not require distinct approvers)."""
    policy = request.policy
    if policy is None or not policy.requires_distinct_approvers(request.application):
        return set()
    decided = ApprovalDecision.objects.filter(step__request=request, step__order__lt=order, person__isnull=False)
    return set(decided.values_list("person_id", flat=True))


def separate_duties(request: AccessRequest, step, excluded: set[int]) -> str:
    """Take out of `step` whoever decided an earlier step; when nobody is left, route it as for a
    missing approver. Returns a note for the step's route (empty when nothing changed)."""
    separated = separated_from(request, step.order)
    current = list(step.approvers.all())
    removed = [p for p in current if p.id in separated]
    if not removed:
        return ""
    names = ", ".join(p.email for p in removed)
    why = f"{names} decided an earlier step (separation of duties)"
    remaining = [p for p in current if p.id not in separated]
    if remaining:
        step.approvers.remove(*removed)
        return f"{why}: the other approvers decide"
    fallback, who = fallback_chain(
        request.application, request.policy, excluded | separated, skip_owner=step.kind == StepKind.APP_OWNER
    )
    step.approvers.set(fallback)
    return f"{why}: routed to {who}" if fallback else f"{why}, and no fallback approver is eligible"
