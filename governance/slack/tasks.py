"""Task bodies for Slack work done after the acknowledgement (django-q runs them)."""

from __future__ import annotations

from typing import Any

from governance.slack import requesting, services


def decide(click: dict[str, str], step_id: Any, approve: bool, comment: str) -> bool:
    return services.decide_from_slack(click=services.Click(**click), step_id=step_id, approve=approve, comment=comment)


def open_deny_modal(trigger_id: str, click: dict[str, str], step_id: Any) -> None:
    services.open_deny_modal(trigger_id=trigger_id, click=services.Click(**click), step_id=step_id)


def submit_request(user_id: str, view: dict[str, Any]) -> None:
    requesting.submit_from_slack(user_id=user_id, view=view)


def button(click: dict[str, str], action_id: str, value: str) -> None:
    services.press_button(click=services.Click(**click), action_id=action_id, value=value)
