"""Slack buttons whose work lives above governance (reviews): a port those apps register into.

An app registers an action id and a handler in its `AppConfig.ready()`; governance never imports
it. When such a button is clicked, the Slack app acknowledges at once, then finds the person behind
the Slack user (verified email) and calls the handler with that person and the button's value. The
handler changes state through its own service and returns what the clicker is told; raising a
GovernanceError refuses the click (an ephemeral "Not recorded: …" and a `slack.refused` event).
"""

from __future__ import annotations

from collections.abc import Callable

from catalog.models import Person

#: (the person who clicked, the button's value) -> the answer they see
ButtonHandler = Callable[[Person, str], str]

_HANDLERS: dict[str, ButtonHandler] = {}


def register(action_id: str, handler: ButtonHandler) -> None:
    """Route clicks on buttons with `action_id` to `handler` (call at start-up)."""
    _HANDLERS[action_id] = handler


def handler_for(action_id: str) -> ButtonHandler | None:
    return _HANDLERS.get(action_id)


def action_ids() -> list[str]:
    return list(_HANDLERS)
