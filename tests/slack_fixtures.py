"""Fixtures shared by the Slack tests: the emulator, Slack turned on, people in Slack, the open
`/access` modal and the steps through it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from governance import services
from governance.models import AccessRequest
from tests import slack_requests as slack
from tests.emulators.slack import SlackEmulator


@pytest.fixture
def slack_emu():
    with SlackEmulator() as emulator:
        yield emulator


@pytest.fixture
def slack_on(settings, slack_emu):
    settings.SLACK_BOT_TOKEN = slack_emu.token
    settings.SLACK_SIGNING_SECRET = slack.SIGNING_SECRET
    settings.SLACK_API_URL = slack_emu.base_url + "/api/"
    settings.SLACK = {**settings.SLACK, "TIMEOUT_SECONDS": 2.0}
    return settings


@pytest.fixture
def slack_people(company, slack_emu):
    """alice (bob's manager, the approver), bob (the requester) and charlie are in Slack."""
    return {
        "alice": slack_emu.add_user("alice@example.com", "Alice Owner"),
        "bob": slack_emu.add_user("bob@example.com", "Bob Builder"),
        "charlie": slack_emu.add_user("charlie@example.com", "Charlie Outsider"),
    }


def submit(key: str = "IT-5") -> AccessRequest:
    return services.submit_request(
        data=services.RequestInput(
            jira_issue_key=key,
            requester="bob@example.com",
            application="wiki",
            role="editor",
            duration=timedelta(hours=6),
            reason="write the runbook",
        )
    )[0]


def click(client, slack_emu, tasks, *, user_id, action_id, step, message, channel=None):
    """A signed button click on `message` in the user's DM."""
    payload = slack.button_click(
        user_id=user_id,
        action_id=action_id,
        value=str(step.pk),
        channel_id=channel or slack_emu.dm_of(user_id),
        message_ts=message["ts"],
        trigger_id=slack_emu.new_trigger(),
    )
    with tasks():
        return slack.send(client, slack.interactive(payload))


def texts(blocks: list[dict]) -> str:
    """Every text a Slack user reads in `blocks`."""
    out = []
    for block in blocks:
        if isinstance(block.get("text"), dict):
            out.append(block["text"]["text"])
        out += [field["text"] for field in block.get("fields", [])]
        for element in block.get("elements", []):
            text = element.get("text", "")
            out.append(text["text"] if isinstance(text, dict) else text)
    return "\n".join(out)


def send_payload(client, tasks, payload):
    with tasks():
        return slack.send(client, slack.interactive(payload))


def chosen(action_id: str, value: str) -> dict:
    return {action_id: {action_id: {"type": "static_select", "selected_option": {"value": value}}}}


def typed(action_id: str, value: str) -> dict:
    return {action_id: {action_id: {"type": "plain_text_input", "value": value}}}


@pytest.fixture
def slack_modal(client, slack_on, slack_people, slack_emu, tasks):
    """Bob typed /access: the modal is open."""
    with tasks():
        answer = slack.send(
            client, slack.slash_command(user_id=slack_people["bob"], trigger_id=slack_emu.new_trigger())
        )
    assert answer.status_code == 200
    (view,) = slack_emu.opened_views
    return view


def pick_role(client, tasks, slack_emu, slack_people, view):
    """Bob picks the wiki, then its editor role; the modal is updated each time."""
    app = chosen("gatehouse_application", "wiki")
    action = {"type": "external_select", "action_id": "gatehouse_application", "block_id": "gatehouse_application"}
    payload = slack.view_action(
        user_id=slack_people["bob"], view=view, values=app, action=action, trigger_id=slack_emu.new_trigger()
    )
    assert send_payload(client, tasks, payload).status_code == 200
    view = slack_emu.views[view["id"]]
    action = {"type": "static_select", "action_id": "gatehouse_role", "block_id": "gatehouse_role"}
    values = {**app, **chosen("gatehouse_role", "editor")}
    payload = slack.view_action(
        user_id=slack_people["bob"], view=view, values=values, action=action, trigger_id=slack_emu.new_trigger()
    )
    assert send_payload(client, tasks, payload).status_code == 200
    return slack_emu.views[view["id"]], values
