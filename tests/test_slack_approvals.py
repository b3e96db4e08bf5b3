"""Approving and denying from the approver's Slack DM, through signed payloads to /slack/events
and the real slack-sdk against the Slack Web API emulator."""

from __future__ import annotations

import pytest

from governance import services
from governance.models import AccessRequest, ApprovalStep, AuditEvent, OutboundMessage, SlackPost
from tests import slack_requests as slack
from tests.slack_fixtures import click, submit, texts


@pytest.fixture
def asked(slack_on, slack_people, slack_emu, tasks):
    """Bob's request is waiting for Alice, who got her DM."""
    with tasks():
        request = submit()
    step = services.current_step(request)
    (message,) = slack_emu.dm_messages(slack_people["alice"])
    return request, step, message


def test_it_dms_the_approver_everything_needed_to_decide(asked, slack_people, slack_emu):
    _request, step, message = asked
    shown = texts(message["blocks"])
    for text in (
        "Bob Builder",
        "Wiki",
        "Editor",
        "PT6H",
        "write the runbook",
        "Medium",
        "step 1 of 1",
        "Current access to Wiki",
        "Approve",
        "Deny",
    ):
        assert text in shown, text
    post = SlackPost.objects.get(step=step)
    assert (post.channel_id, post.ts) == (slack_emu.dm_of(slack_people["alice"]), message["ts"])
    assert post.person.slack_user_id == slack_people["alice"]
    assert message["metadata"]["event_payload"]["marker"] == post.message.message_id


def test_it_approves_from_the_dm_and_updates_it(client, asked, slack_people, slack_emu, tasks):
    request, step, message = asked
    answer = click(
        client,
        slack_emu,
        tasks,
        user_id=slack_people["alice"],
        action_id="gatehouse_approve",
        step=step,
        message=message,
    )
    assert answer.status_code == 200
    request.refresh_from_db()
    step.refresh_from_db()
    assert step.status == ApprovalStep.Status.APPROVED and step.channel == "slack"
    assert request.status != AccessRequest.Status.PENDING_APPROVAL
    event = AuditEvent.objects.get(request=request, action="step.approved")
    assert "via slack" in event.message
    (updated,) = slack_emu.dm_messages(slack_people["alice"])
    assert updated.get("edited")
    assert "Approved by Alice Owner via Slack" in texts(updated["blocks"])
    assert not [block for block in updated["blocks"] if block["type"] == "actions"]  # no buttons left
    told = [message["text"] for message in slack_emu.dm_messages(slack_people["bob"])]
    assert told == [f"Request {request} approved", f"Request {request}: access ready"]
    assert "Groups: wiki-editors, wiki-readers." in texts(slack_emu.dm_messages(slack_people["bob"])[1]["blocks"])


def test_deny_opens_a_modal_that_requires_a_comment(client, asked, slack_people, slack_emu, tasks):
    request, step, message = asked
    answer = click(
        client, slack_emu, tasks, user_id=slack_people["alice"], action_id="gatehouse_deny", step=step, message=message
    )
    assert answer.status_code == 200
    (view,) = slack_emu.opened_views
    assert view["callback_id"] == "gatehouse_deny_comment"
    step.refresh_from_db()
    assert step.status == ApprovalStep.Status.PENDING  # nothing decided by opening the modal

    empty = {"gatehouse_comment": {"gatehouse_comment": {"type": "plain_text_input", "value": " "}}}
    payload = slack.view_submission(
        user_id=slack_people["alice"], view=view, values=empty, trigger_id=slack_emu.new_trigger()
    )
    with tasks():
        answer = slack.send(client, slack.interactive(payload))
    assert answer.status_code == 200
    assert answer.json() == {
        "response_action": "errors",
        "errors": {"gatehouse_comment": "A comment is required to deny."},
    }
    step.refresh_from_db()
    assert step.status == ApprovalStep.Status.PENDING

    filled = {"gatehouse_comment": {"gatehouse_comment": {"type": "plain_text_input", "value": "use the reader role"}}}
    payload = slack.view_submission(
        user_id=slack_people["alice"], view=view, values=filled, trigger_id=slack_emu.new_trigger()
    )
    with tasks():
        answer = slack.send(client, slack.interactive(payload))
    assert answer.status_code == 200
    request.refresh_from_db()
    step.refresh_from_db()
    assert request.status == AccessRequest.Status.DENIED
    assert step.comment == "use the reader role" and step.channel == "slack"
    (updated,) = slack_emu.dm_messages(slack_people["alice"])
    assert "Denied by Alice Owner via Slack" in texts(updated["blocks"])
    (told,) = slack_emu.dm_messages(slack_people["bob"])
    assert "Comment: use the reader role" in texts(told["blocks"])


