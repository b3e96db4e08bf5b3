"""`policies/approval.yaml` (the global default and the risk tiers' policies) and
`policies/auto-approval.yaml` (the rules that approve without a person)."""

from __future__ import annotations

from typing import Any

from catalog.models import Application, Role
from governance.audit.services import Actor
from governance.catalog_code.approval import active_policies, apply_policy, describe_policy, policy_entity, read_policy
from governance.catalog_code.kinds import (
    Change,
    Context,
    Entities,
    FileKind,
    Problems,
    Source,
    describe_fields,
    register_kind,
)
from governance.catalog_code.schema import Directory, Reader
from governance.models import AutoApprovalRule
from governance.requests.policies import rule_changed

APPROVAL_FILE = "policies/approval.yaml"
RULES_FILE = "policies/auto-approval.yaml"
TIERS = list(Application.RiskTier.values)
RULE_FIELDS = ("name", "application", "role", "departments", "include_contractors", "grant_on_join")


def current() -> Entities:
    entities: Entities = {}
    for policy in active_policies():
        if policy.role_id or policy.application_id:
            continue
        entities[f"policy tier:{policy.risk_tier}" if policy.risk_tier else "policy global"] = policy_entity(policy)
    rules = AutoApprovalRule.objects.filter(is_active=True).select_related("application", "role__application")
    for rule in rules.order_by("name", "pk"):
        app = rule.role.application if rule.role_id else rule.application
        key = f"rule {rule.name}"
        if key in entities:
            key = f"rule {rule.name} #{rule.pk}"
        entities[key] = {
            "name": rule.name,
            "application": app.slug,
            "role": rule.role.slug if rule.role_id else None,
            "departments": list(rule.departments),
            "include_contractors": rule.include_contractors,
            "grant_on_join": rule.grant_on_join,
        }
    return entities


def files(entities: Entities) -> dict[str, dict[str, Any]]:
    approval: dict[str, Any] = {}
    if "policy global" in entities:
        approval["global"] = entities["policy global"]
    tiers = {tier: entities[f"policy tier:{tier}"] for tier in TIERS if f"policy tier:{tier}" in entities}
    approval["risk_tiers"] = tiers
    rules = [entity for key, entity in entities.items() if key.startswith("rule ")]
    return {APPROVAL_FILE: approval, RULES_FILE: {"rules": rules}}


def read(documents: dict[str, Any], context: Context, problems: Problems) -> Entities:
    directory = Directory()
    desired: Entities = {}
    for path in sorted(documents):
        if path == APPROVAL_FILE:
            _read_approval(Reader(path, problems, directory), documents[path], desired)
        elif path == RULES_FILE:
            _read_rules(Reader(path, problems, directory), documents[path], context, desired)
        else:
            problems.add(path, 1, "(file)", f"unknown policy file (known: {APPROVAL_FILE}, {RULES_FILE}).")
    for path, prefix in ((APPROVAL_FILE, "policy "), (RULES_FILE, "rule ")):
        if path not in documents:  # an absent file manages nothing (deleting it removes nothing)
            desired.update({k: v for k, v in context.current["policies"].items() if k.startswith(prefix)})
            context.notes.append(f"{path} is absent: what it would hold is left as it is.")
    return desired


def _read_approval(reader: Reader, value: Any, desired: Entities) -> None:
    doc = reader.mapping(value, 1, "(file)")
    if doc is None:
        return
    reader.only(doc, ("global", "risk_tiers"))
    if doc.get("global") is not None:
        policy = read_policy(reader, doc["global"], doc.line_of("global"), "global")
        if policy is not None:
            desired["policy global"] = policy
    tiers = doc.get("risk_tiers") or {}
    tiers_doc = reader.mapping(tiers, doc.line_of("risk_tiers"), "risk_tiers") if tiers else None
    for tier, policy_value in (tiers_doc or {}).items():
        if tier not in TIERS:
            reader.nested("risk_tiers").fail(tiers_doc, tier, f"unknown risk tier (known: {', '.join(TIERS)}).")
            continue
        policy = read_policy(reader, policy_value, tiers_doc.line_of(tier), f"risk_tiers.{tier}")
        if policy is not None:
            desired[f"policy tier:{tier}"] = policy


