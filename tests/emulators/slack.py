"""A Slack Web API emulator: the methods Gatehouse calls, with Slack's documented answers.

Every answer is HTTP 200 with `{"ok": true, ...}` or `{"ok": false, "error": "<code>"}`, except
rate limiting: HTTP 429 with `Retry-After` (seconds) and `{"ok": false, "error": "ratelimited"}`.
A wrong bot token answers `invalid_auth`. Trigger ids are issued by `new_trigger()` and expire
after 3 seconds (`expired_trigger_id`), as Slack's do. Tests read `messages` (by channel) and
`views` to see what a Slack user would see.
"""

from __future__ import annotations

import itertools
import json
import time
from typing import Any
from urllib.parse import parse_qs

from tests.emulators.base import Emulator, Incoming, Reply, route

TRIGGER_SECONDS = 3.0


def ok(**fields: Any) -> Reply:
    return Reply(200, {"ok": True, **fields})


def slack_error(code: str, **fields: Any) -> Reply:
    return Reply(200, {"ok": False, "error": code, **fields})


class SlackEmulator(Emulator):
    def __init__(self, token: str = "xoxb-test-token") -> None:
        super().__init__()
        self.token = token
        self.users: dict[str, dict] = {}  # user id -> user object
        self.messages: dict[str, list[dict]] = {}  # channel id -> messages, oldest first
        self.ephemerals: list[dict] = []
        self.views: dict[str, dict] = {}  # view id -> view (with id and hash)
        self.opened_views: list[dict] = []
        self.triggers: dict[str, float] = {}  # trigger id -> issued at
        self.lose_answers = 0  # the next N posts are applied but answered 500 (a lost answer)
        self._ids = itertools.count(1)
        self._ts = itertools.count(1)

    # -- test steering --------------------------------------------------------------------
    def add_user(self, email: str, name: str = "", *, user_id: str | None = None, deleted: bool = False) -> str:
        user_id = user_id or f"U{next(self._ids):07d}"
        self.users[user_id] = {
            "id": user_id,
            "name": name or email.split("@")[0],
            "deleted": deleted,
            "profile": {"email": email, "real_name": name},
        }
        return user_id

    def new_trigger(self, *, age: float = 0.0) -> str:
        trigger = f"{next(self._ids)}.{int(time.time())}.abc{next(self._ids)}"
        self.triggers[trigger] = time.time() - age
        return trigger

    def dm_of(self, user_id: str) -> str:
        return "D" + user_id[1:]

    def dm_messages(self, user_id: str) -> list[dict]:
        return self.messages.get(self.dm_of(user_id), [])

    def method_calls(self, method: str) -> list[dict]:
        return [self._args_of(call) for call in self.calls if call.path == f"/api/{method}"]

    # -- the provider's error shapes ------------------------------------------------------
    def throttled_reply(self) -> Reply:
        return Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "30"})

    def error_reply(self, status: int, message: str) -> Reply:
        if status == 404:
            return Reply(404, {"ok": False, "error": "unknown_method"})
        return Reply(status, {"ok": False, "error": "internal_error", "detail": message})

    def before_request(self, incoming: Incoming) -> Reply | None:
        auth = incoming.headers.get("authorization", "")
        token = auth.removeprefix("Bearer ").strip() or self._args(incoming).get("token", "")
        if not token:
            return slack_error("not_authed")
        if token != self.token:
            return slack_error("invalid_auth")
        return None

    @staticmethod
    def _parse(content_type: str, body: bytes, query: dict[str, list[str]]) -> dict[str, Any]:
        args: dict[str, Any] = {key: values[0] for key, values in query.items()}
        if "application/json" in content_type and body:
            args.update(json.loads(body))
        elif body:
            args.update({key: values[0] for key, values in parse_qs(body.decode()).items()})
        for key in ("blocks", "view", "metadata"):
            if isinstance(args.get(key), str):
                args[key] = json.loads(args[key])
        return args

    def _args(self, incoming: Incoming) -> dict[str, Any]:
        return self._parse(incoming.headers.get("content-type", ""), incoming.body, incoming.query)

    def _args_of(self, call: Any) -> dict[str, Any]:
        return self._parse(call.headers.get("content-type", ""), call.body, call.query)

    def _new_ts(self) -> str:
        return f"{int(time.time())}.{next(self._ts):06d}"

    # -- users ----------------------------------------------------------------------------
    @route("GET", r"/api/users.lookupByEmail")
    def lookup_get(self, incoming: Incoming) -> Reply:
        return self.lookup(incoming)

    @route("POST", r"/api/users.lookupByEmail")
    def lookup(self, incoming: Incoming) -> Reply:
        email = (self._args(incoming).get("email") or "").lower()
        for user in self.users.values():
            if user["profile"]["email"].lower() == email and not user["deleted"]:
                return ok(user=user)
        return slack_error("users_not_found")

    @route("GET", r"/api/users.info")
    def info_get(self, incoming: Incoming) -> Reply:
        return self.info(incoming)

    @route("POST", r"/api/users.info")
    def info(self, incoming: Incoming) -> Reply:
        user = self.users.get(self._args(incoming).get("user", ""))
        return ok(user=user) if user else slack_error("user_not_found")

    # -- conversations --------------------------------------------------------------------
    @route("POST", r"/api/conversations.open")
    def open_dm(self, incoming: Incoming) -> Reply:
        user_id = self._args(incoming).get("users", "")
        user = self.users.get(user_id)
        if user is None or user["deleted"]:
            return slack_error("user_not_found")
        channel = self.dm_of(user_id)
        self.messages.setdefault(channel, [])
        return ok(channel={"id": channel})

    @route("POST", r"/api/conversations.history")
    def history(self, incoming: Incoming) -> Reply:
        channel = self._args(incoming).get("channel", "")
        if channel not in self.messages:
            return slack_error("channel_not_found")
        return ok(messages=list(reversed(self.messages[channel])), has_more=False)

    # -- messages -------------------------------------------------------------------------
    @route("POST", r"/api/chat.postMessage")
    def post_message(self, incoming: Incoming) -> Reply:
        args = self._args(incoming)
        channel = args.get("channel", "")
        if channel not in self.messages:
            return slack_error("channel_not_found")
        if not args.get("text") and not args.get("blocks"):
            return slack_error("no_text")
        message = {
            "type": "message",
            "ts": self._new_ts(),
            "text": args.get("text", ""),
            "blocks": args.get("blocks") or [],
            "metadata": args.get("metadata"),
        }
        self.messages[channel].append(message)
        if self.lose_answers > 0:
            self.lose_answers -= 1
            return Reply(500, {"ok": False, "error": "internal_error"})
        return ok(channel=channel, ts=message["ts"], message=message)

    @route("POST", r"/api/chat.update")
    def update_message(self, incoming: Incoming) -> Reply:
        args = self._args(incoming)
        channel = args.get("channel", "")
        if channel not in self.messages:
            return slack_error("channel_not_found")
        for message in self.messages[channel]:
            if message["ts"] == args.get("ts"):
                message.update(text=args.get("text", ""), blocks=args.get("blocks") or [], edited=True)
                return ok(channel=channel, ts=message["ts"], text=message["text"])
        return slack_error("message_not_found")

    @route("POST", r"/api/chat.postEphemeral")
    def post_ephemeral(self, incoming: Incoming) -> Reply:
        args = self._args(incoming)
        if args.get("channel", "") not in self.messages:
            return slack_error("channel_not_found")
        if args.get("user") not in self.users:
            return slack_error("user_not_in_channel")
        self.ephemerals.append(args)
        return ok(message_ts=self._new_ts())

    # -- views ----------------------------------------------------------------------------
    def _store_view(self, view: dict, view_id: str | None = None) -> dict:
        view_id = view_id or f"V{next(self._ids):07d}"
        stored = {**view, "id": view_id, "hash": f"{int(time.time())}.{next(self._ids)}"}
        self.views[view_id] = stored
        return stored

    @route("POST", r"/api/views.open")
    def views_open(self, incoming: Incoming) -> Reply:
        args = self._args(incoming)
        issued = self.triggers.pop(args.get("trigger_id", ""), None)
        if issued is None:
            return slack_error("invalid_trigger_id")
        if time.time() - issued > TRIGGER_SECONDS:
            return slack_error("expired_trigger_id")
        if not isinstance(args.get("view"), dict) or args["view"].get("type") != "modal":
            return slack_error("invalid_arguments")
        stored = self._store_view(args["view"])
        self.opened_views.append(stored)
        return ok(view=stored)

    @route("POST", r"/api/views.update")
    def views_update(self, incoming: Incoming) -> Reply:
        args = self._args(incoming)
        current = self.views.get(args.get("view_id", ""))
        if current is None:
            return slack_error("not_found")
        if args.get("hash") and args["hash"] != current["hash"]:
            return slack_error("hash_conflict")
        return ok(view=self._store_view(args["view"], current["id"]))