@pytest.mark.parametrize("who", ["bob", "charlie", "stranger", "inactive"])
def test_it_refuses_a_click_from_anyone_who_may_not_decide(client, asked, slack_people, slack_emu, tasks, company, who):
    _request, step, message = asked
    if who == "stranger":
        user_id = slack_emu.add_user("mallory@elsewhere.example", "Mallory")
    elif who == "inactive":
        company.alice.status = "inactive"
        company.alice.save()
        user_id = slack_people["alice"]
    else:
        user_id = slack_people[who]
    slack_emu.messages.setdefault(slack_emu.dm_of(user_id), [])
    answer = click(client, slack_emu, tasks, user_id=user_id, action_id="gatehouse_approve", step=step, message=message)
    assert answer.status_code == 200
    step.refresh_from_db()
    assert step.status == ApprovalStep.Status.PENDING
    assert not step.decisions.exists()
    assert AuditEvent.objects.filter(action="slack.refused", data__slack_user=user_id).count() == 1
    (ephemeral,) = slack_emu.ephemerals
    assert ephemeral["user"] == user_id and ephemeral["text"].startswith("Not recorded:")


def test_a_decision_elsewhere_updates_the_dm_and_a_stale_click_says_so(
    client, asked, slack_people, slack_emu, tasks, company
):
    request, step, message = asked
    with tasks():
        services.decide_step(
            request=request, actor=services.Actor.of_person(company.alice), approve=True, channel="api"
        )
    (updated,) = slack_emu.dm_messages(slack_people["alice"])
    assert "Approved by Alice Owner via Api" in texts(updated["blocks"])
    answer = click(
        client,
        slack_emu,
        tasks,
        user_id=slack_people["alice"],
        action_id="gatehouse_approve",
        step=step,
        message=message,
    )
    assert answer.status_code == 200
    assert step.decisions.count() == 1
    (ephemeral,) = slack_emu.ephemerals
    assert ephemeral["text"].startswith("Already decided: Approved by Alice Owner")


def test_a_decision_after_slack_was_switched_off_queues_no_dm_update(asked, company, settings, tasks):
    request, step, _ = asked
    settings.SLACK_BOT_TOKEN = ""  # Slack switched off after the DM went out: an update could only fail
    with tasks():
        services.decide_step(
            request=request, actor=services.Actor.of_person(company.alice), approve=True, channel="api"
        )
    assert not OutboundMessage.objects.filter(kind=OutboundMessage.Kind.SLACK_UPDATE).exists()
    assert ApprovalStep.objects.get(pk=step.pk).status == ApprovalStep.Status.APPROVED


def test_an_approver_not_in_slack_gets_email(slack_on, company, slack_emu, tasks, mailoutbox):
    slack_emu.add_user("bob@example.com", "Bob Builder")
    with tasks():
        submit()
    assert not slack_emu.messages
    rows = OutboundMessage.objects.filter(recipient="alice@example.com").order_by("id")
    assert [row.channel for row in rows] == ["slack", "email"]
    assert rows[0].result.startswith("not in Slack")
    (mail,) = mailoutbox
    assert mail.to == ["alice@example.com"] and "Approve or deny" in mail.body


def test_with_slack_off_approvers_get_email_as_before(company, tasks, mailoutbox, client):
    with tasks():
        submit()
    assert [row.channel for row in OutboundMessage.objects.all()] == ["email"]
    assert len(mailoutbox) == 1
    assert slack.send(client, slack.interactive({"type": "block_actions"})).status_code == 404
