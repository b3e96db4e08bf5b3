"""django-q2 entry points for governance (thin: ids in, one service call)."""

from __future__ import annotations

from . import services


def expire_grant(grant_id: int) -> str:
    grant = services.expire_grant(grant_id)
    return "expired" if grant else "not due"


def expire_due_grants() -> int:
    return services.expire_due_grants()


def sync_directories_and_detect_drift() -> dict:
    """The scheduled directory sync, then drift detection for each connector that synced cleanly.

    Lives in governance because drift needs grants; provisioning's sync never imports governance.
    """
    from provisioning.sync import sync_all_directories

    from .services.drift import detect_drift

    result = {}
    for run in sync_all_directories():
        if run.status == run.Status.SUCCEEDED:
            result[run.connector] = vars(detect_drift(connector=run.connector))
        else:
            result[run.connector] = {"sync": run.status, "error": run.error}
    return result


def detect_drift() -> dict:
    """Drift detection over every watched group (e.g. after `manage.py sync_directory`)."""
    from .services.drift import detect_drift as detect

    return vars(detect())
