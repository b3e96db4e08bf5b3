"""Who else reacts to lifecycle events. Apps above governance (reviews) register here; governance
never imports them. Listeners run inside the transaction of the event and return what they did."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Listener = Callable[..., dict[str, Any]]
_listeners: dict[str, list[Listener]] = {"leaver": [], "mover": []}


def on_leaver(listener: Listener) -> None:
    """`listener(offboarding=...)`: e.g. reviews moves the leaver's open review items."""
    if listener not in _listeners["leaver"]:
        _listeners["leaver"].append(listener)


def on_mover(listener: Listener) -> None:
    """`listener(event=..., grants=[...])`: e.g. reviews opens a review of the grants by the new manager."""
    if listener not in _listeners["mover"]:
        _listeners["mover"].append(listener)


def emit(kind: str, **kwargs: Any) -> dict[str, Any]:
    """Call every listener of `kind`; their results merged."""
    outcome: dict[str, Any] = {}
    for listener in _listeners[kind]:
        outcome.update(listener(**kwargs) or {})
    return outcome
