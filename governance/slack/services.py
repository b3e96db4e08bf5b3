"""What a Slack click or modal does: find the person behind the Slack user, decide through the
same services as the API, refuse with an ephemeral message and an audit event, and keep every
approval DM of a step up to date."""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from slack_sdk.errors import SlackApiError, SlackRequestError

from catalog.models import Person
from governance.audit.services import Actor, record
from governance.errors import GovernanceError
from governance.models import ApprovalStep, Grant, OutboundMessage
from governance.notifications.services import queue_slack
from governance.requests.decisions import can_decide, decide_step
from governance.requests.extend import extend_grant
from governance.slack import blocks, buttons, modals
from governance.slack.config import SLACK, web_client
from governance.slack.posts import refresh_posts

Kind = OutboundMessage.Kind


@dataclass(frozen=True)
class Click:
    """Who clicked, and where (the DM channel and message the button was on)."""

    user_id: str
    channel_id: str = ""
    message_ts: str = ""


def identify(user_id: str) -> Person | None:
    """The person behind a Slack user: the cached id, else their Slack email checked back with
    users.lookupByEmail (a verified email), then cached. None when no person matches."""
    person = Person.objects.filter(slack_user_id=user_id).first()
    if person is not None:
        return person
    client = web_client()
    try:
        profile = client.users_info(user=user_id)["user"].get("profile", {})
        email = (profile.get("email") or "").strip()
        if not email or client.users_lookupByEmail(email=email)["user"]["id"] != user_id:
            return None
    except (SlackApiError, SlackRequestError, OSError, KeyError):
        return None
    person = Person.objects.filter(email__iexact=email).first()
    if person is not None:
        Person.objects.filter(pk=person.pk).update(slack_user_id=user_id)
        person.slack_user_id = user_id
    return person


def ephemeral(click: Click, text: str) -> OutboundMessage | None:
    """A message only the clicking user sees, in the DM the click came from."""
    if not click.channel_id:
        return None
    arguments = {"channel": click.channel_id, "user": click.user_id, "text": text}
    return queue_slack(Kind.SLACK_EPHEMERAL, recipient=click.user_id, payload={"ephemeral": arguments}, body=text)


def _refuse(click: Click, step: ApprovalStep | None, person: Person | None, reason: str) -> None:
    """A click that may not decide: an audit event, and an ephemeral saying why; never a decision."""
    who = person.email if person else f"Slack user {click.user_id}"
    with transaction.atomic():
        record(
            "slack.refused",
            f"Slack click by {who} refused: {reason}",
            actor=Actor.of_person(person) if person else Actor.system("slack"),
            request=step.request if step else None,
            data={"slack_user": click.user_id, "step": step.order if step else None, "reason": reason},
        )
        ephemeral(click, f"Not recorded: {reason}")


def _load_step(step_id: int | str) -> ApprovalStep | None:
    try:
        return (
            ApprovalStep.objects.select_related(
                "request__requester", "request__beneficiary", "request__role__application", "decided_by"
            )
            .filter(pk=int(step_id))
            .first()
        )
    except (TypeError, ValueError):
        return None


def decide_from_slack(*, click: Click, step_id: int | str, approve: bool, comment: str = "") -> bool:
    """Approve or deny a step from an approval DM. True when the decision was recorded."""
    step = _load_step(step_id)
    person = identify(click.user_id)
    if step is None:
        _refuse(click, None, person, "this request no longer exists.")
        return False
    if step.status != ApprovalStep.Status.PENDING:
        with transaction.atomic():
            ephemeral(click, f"Already decided: {blocks.outcome_line(step)}")
            refresh_posts(step, only_open=False, channel_id=click.channel_id, ts=click.message_ts)
        return False
    if person is None:
        _refuse(click, step, None, "your Slack account matches no active person in Gatehouse (by email).")
        return False
    verdict = can_decide(step, person)
    if not verdict.allowed:
        _refuse(click, step, person, verdict.reason)
        return False
    try:
        decide_step(
            request=step.request, actor=Actor.of_person(person), approve=approve, comment=comment, channel=SLACK
        )
    except GovernanceError as error:
        _refuse(click, step, person, error.message)
        return False
    return True


def open_deny_modal(*, trigger_id: str, click: Click, step_id: int | str) -> OutboundMessage | None:
    """Deny opens a modal asking for the (required) comment; a stale message is told so instead."""
    step = _load_step(step_id)
    if step is None or step.status != ApprovalStep.Status.PENDING:
        decide_from_slack(click=click, step_id=step_id, approve=False)  # only says it is gone or decided
        return None
    view = modals.deny_view(
        step_id=step.pk, channel_id=click.channel_id, ts=click.message_ts, summary=blocks.approval_text(step)
    )
    arguments = {"trigger_id": trigger_id, "view": view}
    return queue_slack(
        Kind.SLACK_VIEW, recipient=click.user_id, payload={"method": "views.open", "arguments": arguments}
    )


def press_button(*, click: Click, action_id: str, value: str) -> bool:
    """A button on a notice: Extend (governance's), or one an app registered (governance.slack.buttons)."""
    if action_id == blocks.EXTEND:
        return _extend(click, value)
    handle = buttons.handler_for(action_id)
    if handle is None:
        return False
    person = identify(click.user_id)
    if person is None:
        _refuse(click, None, None, "your Slack account matches no active person in Gatehouse (by email).")
        return False
    try:
        answer = handle(person, value)
    except GovernanceError as error:
        _refuse(click, None, person, error.message)
        return False
    ephemeral(click, answer)
    return True


def _extend(click: Click, value: str) -> bool:
    """The Extend button of an expiry warning: the extension service, as the grant's holder."""
    person = identify(click.user_id)
    grant = Grant.objects.select_related("request", "role").filter(pk=int(value) if value.isdigit() else 0).first()
    if person is None or grant is None:
        _refuse(click, None, person, "this access could not be found for you.")
        return False
    added = (grant.request.duration if grant.request else None) or grant.role.default_duration
    try:
        if added is None:
            raise GovernanceError("this role has no standard duration; extend it from Jira or the API.")
        _, routed = extend_grant(
            grant=grant, actor=Actor.of_person(person), added=added, reason="Extend button in Slack"
        )
    except GovernanceError as error:
        _refuse(click, None, person, error.message)
        return False
    ephemeral(click, f"Extension of {grant.role} asked" + (f": request {routed} routed." if routed else ": extended."))
    return True
