"""Slack delivery on the notification outbox: Slack down loses nothing, 429 waits Retry-After, a
lost answer is never posted twice, reminders go once, Jira gets the "via Slack" comment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.urls import reverse

from governance import services
from governance import tasks as gatehouse_tasks
from governance.jira import adf
from governance.models import AccessRequest, OutboundMessage, SlackPost
from governance.requests.followup import follow_up_approvals
from provisioning.models import RateBucket
from tests.emulators.jira import JiraEmulator
from tests.slack_fixtures import click, submit

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


def slack_rows():
    return OutboundMessage.objects.filter(channel="slack").order_by("id")


def test_slack_down_blocks_nothing_and_the_dm_follows(slack_on, slack_people, slack_emu, tasks, clock, company):
    slack_emu.fail(1000, 503)
    with tasks():
        request = submit()
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING_APPROVAL  # routed; Slack did not stop it
    (row,) = slack_rows()
    assert row.status == OutboundMessage.Status.QUEUED and row.attempts == 1 and "503" in row.last_error
    slack_emu.fail(0)
    clock.shift(timedelta(minutes=5))
    with tasks():
        gatehouse_tasks.sweep_messages()
    row.refresh_from_db()
    assert row.status == OutboundMessage.Status.SENT
    assert len(slack_emu.dm_messages(slack_people["alice"])) == 1


def test_a_decision_made_while_slack_is_down_is_kept_and_the_dm_updated_after(
    client, slack_on, slack_people, slack_emu, tasks, clock
):
    with tasks():
        request = submit()
    step = services.current_step(request)
    (message,) = slack_emu.dm_messages(slack_people["alice"])
    slack_emu.fail(1000, 503)  # the click gets through; the DM update and the ephemeral do not
    click(
        client,
        slack_emu,
        tasks,
        user_id=slack_people["alice"],
        action_id="gatehouse_approve",
        step=step,
        message=message,
    )
    step.refresh_from_db()
    assert step.status == "approved"
    update = slack_rows().get(kind=OutboundMessage.Kind.SLACK_UPDATE)
    assert update.status == OutboundMessage.Status.QUEUED
    slack_emu.fail(0)
    clock.shift(timedelta(minutes=5))
    with tasks():
        gatehouse_tasks.sweep_messages()
    (updated,) = slack_emu.dm_messages(slack_people["alice"])
    assert updated.get("edited")


def test_a_429_waits_for_retry_after(slack_on, slack_people, slack_emu, tasks, clock):
    slack_emu.throttle(1)
    with tasks():
        submit()
    (row,) = slack_rows()
    assert row.status == OutboundMessage.Status.QUEUED
    assert row.next_attempt_at >= T0 + timedelta(seconds=30)
    assert not row.maybe_applied  # Slack refused it before doing anything
    bucket = RateBucket.objects.get(key="slack:web")  # closed for every worker until Retry-After
    assert bucket.remaining == 0 and bucket.reset_at >= (T0 + timedelta(seconds=30)).timestamp()
    clock.shift(timedelta(seconds=31))
    with tasks():
        gatehouse_tasks.sweep_messages()
    row.refresh_from_db()
    assert row.status == OutboundMessage.Status.SENT
    assert len(slack_emu.dm_messages(slack_people["alice"])) == 1


def test_a_lost_answer_is_not_posted_twice(slack_on, slack_people, slack_emu, tasks, clock):
    slack_emu.lose_answers = 1
    with tasks():
        submit()
    (row,) = slack_rows()
    assert row.maybe_applied and row.status == OutboundMessage.Status.QUEUED
    clock.shift(timedelta(minutes=5))
    with tasks():
        gatehouse_tasks.sweep_messages()
    row.refresh_from_db()
    assert row.status == OutboundMessage.Status.SENT
    (message,) = slack_emu.dm_messages(slack_people["alice"])
    assert SlackPost.objects.get(message=row).ts == message["ts"]
    assert len(slack_emu.method_calls("chat.postMessage")) == 1
    assert len(slack_emu.method_calls("conversations.history")) == 1


def test_a_reminder_goes_to_slack_once_however_often_the_sweep_runs(slack_on, slack_people, slack_emu, tasks, clock):
    with tasks():
        submit()
    clock.shift(timedelta(hours=25))
    for _ in range(3):
        with tasks():
            follow_up_approvals()
    dms = slack_emu.dm_messages(slack_people["alice"])
    assert len(dms) == 2
    assert dms[1]["text"].startswith("Reminder: approval still needed")


def test_a_stale_cached_slack_id_is_looked_up_again(slack_on, slack_people, slack_emu, tasks, company):
    company.alice.slack_user_id = "U9999999"  # left Slack; she has a new account now
    company.alice.save()
    with tasks():
        submit()
    company.alice.refresh_from_db()
    assert company.alice.slack_user_id == slack_people["alice"]
    assert len(slack_emu.dm_messages(slack_people["alice"])) == 1


def test_jira_gets_the_via_slack_comment(client, slack_on, settings, slack_people, slack_emu, tasks, clock):
    with JiraEmulator() as jira:
        jira.add_issue("IT-5")
        settings.JIRA_ENABLED = True
        settings.JIRA_BASE_URL = jira.base_url
        settings.JIRA_EMAIL = jira.email
        settings.JIRA_API_TOKEN = jira.api_token
        settings.JIRA_TRANSITIONS = {}
        with tasks():
            request = submit()
        step = services.current_step(request)
        (message,) = slack_emu.dm_messages(slack_people["alice"])
        click(
            client,
            slack_emu,
            tasks,
            user_id=slack_people["alice"],
            action_id="gatehouse_approve",
            step=step,
            message=message,
        )
        comments = [adf.plain_text(comment["body"]) for comment in jira.comments("IT-5")]
    assert any("approved by alice@example.com via Slack" in text for text in comments), comments


def test_admin_lists_undelivered_slack_messages_and_retries_them(
    client, slack_on, slack_people, slack_emu, tasks, company
):
    slack_emu.fail(1000, 503)
    with tasks():
        submit()
    (row,) = slack_rows()
    admin = User.objects.create_superuser("it", "it@example.com", "pw")
    client.force_login(admin)
    url = reverse("admin:governance_outboundmessage_changelist")
    page = client.get(url, {"channel": "slack", "delivery": "undelivered"})
    assert page.status_code == 200 and f"/{row.pk}/change/" in page.content.decode()
    slack_emu.fail(0)
    with tasks():
        client.post(url, {"action": "retry_now", "_selected_action": [str(row.pk)]})
    row.refresh_from_db()
    assert row.status == OutboundMessage.Status.SENT


def test_an_escalation_dms_the_fallback_approver_once(slack_on, slack_people, slack_emu, tasks, clock):
    dana = slack_emu.add_user("dana@example.com", "Dana IT")
    with tasks():
        submit()
    clock.shift(timedelta(hours=25))
    with tasks():
        follow_up_approvals()  # the reminder, to Alice
    clock.shift(timedelta(hours=48))
    for _ in range(3):
        with tasks():
            follow_up_approvals()
    (escalated,) = slack_emu.dm_messages(dana)
    assert escalated["text"].startswith("Escalated to you")
    assert [b for b in escalated["blocks"] if b["type"] == "actions"]  # Dana can decide from it
