"""django-q2 entry points for provisioning (thin: ids in, one service call)."""

from __future__ import annotations

from provisioning.outbox import services


def execute_membership_change(change_id: int) -> str:
    change = services.execute_change(change_id)
    return "not due or already taken" if change is None else f"{change.status} {change.result}".strip()


def execute_membership_changes(change_ids: list[int]) -> int:
    """Run a batch of changes queued together; returns how many this worker claimed."""
    return len(services.membership_outbox.deliver(change_ids))


def recover_membership_changes() -> dict[str, int]:
    return services.recover_changes()


def fail_abandoned_syncs() -> int:
    """Directory syncs whose process died are marked failed (they would block the next sync)."""
    from provisioning.sync.lease import fail_abandoned_runs

    return fail_abandoned_runs()


def sync_all_directories() -> list[str]:
    """The scheduled directory sync (drift detection is run after it by governance.tasks)."""
    from provisioning.sync.services import sync_all_directories as sync_all

    return [str(run) for run in sync_all()]
