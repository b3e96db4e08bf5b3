"""Listeners told when an outbox change or a fulfilment task settles.

provisioning executes changes but does not know what they are for; the app that queued them
(governance) registers here once, at start-up, and is called inside the same transaction that
records the outcome, so its own state (grant activation, audit) commits together with it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provisioning.models import FulfilmentTask, MembershipChange

ChangeListener = Callable[["MembershipChange"], None]
TaskListener = Callable[["FulfilmentTask"], None]

_change_listeners: list[ChangeListener] = []
_task_listeners: list[TaskListener] = []


def on_change_settled(listener: ChangeListener) -> None:
    if listener not in _change_listeners:
        _change_listeners.append(listener)


def on_fulfilment_done(listener: TaskListener) -> None:
    if listener not in _task_listeners:
        _task_listeners.append(listener)


def notify_change_settled(change: MembershipChange) -> None:
    for listener in _change_listeners:
        listener(change)


def notify_fulfilment_done(task: FulfilmentTask) -> None:
    for listener in _task_listeners:
        listener(task)
