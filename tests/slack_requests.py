"""Inbound Slack requests built as Slack sends them: form-encoded bodies (`payload=<json>` for
interactivity, the fields of a slash command), signed with the signing secret (v0 HMAC-SHA256 of
`v0:<timestamp>:<body>`) in `X-Slack-Signature` and `X-Slack-Request-Timestamp`."""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import time
from typing import Any
from urllib.parse import urlencode

from django.test import Client

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
TEAM = {"id": "T0GATEHSE", "domain": "example"}
_counter = itertools.count(1)


def sign(body: str, *, timestamp: int | None = None, secret: str = SIGNING_SECRET) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    digest = hmac.new(secret.encode(), f"v0:{stamp}:{body}".encode(), hashlib.sha256).hexdigest()
    return {"HTTP_X_SLACK_SIGNATURE": f"v0={digest}", "HTTP_X_SLACK_REQUEST_TIMESTAMP": stamp}


def send(client: Client, body: str, *, content_type: str = "application/x-www-form-urlencoded", headers=None):
    """POST /slack/events with `body` as is; `headers` replaces the signature headers."""
    signed = sign(body) if headers is None else headers
    return client.generic("POST", "/slack/events", body.encode(), content_type=content_type, **signed)


def interactive(payload: dict[str, Any]) -> str:
    return urlencode({"payload": json.dumps(payload)})


def action_ts() -> str:
    return f"{int(time.time())}.{next(_counter):06d}"


def button_click(
    *, user_id: str, action_id: str, value: str, channel_id: str, message_ts: str, trigger_id: str
) -> dict[str, Any]:
    """A block_actions payload for a button on a bot message in a DM."""
    return {
        "type": "block_actions",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM["id"]},
        "api_app_id": "A0GATEHOUSE",
        "token": "legacy-verification-token",
        "container": {"type": "message", "message_ts": message_ts, "channel_id": channel_id, "is_ephemeral": False},
        "trigger_id": trigger_id,
        "team": TEAM,
        "channel": {"id": channel_id, "name": "directmessage"},
        "message": {"type": "message", "ts": message_ts, "text": "", "blocks": []},
        "response_url": "https://hooks.slack.com/actions/T0GATEHSE/1/abc",
        "actions": [
            {
                "type": "button",
                "action_id": action_id,
                "block_id": "decide",
                "value": value,
                "action_ts": action_ts(),
                "text": {"type": "plain_text", "text": action_id},
            }
        ],
    }


def view_submission(*, user_id: str, view: dict[str, Any], values: dict[str, Any], trigger_id: str) -> dict[str, Any]:
    """A view_submission payload for `view` (as Slack stored it) with `values` as its state."""
    return {
        "type": "view_submission",
        "team": TEAM,
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM["id"]},
        "api_app_id": "A0GATEHOUSE",
        "token": "legacy-verification-token",
        "trigger_id": trigger_id,
        "view": {**view, "state": {"values": values}, "team_id": TEAM["id"], "app_id": "A0GATEHOUSE"},
        "response_urls": [],
    }


def view_action(*, user_id: str, view: dict[str, Any], values: dict[str, Any], action: dict[str, Any], trigger_id: str):
    """A block_actions payload from an input with dispatch_action inside a modal."""
    return {
        "type": "block_actions",
        "team": TEAM,
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM["id"]},
        "api_app_id": "A0GATEHOUSE",
        "token": "legacy-verification-token",
        "container": {"type": "view", "view_id": view["id"]},
        "trigger_id": trigger_id,
        "view": {**view, "state": {"values": values}},
        "actions": [{**action, "action_ts": action_ts()}],
    }


def suggestion(*, user_id: str, view: dict[str, Any], action_id: str, value: str) -> dict[str, Any]:
    return {
        "type": "block_suggestion",
        "user": {"id": user_id, "username": user_id.lower(), "team_id": TEAM["id"]},
        "team": TEAM,
        "api_app_id": "A0GATEHOUSE",
        "token": "legacy-verification-token",
        "container": {"type": "view", "view_id": view["id"]},
        "action_id": action_id,
        "block_id": action_id,
        "value": value,
        "view": view,
    }


def slash_command(*, user_id: str, trigger_id: str, command: str = "/access", text: str = "") -> str:
    return urlencode(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM["id"],
            "team_domain": TEAM["domain"],
            "channel_id": "C0GENERAL",
            "channel_name": "general",
            "user_id": user_id,
            "user_name": user_id.lower(),
            "command": command,
            "text": text,
            "api_app_id": "A0GATEHOUSE",
            "response_url": "https://hooks.slack.com/commands/T0GATEHSE/1/abc",
            "trigger_id": trigger_id,
        }
    )
