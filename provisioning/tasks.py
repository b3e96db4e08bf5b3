"""django-q2 entry points for provisioning (thin: ids in, one service call)."""

from __future__ import annotations

from . import services


def execute_membership_change(change_id: int) -> str:
    change = services.execute_change(change_id)
    return "not due or already taken" if change is None else f"{change.status} {change.result}".strip()


def recover_membership_changes() -> dict[str, int]:
    return services.recover_changes()


def sync_all_directories() -> list[str]:
    """The scheduled directory sync (drift detection is run after it by governance.tasks)."""
    from .sync import sync_all_directories as sync_all

    return [str(run) for run in sync_all()]
