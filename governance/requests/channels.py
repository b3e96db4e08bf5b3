"""Decision channels: where an approver decided (the API, the admin, an emailed link, Slack).

One line per channel below. The registry supplies the choices of `ApprovalStep.channel` and
`ApprovalDecision.channel` and the words a Jira comment uses for each.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DecisionChannel:
    name: str
    label: str  # shown in the admin
    jira_label: str  # "approved by … via <jira_label>" in the Jira comment


API = "api"
ADMIN = "admin"
LINK = "link"
SLACK = "slack"

_CHANNELS: dict[str, DecisionChannel] = {}


def declare(channel: DecisionChannel) -> None:
    _CHANNELS[channel.name] = channel


declare(DecisionChannel(API, "API (Jira Automation)", "the API (Jira Automation)"))
declare(DecisionChannel(ADMIN, "Gatehouse admin", "the Gatehouse admin"))
declare(DecisionChannel(LINK, "Approval link", "an approval link"))
declare(DecisionChannel(SLACK, "Slack", "Slack"))


def channel_choices() -> list[tuple[str, str]]:
    return [(channel.name, channel.label) for channel in _CHANNELS.values()]


def is_channel(name: str) -> bool:
    return name in _CHANNELS


def jira_label(name: str) -> str:
    """How a Jira comment names the channel; an unknown or empty one says so."""
    channel = _CHANNELS.get(name)
    if channel is not None:
        return channel.jira_label
    return name or "an unknown channel"
