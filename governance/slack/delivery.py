"""The Slack notification channel: one outbox row is one Web API call sequence (find the person,
open the DM, post or update, open a modal, or post an ephemeral), never sent twice."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone
from slack_sdk.errors import SlackApiError, SlackRequestError
from slack_sdk.web import SlackResponse

from catalog.models import Person
from governance.models import ApprovalStep, OutboundMessage, SlackPost
from governance.slack import blocks
from governance.slack.config import SLACK, enabled, web_client
from lib.errors import DeliveryError
from lib.http import parse_retry_after

Kind = OutboundMessage.Kind
METADATA_EVENT = "gatehouse_message"
#: Slack errors that a later try may get past
RETRYABLE_ERRORS = {"ratelimited", "internal_error", "fatal_error", "service_unavailable", "request_timeout"}
#: the person's cached Slack user id no longer reaches them
STALE_USER_ERRORS = {"user_not_found", "users_not_found", "channel_not_found", "user_disabled", "cannot_dm_bot"}


class NotInSlack(Exception):
    """The person has no Slack account under their verified email."""


def _error(call: str, error: Exception) -> DeliveryError:
    if isinstance(error, SlackApiError):
        response: SlackResponse = error.response
        code = response.data.get("error", "") if isinstance(response.data, dict) else ""
        status = response.status_code
        retryable = status == 429 or status >= 500 or code in RETRYABLE_ERRORS
        retry_after = parse_retry_after(dict(response.headers or {}), include_reset=False) if status == 429 else None
        return DeliveryError(
            f"Slack {call} answered {status} {code or 'error'}",
            retryable=retryable,
            retry_after=retry_after,
            status=status,
            provider_message=code,
        )
    return DeliveryError(f"Could not reach Slack for {call}: {error!r}", retryable=True)


class SlackChannel:
    """Delivers OutboundMessage rows whose channel is `slack`; one Web API client per batch."""

    name = SLACK

    def __init__(self) -> None:
        self.client = web_client()

    def close(self) -> None:
        pass

    def call(self, method: str, **arguments: Any) -> SlackResponse:
        try:
            return self.client.api_call(method, json=arguments)
        except (SlackApiError, SlackRequestError, OSError) as error:
            raise _error(method, error) from error

    # -- people ----------------------------------------------------------------------------
    def user_id(self, person: Person, *, fresh: bool = False) -> str:
        """The person's Slack user id, by verified email (users.lookupByEmail), cached on them."""
        if person.slack_user_id and not fresh:
            return person.slack_user_id
        try:
            answer = self.client.users_lookupByEmail(email=person.email)
        except SlackApiError as error:
            if error.response.data.get("error") == "users_not_found":
                Person.objects.filter(pk=person.pk).update(slack_user_id="")
                raise NotInSlack(person.email) from error
            raise _error("users.lookupByEmail", error) from error
        except (SlackRequestError, OSError) as error:
            raise _error("users.lookupByEmail", error) from error
        person.slack_user_id = answer["user"]["id"]
        Person.objects.filter(pk=person.pk).update(slack_user_id=person.slack_user_id)
        return person.slack_user_id

    def dm_channel(self, person: Person) -> str:
        """The D… channel of the bot's DM with the person; a stale cached id is looked up again."""
        try:
            return self.call("conversations.open", users=self.user_id(person))["channel"]["id"]
        except DeliveryError as error:
            if error.provider_message not in STALE_USER_ERRORS:
                raise
            return self.call("conversations.open", users=self.user_id(person, fresh=True))["channel"]["id"]

    # -- delivering ------------------------------------------------------------------------
    def deliver(self, row: OutboundMessage) -> str:
        if not enabled():
            raise DeliveryError("Slack is not configured (SLACK_BOT_TOKEN, SLACK_SIGNING_SECRET).", retryable=False)
        if row.kind == Kind.SLACK_UPDATE:
            return self._update(row)
        if row.kind == Kind.SLACK_VIEW:
            return self._view(row)
        if row.kind == Kind.SLACK_EPHEMERAL:
            self.call("chat.postEphemeral", **row.payload["ephemeral"])
            return "ephemeral sent"
        return self._post(row)

    def _post(self, row: OutboundMessage) -> str:
        person_id = row.payload.get("person")
        person = (
            Person.objects.filter(pk=person_id).first()
            if person_id
            else Person.objects.filter(email__iexact=row.recipient).first()
        )
        if person is None:
            return _fall_back_to_email(row)
        step = ApprovalStep.objects.filter(pk=row.payload.get("step")).first() if row.kind == Kind.APPROVAL else None
        try:
            channel = self.dm_channel(person)
        except NotInSlack:
            return _fall_back_to_email(row)
        found = self._find_posted(channel, row) if row.maybe_applied else None
        if found is None:
            text, message_blocks = _content(row, step)
            answer = self.call(
                "chat.postMessage",
                channel=channel,
                text=text,
                blocks=message_blocks,
                metadata={"event_type": METADATA_EVENT, "event_payload": {"marker": row.message_id}},
            )
            found = answer["ts"]
            channel = answer["channel"]
        SlackPost.objects.update_or_create(
            message=row, defaults={"person": person, "step": step, "channel_id": channel, "ts": found}
        )
        return f"posted {channel} {found}"

    def _find_posted(self, channel: str, row: OutboundMessage) -> str | None:
        """After an answer that may have been lost: the `ts` of this row's message, if it was posted."""
        history = self.call("conversations.history", channel=channel, limit=50, include_all_metadata=True)
        for message in history.get("messages", []):
            payload = (message.get("metadata") or {}).get("event_payload") or {}
            if payload.get("marker") == row.message_id:
                return message["ts"]
        return None

    def _update(self, row: OutboundMessage) -> str:
        post = SlackPost.objects.select_related("step__request__requester", "step__request__beneficiary").get(
            pk=row.payload["post"]
        )
        text, message_blocks = row.body, row.payload.get("blocks")
        if post.step is not None and message_blocks is None:
            text, message_blocks = blocks.outcome_line(post.step), blocks.decided_blocks(post.step)
        self.call("chat.update", channel=post.channel_id, ts=post.ts, text=text, blocks=message_blocks or [])
        return f"updated {post.channel_id} {post.ts}"

    def _view(self, row: OutboundMessage) -> str:
        arguments = dict(row.payload["arguments"])
        answer = self.call(row.payload["method"], **arguments)
        return f"{row.payload['method']} {answer.get('view', {}).get('id', '')}"


def _content(row: OutboundMessage, step: ApprovalStep | None) -> tuple[str, list[dict]]:
    if step is not None:
        return row.subject or blocks.approval_text(step), blocks.approval_blocks(step, title=row.subject)
    if row.payload.get("blocks"):
        return row.subject or row.body[:150], row.payload["blocks"]
    text = f"*{row.subject}*\n{row.body}" if row.subject else row.body
    return row.subject or row.body[:150], blocks.notice_blocks(text)


def _fall_back_to_email(row: OutboundMessage) -> str:
    """Not in Slack: the same message goes by email (a row of its own, delivered after commit)."""
    from governance.notifications import services as notifications

    with transaction.atomic():
        copy = OutboundMessage.objects.create(
            channel="email",
            kind=row.kind if row.kind == Kind.APPROVAL else Kind.PLAIN,
            recipient=row.recipient,
            subject=row.subject,
            body=row.body,
            payload={key: value for key, value in row.payload.items() if key != "blocks"},
            next_attempt_at=timezone.now(),
        )
        notifications.notification_outbox.enqueue([copy.pk])
    return f"not in Slack: sent by email (message #{copy.pk})"
