"""Approval policy and auto-approval rule changes: every edit bumps the version that requests record."""

from __future__ import annotations

from typing import Any

from django.db import models, transaction
from django.db.models import F

from governance.audit.services import Actor, record
from governance.models import ApprovalPolicy, AutoApprovalRule


def _versioned(obj: models.Model, *, created: bool, action: str, message, actor: Actor, data: dict[str, Any]) -> None:
    """Bump `obj.version` (unless it was just created) and write one audit event naming the new version.

    `message(obj)` is called after the bump, so it reads the new version."""
    with transaction.atomic():
        if not created:
            type(obj).objects.filter(pk=obj.pk).update(version=F("version") + 1)
            obj.refresh_from_db(fields=["version"])
        record(
            f"{action}.created" if created else f"{action}.changed",
            message(obj),
            actor=actor,
            data={"version": obj.version, **data},
        )


def policy_changed(
    *, policy: ApprovalPolicy, actor: Actor, created: bool, detail: dict[str, Any] | None = None
) -> ApprovalPolicy:
    """Call after a policy (or its steps) was saved: new version, one audit event (`detail` joins its data)."""
    steps = [f"{s.order}. {s.get_kind_display()}" for s in policy.steps.all()]
    _versioned(
        policy,
        created=created,
        action="policy",
        message=lambda p: f"Approval policy {p.name!r} ({p.scope_label}) is now v{p.version}: {', '.join(steps)}.",
        actor=actor,
        data={"policy": policy.pk, "steps": steps, **(detail or {})},
    )
    return policy


def rule_changed(
    *, rule: AutoApprovalRule, actor: Actor, created: bool, detail: dict[str, Any] | None = None
) -> AutoApprovalRule:
    """Call after an auto-approval rule was saved (or deactivated): new version, one audit event."""
    _versioned(
        rule,
        created=created,
        action="auto_rule",
        message=lambda r: f"Auto-approval rule {r.name!r} ({r.scope_label}) is now v{r.version}: {r.summary}.",
        actor=actor,
        data={"rule": rule.pk, "summary": rule.summary, "is_active": rule.is_active, **(detail or {})},
    )
    return rule
