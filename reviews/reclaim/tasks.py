"""django-q2 entry point for the Auto Reclaim sweep (thin: one service call).

Scheduled by `manage.py setup_schedules` as "reclaim inactive access" (daily), once the lead adds it there.
"""

from __future__ import annotations

from reviews.reclaim.services import run_reclaim


def run_reclaim_sweep(app_slug: str | None = None) -> list[str]:
    """Sweep every application with an active reclaim policy (or one); returns the summary lines."""
    return run_reclaim(app_slug=app_slug).lines()
