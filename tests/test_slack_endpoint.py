"""POST /slack/events: every request verified (signature, 5-minute window) by slack-bolt, replays
refused by the payload's own ids, url_verification answered, nothing changed by a bad request."""

from __future__ import annotations

import json
import time

import pytest

from governance.models import OutboundMessage
from tests import slack_requests as slack


@pytest.fixture
def command(slack_people, slack_emu):
    return slack.slash_command(user_id=slack_people["bob"], trigger_id=slack_emu.new_trigger())


def test_it_answers_the_url_verification_challenge(client, slack_on):
    body = json.dumps(
        {
            "token": "legacy",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    )
    answer = slack.send(client, body, content_type="application/json")
    assert answer.status_code == 200
    assert "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P" in answer.content.decode()


@pytest.mark.parametrize(
    "headers",
    [
        {},  # unsigned
        {"HTTP_X_SLACK_REQUEST_TIMESTAMP": str(int(time.time())), "HTTP_X_SLACK_SIGNATURE": "v0=" + "0" * 64},
        "other-secret",
        "stale",
        {"HTTP_X_SLACK_REQUEST_TIMESTAMP": "soon", "HTTP_X_SLACK_SIGNATURE": "v0=abc"},
    ],
    ids=["unsigned", "mis-signed", "wrong-secret", "stale", "non-numeric-timestamp"],
)
def test_a_bad_request_is_refused_and_changes_nothing(client, slack_on, command, slack_emu, tasks, headers):
    if headers == "other-secret":
        headers = slack.sign(command, secret="not-the-signing-secret")
    elif headers == "stale":
        headers = slack.sign(command, timestamp=int(time.time()) - 301)
    with tasks():
        answer = slack.send(client, command, headers=headers)
    assert answer.status_code in (401, 403)
    assert not OutboundMessage.objects.exists()
    assert not slack_emu.opened_views


def test_a_replayed_command_is_refused(client, slack_on, command, slack_emu, tasks):
    headers = slack.sign(command)
    with tasks():
        first = slack.send(client, command, headers=headers)
        again = slack.send(client, command, headers=headers)
    assert first.status_code == 200
    assert again.status_code == 403
    assert len(slack_emu.opened_views) == 1
    assert OutboundMessage.objects.filter(kind=OutboundMessage.Kind.SLACK_VIEW).count() == 1


def test_a_replayed_event_is_refused_by_its_event_id(client, slack_on, db):
    body = json.dumps(
        {
            "token": "legacy",
            "team_id": slack.TEAM["id"],
            "api_app_id": "A0GATEHOUSE",
            "event": {"type": "app_home_opened", "user": "U0000001", "channel": "D0000001", "tab": "home"},
            "type": "event_callback",
            "event_id": "Ev0GATEHOUSE1",
            "event_time": int(time.time()),
        }
    )
    assert slack.send(client, body, content_type="application/json").status_code == 200
    assert slack.send(client, body, content_type="application/json").status_code == 403


def test_only_post_is_served(client, slack_on):
    assert client.get("/slack/events").status_code == 405
