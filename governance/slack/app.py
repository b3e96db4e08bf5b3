"""The slack-bolt app behind `POST /slack/events`: bolt verifies each request's signature and
timestamp; every listener acknowledges at once and hands the work to a task or the outbox."""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from django.db import IntegrityError, transaction
from slack_bolt import Ack, App, BoltResponse
from slack_bolt.authorization import AuthorizeResult

from governance.models import SlackInbound
from governance.slack import blocks, buttons, modals, requesting
from governance.slack.config import web_client
from lib.broker import queue_task

TASKS = "governance.slack.tasks"


def replay_key(body: dict[str, Any]) -> tuple[str, str] | None:
    """(kind, the payload's own id): event_id for events, trigger_id (else action_ts) for the rest.
    Option lookups (block_suggestion) change nothing and are not keyed."""
    kind = body.get("type") or ("slash_command" if body.get("command") else "")
    if kind == "event_callback":
        return kind, body.get("event_id", "")
    if kind in ("block_suggestion", "url_verification", "ssl_check"):
        return None
    actions = body.get("actions") or [{}]
    key = body.get("trigger_id") or actions[0].get("action_ts") or ""
    return (kind, key) if key else None


def refuse_replays(body: dict[str, Any], next: Any) -> BoltResponse | None:
    """A payload seen before (same event_id / trigger_id) is a replay: 403, nothing changes."""
    key = replay_key(body)
    if key is not None:
        kind, value = key
        try:
            with transaction.atomic():
                SlackInbound.objects.create(key=f"{kind}:{value}"[:200], kind=kind[:40])
        except IntegrityError:
            return BoltResponse(status=403, body='{"error": "replayed request"}')
    return next()


def _authorize(**_: Any) -> AuthorizeResult:
    """One workspace, one bot token: no auth.test round trip on each request."""
    return AuthorizeResult(enterprise_id=None, team_id=None, bot_token=web_client().token)


def _click(body: dict[str, Any]) -> dict[str, str]:
    return {
        "user_id": body["user"]["id"],
        "channel_id": (body.get("channel") or body.get("container") or {}).get("id", "")
        or (body.get("container") or {}).get("channel_id", ""),
        "message_ts": (body.get("message") or {}).get("ts", "") or (body.get("container") or {}).get("message_ts", ""),
    }


def on_approve(ack: Ack, body: dict[str, Any]) -> None:
    ack()
    queue_task(f"{TASKS}.decide", _click(body), body["actions"][0]["value"], True, "")


def on_deny(ack: Ack, body: dict[str, Any]) -> None:
    ack()
    click = _click(body)
    queue_task(f"{TASKS}.open_deny_modal", body["trigger_id"], click, body["actions"][0]["value"])


def on_deny_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    comment = modals.state_value(view, modals.COMMENT)
    if not comment:
        ack(response_action="errors", errors={modals.COMMENT: "A comment is required to deny."})
        return
    ack()
    meta = modals.metadata(view)
    click = {"user_id": body["user"]["id"], "channel_id": meta.get("channel", ""), "message_ts": meta.get("ts", "")}
    queue_task(f"{TASKS}.decide", click, meta.get("step"), False, comment)


def on_access(ack: Ack, body: dict[str, Any]) -> None:
    ack()
    requesting.open_request_modal(trigger_id=body["trigger_id"], user_id=body.get("user_id") or body["user"]["id"])


def on_application_options(ack: Ack, body: dict[str, Any]) -> None:
    ack(options=modals.requestable_applications(body.get("value", "")))


def on_choice(ack: Ack, body: dict[str, Any]) -> None:
    ack()
    requesting.update_request_modal(view=body["view"], user_id=body["user"]["id"])


def on_request_submitted(ack: Ack, body: dict[str, Any], view: dict[str, Any]) -> None:
    errors = requesting.check_request(view)
    if errors:
        ack(response_action="errors", errors=errors)
        return
    ack()
    queue_task(f"{TASKS}.submit_request", body["user"]["id"], view)


def on_button(ack: Ack, body: dict[str, Any]) -> None:
    ack()
    action = body["actions"][0]
    queue_task(f"{TASKS}.button", _click(body), action["action_id"], action.get("value", ""))


def on_event(ack: Ack) -> None:
    ack()


@lru_cache(maxsize=4)
def build_app(token: str, signing_secret: str, api_url: str) -> App:
    """One bolt app per configuration (settings change in tests)."""
    app = App(
        signing_secret=signing_secret,
        authorize=_authorize,
        client=web_client(),
        process_before_response=True,  # a sync Django view: listeners only ack and hand work over
        ssl_check_enabled=True,
        url_verification_enabled=True,
    )
    app.middleware(refuse_replays)
    app.action(blocks.APPROVE)(on_approve)
    app.action(blocks.DENY)(on_deny)
    app.action(blocks.EXTEND)(on_button)
    for action_id in buttons.action_ids():  # registered by the apps above governance (reviews)
        app.action(action_id)(on_button)
    app.action(blocks.LINK)(on_event)  # a link button opens its page; the click is only acknowledged
    app.action(modals.APPLICATION)(on_choice)
    app.action(modals.ROLE)(on_choice)
    app.action(modals.DURATION)(lambda ack: ack())
    app.options(modals.APPLICATION)(on_application_options)
    app.view(modals.DENY_CALLBACK)(on_deny_submitted)
    app.view(modals.REQUEST_CALLBACK)(on_request_submitted)
    app.command("/access")(on_access)
    app.shortcut("gatehouse_request_access")(on_access)
    app.event(re.compile(".*"))(on_event)
    return app
