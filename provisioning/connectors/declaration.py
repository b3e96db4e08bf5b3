"""What a connector declares about itself: its settings (environment variables), which of them are
secret, what it needs to be configured, and how it is built.

Declarations are plain data, importable before Django is set up: `governance/settings.py` reads every
declared environment variable through them, the system check validates them at start-up and the
admin's providers page shows them (secret values masked).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from provisioning.connectors.base import PermanentError

#: what is shown instead of a secret value
MASK = "••••••••"

KINDS = ("str", "multiline", "int", "float", "list")


@dataclass(frozen=True)
class Setting:
    """One setting of a connector: the key in its settings dict and the environment variable."""

    key: str
    env: str
    default: Any = ""
    kind: str = "str"  # one of KINDS
    required: bool = False
    sensitive: bool = False
    help: str = ""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"Setting {self.env}: unknown kind {self.kind!r} (one of {', '.join(KINDS)}).")

    def read(self, env: Any) -> Any:
        """This setting's value from the environment (a django-environ `Env`)."""
        if self.kind == "multiline":
            return env.str(self.env, default=self.default, multiline=True)
        if self.kind == "list":
            return env.list(self.env, default=list(self.default))
        return getattr(env, self.kind)(self.env, default=self.default)


class ConnectorSettings(dict):
    """A connector's settings values; its repr and str never show a secret value."""

    def __init__(self, values: Mapping[str, Any], sensitive: frozenset[str] = frozenset()):
        super().__init__(values)
        self.sensitive = frozenset(sensitive)

    def masked(self) -> dict[str, Any]:
        return {key: (MASK if key in self.sensitive and value else value) for key, value in self.items()}

    def __repr__(self) -> str:
        return repr(self.masked())

    __str__ = __repr__


@dataclass(frozen=True)
class ConnectorStatus:
    """Whether a connector is configured, and if not, whether someone started to (half-configured)."""

    configured: bool
    started: bool
    missing: str = ""  # the environment variables still to set, as a sentence fragment

    @property
    def half_configured(self) -> bool:
        return self.started and not self.configured


@dataclass(frozen=True)
class ConnectorDeclaration:
    """One identity provider as the registry knows it.

    `alternatives` lists the ways to authenticate: each is a tuple of settings keys that must all be
    set, where "A|B" means either A or B. `build(values)` returns a ready connector; it imports the
    provider's SDK, so it runs only when a connector is needed. `validate(values)`, when given, is
    run by the start-up check on a configured provider and answers what is still unusable.
    """

    name: str
    label: str
    build: Callable[[ConnectorSettings], Any]
    settings_name: str = ""  # the Django setting holding the values, e.g. "OKTA"
    settings: tuple[Setting, ...] = ()
    alternatives: tuple[tuple[str, ...], ...] = ()
    docs: str = ""
    #: deeper checks of a configured provider (e.g. an unreadable key file): problems, in words
    validate: Callable[[Mapping[str, Any]], list[str]] | None = None

    # -- reading ---------------------------------------------------------------------------------
    @property
    def sensitive_keys(self) -> frozenset[str]:
        return frozenset(s.key for s in self.settings if s.sensitive)

    def env_name(self, key: str) -> str:
        for setting in self.settings:
            if setting.key == key:
                return setting.env
        raise KeyError(f"{self.name} declares no setting {key!r}.")

    def read_environment(self, env: Any) -> ConnectorSettings:
        """Every declared setting read from the environment."""
        return ConnectorSettings({s.key: s.read(env) for s in self.settings}, self.sensitive_keys)

    def values(self, configured: Mapping[str, Any] | None) -> ConnectorSettings:
        """The declared defaults overlaid with the configured values (the Django setting)."""
        values = {s.key: s.default for s in self.settings}
        values.update(configured or {})
        return ConnectorSettings(values, self.sensitive_keys)

    # -- validating ------------------------------------------------------------------------------
    def status(self, values: Mapping[str, Any]) -> ConnectorStatus:
        """Configured when every required setting and one complete alternative are set."""
        if not self.settings:
            return ConnectorStatus(configured=True, started=True)
        required = [s.key for s in self.settings if s.required]
        credentials = {key for alternative in self.alternatives for part in alternative for key in part.split("|")}
        started = any(values.get(key) for key in [*required, *credentials])
        missing = [self.env_name(key) for key in required if not values.get(key)]
        complete = not self.alternatives or any(self._complete(alt, values) for alt in self.alternatives)
        if not complete:
            missing.append(", or ".join(self._describe(alt) for alt in self._closest(values)))
        if not missing:
            return ConnectorStatus(configured=True, started=True)
        return ConnectorStatus(configured=False, started=started, missing=" and ".join(missing))

    def problem(self, values: Mapping[str, Any]) -> str:
        """A sentence naming what to set, or "" when configured. Never contains a value."""
        status = self.status(values)
        return "" if status.configured else f"{self.label} is not configured: set {status.missing}."

    def ensure_configured(self, values: Mapping[str, Any]) -> None:
        """PermanentError naming the environment variables to set, when `values` are incomplete."""
        problem = self.problem(values)
        if problem:
            raise PermanentError(problem)

    @staticmethod
    def _complete(alternative: tuple[str, ...], values: Mapping[str, Any]) -> bool:
        return all(any(values.get(key) for key in part.split("|")) for part in alternative)

    def _closest(self, values: Mapping[str, Any]) -> list[tuple[str, ...]]:
        """The alternatives someone started to fill in (only their missing parts); else all of them."""
        started = []
        for alternative in self.alternatives:
            done = [part for part in alternative if any(values.get(key) for key in part.split("|"))]
            if done:
                started.append(tuple(part for part in alternative if part not in done))
        return started or list(self.alternatives)

    def _describe(self, alternative: tuple[str, ...]) -> str:
        parts = []
        for part in alternative:
            first, *others = (self.env_name(key) for key in part.split("|"))
            parts.append(first + (f" (or {' or '.join(others)})" if others else ""))
        return " with ".join(parts)

    # -- showing ---------------------------------------------------------------------------------
    def shown(self, values: Mapping[str, Any]) -> list[tuple[Setting, str]]:
        """(setting, text) for the admin: secrets masked, an unset secret shown as "(not set)"."""
        rows = []
        for setting in self.settings:
            value = values.get(setting.key)
            if setting.sensitive:
                text = MASK if value else "(not set)"
            elif setting.kind == "list":
                text = ", ".join(str(item) for item in value or ()) or "(not set)"
            else:
                text = str(value) if value not in ("", None) else "(not set)"
            rows.append((setting, text))
        return rows
