"""Choices that apps above `catalog` supply at start-up (catalog imports none of them).

`provisioning` binds the connector registry here in its `AppConfig.ready`; until then only the
built-in local directory is offered.
"""

from __future__ import annotations

from collections.abc import Callable

Choices = list[tuple[str, str]]

_connector_choices: Callable[[], Choices] = lambda: [("local", "Local directory")]  # noqa: E731


def bind_connector_choices(provider: Callable[[], Choices]) -> None:
    """Called by provisioning: `provider()` answers (name, label) for every available connector."""
    global _connector_choices
    _connector_choices = provider


def connector_choices() -> Choices:
    """The choices of `IdpGroup.connector`: every connector this deployment has."""
    return _connector_choices()
