"""Telling people: approvers get a message with a signed, expiring link to the approver page;
anyone can be sent a plain message.

Messages are outbox rows written in the caller's transaction and delivered after commit by the
shared outbox engine (batched, retried, swept), over the channel the row names: each person gets
the first of GATEHOUSE_NOTIFY_CHANNELS that reaches them (Slack falls back to email for someone
not found in Slack).
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from django.conf import settings
from django.utils import timezone

from catalog.models import Person
from governance.models import ApprovalStep
from governance.notifications.channels import CHANNELS
from governance.notifications.models import OutboundMessage
from governance.signed_links import SignedLink
from governance.slack.blocks import notice_blocks
from governance.slack.config import SLACK
from governance.slack.config import enabled as slack_enabled
from lib.errors import DeliveryError
from lib.outbox.engine import Batch, Outbox, Policy
from lib.outbox.models import Priority
from lib.ratelimit.budget import RateBudget
from provisioning.outbox.budget import shared_budget

logger = logging.getLogger(__name__)

LINK_SALT = "gatehouse.approval-link"
SUBJECTS = {
    "asked": "Approval needed: {request} — {role} for {beneficiary}",
    "reminder": "Reminder: approval still needed for {request} — {role} for {beneficiary}",
    "escalated": "Escalated to you: approval for {request} — {role} for {beneficiary}",
}
NOT_PENDING = "skipped: the step was no longer pending"
#: the same, after an attempt that may have gone out (its worker died mid-send): the approver may
#: have it, and the record says so rather than "not sent"
NOT_PENDING_MAYBE_SENT = "skipped: the step was no longer pending; an earlier attempt may have sent it"


class NotificationOutbox(Outbox[OutboundMessage]):
    """Deliver one message over its channel."""

    model = OutboundMessage
    task = "governance.tasks.send_messages"

    def policy(self) -> Policy:
        config = settings.GATEHOUSE
        return Policy.from_settings(
            config,
            "MESSAGE_",
            batch_size=config["MESSAGE_BATCH_SIZE"],
            pending_seconds=config["OUTBOX_PENDING_SECONDS"],
        )

    def rate_budget(self) -> RateBudget:
        return shared_budget()

    def rate_bucket(self, row: OutboundMessage) -> str | None:
        """Slack's Web API: one bucket, closed for every worker by a 429's Retry-After; email: none."""
        return "slack:web" if row.channel == SLACK else None

    def perform(self, row: OutboundMessage, batch: Batch) -> str:
        if row.kind == OutboundMessage.Kind.APPROVAL and not _render_approval(row):
            return NOT_PENDING_MAYBE_SENT if row.maybe_applied else NOT_PENDING
        if row.channel not in CHANNELS:
            raise DeliveryError(f"No notification channel is called {row.channel!r}.", retryable=False)
        channel = batch.resource(("channel", row.channel), CHANNELS[row.channel])
        return channel.deliver(row)

    def success_fields(self, row: OutboundMessage, result: Any, now: datetime) -> dict[str, Any]:
        fields = {"result": str(result)[:200]}
        if row.kind == OutboundMessage.Kind.APPROVAL:
            fields.update(subject=row.subject, body=row.body)  # what was sent, for the admin
        return fields


notification_outbox = NotificationOutbox()


APPROVAL_LINK = SignedLink(
    view="approval-page",
    salt=LINK_SALT,
    keys=("s", "p"),
    max_age_days=lambda: settings.GATEHOUSE["APPROVAL_LINK_MAX_AGE_DAYS"],
)


def approval_link(step: ApprovalStep, person: Person) -> str:
    """An absolute URL to decide `step` as `person`, signed and valid for APPROVAL_LINK_MAX_AGE_DAYS."""
    return APPROVAL_LINK.url(step.pk, person.pk)


def read_approval_link(token: str) -> tuple[int, int]:
    """(step id, person id) from a link token; raises signing.SignatureExpired / BadSignature."""
    step_id, person_id = APPROVAL_LINK.read(token)
    return step_id, person_id


def approvers_asked(step: ApprovalStep, *, reason: str, people: list[Person] | None = None) -> None:
    """Message each of the step's approvers (or just `people`) after commit. The text and link are
    made when the message is sent, and nothing is sent once the step is decided."""
    targets = people if people is not None else list(step.approvers.all())
    rows = [
        OutboundMessage(
            kind=OutboundMessage.Kind.APPROVAL,
            channel=channel_for(person),
            recipient=person.email,
            payload={"step": step.pk, "person": person.pk, "reason": reason},
            next_attempt_at=timezone.now(),
        )
        for person in targets
    ]
    queue_rows(rows)


def _render_approval(row: OutboundMessage) -> bool:
    """Fill in the approval message's subject and body; False when the step is no longer pending."""
    step = ApprovalStep.objects.select_related(
        "request__role__application", "request__beneficiary", "request__requester"
    ).get(pk=row.payload["step"])
    if step.status != ApprovalStep.Status.PENDING:
        return False
    person = Person.objects.get(pk=row.payload["person"])
    request = step.request
    row.subject = SUBJECTS[row.payload["reason"]].format(
        request=request, role=request.role, beneficiary=request.beneficiary.name
    )
    row.body = (
        f"{request.requester.name} asks for {request.role} for {request.beneficiary.name}"
        f" ({request.beneficiary.department or 'no department'}).\n"
        f"Reason: {request.reason}\n\n"
        f"Approve or deny: {approval_link(step, person)}\n"
        f"(The link is for you only and expires in {settings.GATEHOUSE['APPROVAL_LINK_MAX_AGE_DAYS']} days.)\n"
    )
    return True


