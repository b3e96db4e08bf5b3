"""The "change settled" port: the one interface through which provisioning reports outcomes.

provisioning executes changes but does not know what they are for. The app that queued them
(governance) binds one listener at start-up; it is called inside the transaction that records
the outcome, so the listener's own state (grant activation, audit) commits together with it.
Start-up fails (system check `provisioning.E001`) when nothing is bound.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from django.core import checks

if TYPE_CHECKING:
    from provisioning.models import FulfilmentTask, MembershipChange


@runtime_checkable
class SettledListener(Protocol):
    """What the app that queues changes must provide."""

    def change_settled(self, change: MembershipChange) -> None:
        """A membership change failed for good."""

    def changes_settled(self, changes: list[MembershipChange]) -> None:
        """Membership changes succeeded (a batch of them, in one transaction)."""

    def fulfilment_done(self, task: FulfilmentTask) -> None:
        """IT marked a manual fulfilment task done."""


_bound: SettledListener | None = None


def bind(listener: SettledListener) -> None:
    """Bind the listener (once, from an AppConfig.ready); binding another one replaces it."""
    global _bound
    if not isinstance(listener, SettledListener):
        raise TypeError(f"{listener!r} does not implement SettledListener")
    _bound = listener


def bound() -> SettledListener | None:
    return _bound


def _listener() -> SettledListener:
    if _bound is None:
        raise RuntimeError("No listener is bound to provisioning's settled port (see provisioning.outbox.port).")
    return _bound


def notify_change_settled(change: MembershipChange) -> None:
    _listener().change_settled(change)


def notify_changes_settled(changes: list[MembershipChange]) -> None:
    if changes:
        _listener().changes_settled(changes)


def notify_fulfilment_done(task: FulfilmentTask) -> None:
    _listener().fulfilment_done(task)


def check_port_bound(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """System check: outcomes of changes would be lost with nobody listening."""
    if _bound is not None:
        return []
    return [
        checks.Error(
            "Nothing is bound to provisioning's 'change settled' port: grants would never learn "
            "that their changes were made.",
            hint="Call provisioning.outbox.port.bind(listener) from an installed app's ready().",
            id="provisioning.E001",
        )
    ]