def _read_rules(reader: Reader, value: Any, context: Context, desired: Entities) -> None:
    doc = reader.mapping(value, 1, "(file)")
    if doc is None:
        return
    reader.only(doc, ("rules",))
    catalog = context.desired.get("catalog", {})
    for rule_reader, rule_doc in reader.entries(doc, "rules", RULE_FIELDS):
        rule = {
            "name": rule_reader.text(rule_doc, "name", required=True),
            "application": rule_reader.slug(rule_doc, "application"),
            "role": rule_reader.text(rule_doc, "role", max_length=80) or None,
            "departments": rule_reader.texts(rule_doc, "departments", required=True),
            "include_contractors": rule_reader.boolean(rule_doc, "include_contractors", False),
            "grant_on_join": rule_reader.boolean(rule_doc, "grant_on_join", False),
        }
        if rule["grant_on_join"] and not rule["role"]:
            rule_reader.fail(rule_doc, "grant_on_join", "needs a role (what a joiner is given).")
        app = catalog.get(f"application {rule['application']}")
        if rule["application"] and app is None:
            rule_reader.fail(rule_doc, "application", f"unknown application {rule['application']!r}.")
        elif app is not None and app["risk_tier"] == Application.RiskTier.PRIVILEGED:
            rule_reader.fail(rule_doc, "application", "privileged applications are never approved by a rule.")
        if app is not None and rule["role"] and f"role {rule['application']}/{rule['role']}" not in catalog:
            rule_reader.fail(rule_doc, "role", f"{rule['application']} has no role {rule['role']!r}.")
        if "departments" in rule_doc and not rule["departments"]:
            rule_reader.fail(rule_doc, "departments", "must name at least one department.")
        if f"rule {rule['name']}" in desired:
            rule_reader.fail(rule_doc, "name", f"another rule is already named {rule['name']!r}.")
        elif rule["name"]:
            desired[f"rule {rule['name']}"] = rule


def apply(changes: list[Change], source: Source, actor: Actor) -> None:
    for change in changes:
        kind, name = change.key.split(" ", 1)
        if kind == "policy":
            scope = {"risk_tier": name.removeprefix("tier:")} if name.startswith("tier:") else {}
            apply_policy(change, scope, source, actor)
        else:
            _apply_rule(change, source, actor)


def _apply_rule(change: Change, source: Source, actor: Actor) -> None:
    """Create, update or deactivate the rule named in `change`; its version and audit via rule_changed."""
    name = (change.after or change.before)["name"]
    existing = AutoApprovalRule.objects.filter(is_active=True, name=name).order_by("pk").first()
    detail = {"catalog_change": change.as_data(), "source": source.as_data()}
    if change.after is None:
        if existing is not None:
            existing.is_active = False
            existing.save(update_fields=["is_active", "updated_at"])
            rule_changed(rule=existing, actor=actor, created=False, detail=detail)
        return
    after = change.after
    app = Application.objects.get(slug=after["application"])
    rule = existing or AutoApprovalRule(name=name)
    rule.application = app
    rule.role = Role.objects.get(application=app, slug=after["role"]) if after["role"] else None
    rule.departments = after["departments"]
    rule.include_contractors = after["include_contractors"]
    rule.grant_on_join = after["grant_on_join"]
    rule.save()
    rule_changed(rule=rule, actor=actor, created=existing is None, detail=detail)


def describe(change: Change) -> list[str]:
    if change.key.startswith("policy "):
        return describe_policy(change)
    return describe_fields(change)


register_kind(
    FileKind(
        name="policies",
        order=20,
        owns=lambda path: path in (APPROVAL_FILE, RULES_FILE),
        current=current,
        files=files,
        read=read,
        apply=apply,
        describe=describe,
    )
)