def channel_for(person: Person) -> str:
    """The first of GATEHOUSE_NOTIFY_CHANNELS that can reach the person (a Slack row falls back
    to email when they are not found in Slack)."""
    for name in settings.GATEHOUSE_NOTIFY_CHANNELS:
        if name == SLACK and slack_enabled():
            return SLACK
        if name == "email":
            return "email"
    return "email"


#: a Slack button on a notice: (label, action id, value)
Button = tuple[str, str, str]


def notify_person(
    person: Person, *, subject: str, body: str, button: Button | None = None, link: tuple[str, str] | None = None
) -> OutboundMessage:
    """Message one person after the current transaction commits, over their channel. In Slack,
    `button` adds one button and `link` (label, URL) a link button; email has the body only."""
    return notify_people([(person, subject, body)], button=button, link=link)[0]


def notify_people(
    messages: list[tuple[Person, str, str]],
    *,
    button: Button | None = None,
    link: tuple[str, str] | None = None,
    links: list[tuple[str, str]] | None = None,
) -> list[OutboundMessage]:
    """Message many people, each (person, subject, body), in one INSERT (mass notices such as
    Auto Reclaim warnings), each over their channel, with the same Slack `button` / `link`, or
    with `links` one link of their own each (in the order of `messages`); handed to the workers
    after the current transaction commits."""
    now = timezone.now()
    own_links = links if links is not None else [link] * len(messages)
    return queue_rows(
        [
            _notice(person, subject, body, button, own_link, now)
            for (person, subject, body), own_link in zip(messages, own_links, strict=True)
        ]
    )


def _notice(
    person: Person, subject: str, body: str, button: Button | None, link: tuple[str, str] | None, now: datetime
) -> OutboundMessage:
    payload: dict[str, Any] = {"person": person.pk} if person.pk else {}
    channel = channel_for(person) if person.pk else "email"
    if (button or link) and channel == SLACK:
        text = f"*{subject}*\n{body}" if subject else body
        payload["blocks"] = notice_blocks(text, button=button, link=link)
    return OutboundMessage(
        channel=channel, recipient=person.email, subject=subject, body=body, payload=payload, next_attempt_at=now
    )


def queue_slack(kind: str, *, recipient: str, payload: dict[str, Any], body: str = "") -> OutboundMessage:
    """One outbound Slack call other than a DM (a message update, a modal, an ephemeral)."""
    row = OutboundMessage(
        channel=SLACK,
        kind=kind,
        recipient=recipient,
        body=body,
        payload=payload,
        priority=Priority.GRANT,  # someone is looking at Slack, waiting for it
        next_attempt_at=timezone.now(),
    )
    return queue_rows([row])[0]


def send_email_later(address: str, *, subject: str, body: str) -> OutboundMessage:
    """Email one address after the current transaction commits (an outbox row)."""
    row = OutboundMessage(recipient=address, subject=subject, body=body, next_attempt_at=timezone.now())
    return queue_rows([row])[0]


def queue_rows(rows: list[OutboundMessage]) -> list[OutboundMessage]:
    """Write message rows; they are delivered after the transaction commits."""
    created = OutboundMessage.objects.bulk_create(rows, batch_size=1000)
    notification_outbox.enqueue(row.pk for row in created)
    return created


def send_messages(ids: list[int]) -> int:
    """Deliver a batch of queued messages (the task body)."""
    return len(notification_outbox.deliver(ids))


def sweep_messages() -> dict[str, int]:
    return notification_outbox.sweep()
