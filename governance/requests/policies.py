"""Approval policy changes: every edit bumps the version that requests record."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models import F

from governance.audit.services import Actor, record
from governance.models import ApprovalPolicy


def policy_changed(
    *, policy: ApprovalPolicy, actor: Actor, created: bool, detail: dict[str, Any] | None = None
) -> ApprovalPolicy:
    """Call after a policy (or its steps) was saved: new version, one audit event (`detail` joins its data)."""
    with transaction.atomic():
        if not created:
            ApprovalPolicy.objects.filter(pk=policy.pk).update(version=F("version") + 1)
            policy.refresh_from_db(fields=["version"])
        steps = [f"{s.order}. {s.get_kind_display()}" for s in policy.steps.all()]
        record(
            "policy.created" if created else "policy.changed",
            f"Approval policy {policy.name!r} ({policy.scope_label}) is now v{policy.version}: {', '.join(steps)}.",
            actor=actor,
            data={"policy": policy.pk, "version": policy.version, "steps": steps, **(detail or {})},
        )
    return policy
