"""The `gatehouse` issue property: the request's state as JSON, at most 32 KB, for Jira Automation."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Any

from django.utils import timezone
from django.utils.duration import duration_iso_string

from governance.models import AccessRequest, Grant

PROPERTY_KEY = "gatehouse"
PROPERTY_MAX_BYTES = 32 * 1024


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment else None


def _cut(value: str, limit: int) -> str:
    return value if len(value) <= limit else value[: limit - 1] + "…"


def issue_property(request: AccessRequest, *, text_limit: int = 500) -> dict[str, Any]:
    """The request's state for `issue.properties.gatehouse` (readable by Jira Automation), ≤ 32 KB."""
    steps = [
        {
            "order": s.order,
            "kind": s.kind,
            "status": s.status,
            "approvers": [p.email for p in s.approvers.all()],
            "decided_by": s.decided_by.email if s.decided_by else None,
            "decided_at": _iso(s.decided_at),
            "channel": s.channel,
            "comment": _cut(s.comment, text_limit),
        }
        for s in request.steps.select_related("decided_by").prefetch_related("approvers").order_by("order")
    ]
    grant: Grant | None = Grant.objects.filter(request=request).first()
    groups = []
    grant_data = None
    if grant is not None:
        grant_data = {
            "id": grant.pk,
            "status": grant.status,
            "starts_at": _iso(grant.starts_at),
            "expires_at": _iso(grant.expires_at),
            "ended_at": _iso(grant.ended_at),
            "removed_at": _iso(grant.removed_at),
            "end_reason": _cut(grant.end_reason, text_limit),
        }
        groups = [
            {
                "group": c.group.name,
                "provider": c.group.connector,
                "action": c.action,
                "status": c.status,
                "result": c.result,
            }
            for c in grant.membership_changes.select_related("group").order_by("id")
        ]
    value = {
        "schema": 1,
        "id": request.pk,
        "status": request.status,
        "status_reason": _cut(request.status_reason, text_limit),
        "requester": request.requester.email,
        "beneficiary": request.beneficiary.email,
        "application": request.application.slug,
        "role": request.role.slug,
        "duration": duration_iso_string(request.duration) if request.duration else None,
        "policy": request.policy_label,
        "created_at": _iso(request.created_at),
        "closed_at": _iso(request.closed_at),
        "current_step": next((s["order"] for s in steps if s["status"] == "pending"), None),
        "steps": steps,
        "grant": grant_data,
        "groups": groups,
        "updated_at": timezone.now().isoformat(),
    }
    return _fit(value, text_limit)


def property_size(value: Any) -> int:
    return len(json.dumps(value, separators=(",", ":")).encode())


def _fit(value: dict[str, Any], text_limit: int) -> dict[str, Any]:
    """Shrink free text, then the per-step and per-group detail, until the JSON fits Jira's 32 KB."""
    if property_size(value) <= PROPERTY_MAX_BYTES:
        return value
    for step in value["steps"]:
        step["comment"] = _cut(step["comment"], 80)
        step["approvers"] = step["approvers"][:5]
    value["status_reason"] = _cut(value["status_reason"], 200)
    if property_size(value) <= PROPERTY_MAX_BYTES:
        return value
    value["steps"] = [{"order": s["order"], "status": s["status"]} for s in value["steps"]][:100]
    value["groups"] = value["groups"][:50]
    value["truncated"] = True
    return value
