"""django-q2 entry points for governance (thin: ids in, one service call)."""

from __future__ import annotations

from . import services


def expire_grant(grant_id: int) -> str:
    grant = services.expire_grant(grant_id)
    return "expired" if grant else "not due"


def expire_due_grants() -> int:
    return services.expire_due_grants()


def send_jira_update(update_id: int) -> str:
    from .jira import services as jira

    update = jira.send_update(update_id)
    return "not due or already taken" if update is None else update.status


def sweep_jira_updates() -> dict[str, int]:
    from .jira import services as jira

    return jira.sweep_updates()
