"""django-q2 entry points for governance (thin: ids in, one service call)."""

from __future__ import annotations

from . import services


def expire_grant(grant_id: int) -> str:
    grant = services.expire_grant(grant_id)
    return "expired" if grant else "not due"


def expire_due_grants() -> int:
    return services.expire_due_grants()
