"""Start-up check: a Google Workspace connector that is half configured fails `manage.py check` (and
every command that runs the checks), naming what is missing or unreadable, never the key."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

from provisioning.connectors.google.config import configuration_problems, configured


def check_google_configuration(**kwargs: Any) -> list[checks.CheckMessage]:
    config = getattr(settings, "GOOGLE", {}) or {}
    if not configured(config):
        return []
    return [
        checks.Error(
            f"Google Workspace connector: {problem}.",
            hint="See docs/google.md; unset GOOGLE_ADMIN_SUBJECT and the key variables to turn the connector off.",
            id="gatehouse.google.E001",
        )
        for problem in configuration_problems(config)
    ]
