"""Connector registry: the one place that maps a provider name to its implementation and settings.

Each provider lives in its own folder (`provisioning/connectors/<name>/`) whose `__init__.py`
exposes `CONNECTOR`, a `ConnectorDeclaration` (its settings, which are secret, how it is built).
`BUILT_IN` below is the only other place a provider is named. Nothing outside `provisioning/`
should know which provider is in use; it asks for the connector of a group
(`connector_for(group.connector)`).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from provisioning.connectors.base import (
    AddResult,
    Connector,
    ConnectorError,
    CursorExpired,
    DirectoryApplication,
    DirectoryGroup,
    DirectoryUser,
    PermanentError,
    RemoveResult,
    RetryableError,
    UserRef,
)
from provisioning.connectors.declaration import ConnectorDeclaration, ConnectorSettings, ConnectorStatus, Setting

#: the providers shipped with Gatehouse: one line per provider folder
BUILT_IN = ("local", "okta", "entra", "google")

_DECLARATIONS: dict[str, ConnectorDeclaration] = {}
#: name -> factory; a declared provider's factory builds it from its settings
_FACTORIES: dict[str, Callable[[], Connector]] = {}


def declare(declaration: ConnectorDeclaration) -> None:
    """Add a provider with its settings declaration (done for `BUILT_IN` below)."""
    _DECLARATIONS[declaration.name] = declaration
    _FACTORIES[declaration.name] = lambda: declaration.build(configured_values(declaration))


def register(name: str, factory: Callable[[], Connector]) -> None:
    """Make a provider available under `name` with a factory of its own (e.g. a test double)."""
    _FACTORIES[name] = factory


def available() -> list[str]:
    return sorted(_FACTORIES)


def declarations() -> list[ConnectorDeclaration]:
    """The declared providers, in `BUILT_IN` order."""
    return list(_DECLARATIONS.values())


def declaration_for(name: str) -> ConnectorDeclaration | None:
    return _DECLARATIONS.get(name)


def connector_choices() -> list[tuple[str, str]]:
    """(name, label) of every available provider: the choices of `IdpGroup.connector`."""
    return [(name, _DECLARATIONS[name].label if name in _DECLARATIONS else name) for name in available()]


def read_environment(env: Any) -> dict[str, ConnectorSettings]:
    """Django setting name -> values, for every declared provider with settings (used by settings.py)."""
    return {d.settings_name: d.read_environment(env) for d in declarations() if d.settings_name}


def configured_values(declaration: ConnectorDeclaration) -> ConnectorSettings:
    """The provider's values as configured now: the declared defaults overlaid with its Django setting."""
    from django.conf import settings

    configured = getattr(settings, declaration.settings_name, None) if declaration.settings_name else None
    return declaration.values(configured)


def connector_for(name: str) -> Connector:
    """A ready connector for provider `name`; PermanentError when none is configured."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise PermanentError(f"No connector named {name!r} is configured (available: {', '.join(available())}).")
    return factory()


for _name in BUILT_IN:
    declare(importlib.import_module(f"provisioning.connectors.{_name}").CONNECTOR)

__all__ = [
    "BUILT_IN",
    "AddResult",
    "Connector",
    "ConnectorDeclaration",
    "ConnectorError",
    "ConnectorSettings",
    "ConnectorStatus",
    "CursorExpired",
    "DirectoryApplication",
    "DirectoryGroup",
    "DirectoryUser",
    "PermanentError",
    "RemoveResult",
    "RetryableError",
    "Setting",
    "UserRef",
    "available",
    "configured_values",
    "connector_choices",
    "connector_for",
    "declaration_for",
    "declarations",
    "declare",
    "read_environment",
    "register",
]
