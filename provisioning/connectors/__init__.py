"""Connector registry: the one place that maps a provider name to its implementation.

Nothing outside `provisioning/` should know which provider is in use; it asks for the
connector of a group (`connector_for(group.connector)`).
"""

from __future__ import annotations

from collections.abc import Callable

from provisioning.connectors.base import (
    AddResult,
    Connector,
    ConnectorError,
    DirectoryApplication,
    DirectoryGroup,
    DirectoryUser,
    PermanentError,
    RemoveResult,
    RetryableError,
    UserRef,
)

_FACTORIES: dict[str, Callable[[], Connector]] = {}


def register(name: str, factory: Callable[[], Connector]) -> None:
    """Make a provider available under `name` (used by the built-in providers below)."""
    _FACTORIES[name] = factory


def available() -> list[str]:
    return sorted(_FACTORIES)


def connector_for(name: str) -> Connector:
    """A ready connector for provider `name`; PermanentError when none is configured."""
    factory = _FACTORIES.get(name)
    if factory is None:
        raise PermanentError(f"No connector named {name!r} is configured (available: {', '.join(available())}).")
    return factory()


def _local() -> Connector:
    from provisioning.connectors.local.connector import LocalConnector

    return LocalConnector()


register("local", _local)


def _entra() -> Connector:
    from django.conf import settings

    from provisioning.connectors.entra.connector import EntraConnector

    return EntraConnector.from_settings(getattr(settings, "ENTRA", {}))


register("entra", _entra)


def _okta() -> Connector:
    from provisioning.connectors.okta.connector import OktaConnector

    return OktaConnector.from_settings()


register("okta", _okta)


def _google() -> Connector:
    from django.conf import settings

    from provisioning.connectors.google.connector import GoogleConnector

    return GoogleConnector.from_settings(getattr(settings, "GOOGLE", {}) or {})


register("google", _google)

__all__ = [
    "AddResult",
    "Connector",
    "ConnectorError",
    "DirectoryApplication",
    "DirectoryGroup",
    "DirectoryUser",
    "PermanentError",
    "RemoveResult",
    "RetryableError",
    "UserRef",
    "available",
    "connector_for",
    "register",
]
