"""Reviews in Slack: an Auto Reclaim warning reaches the person with "Keep my access" (handled by
reviews through governance's Slack button port), and a campaign reminder reaches each reviewer
with a link to their Keep/Revoke page (email for a reviewer not in Slack)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine

from catalog.models import AppActivity
from governance.models import AuditEvent
from governance.slack import buttons
from reviews.models import ReclaimCase, ReclaimPolicy
from reviews.reclaim import keep
from tests import slack_requests as slack
from tests.slack_fixtures import send_payload, texts
from tests.test_reclaim import DAY, T0, grant_reader, last_login, sweep
from tests.test_reviews_campaigns import NOW, launch, make_campaign, world  # noqa: F401

Outcome = ReclaimCase.Outcome


@pytest.fixture
def warned(company, slack_on, slack_people, slack_emu, django_capture_on_commit_callbacks):
    """bob has not used the wiki for 100 days: the sweep warned him in Slack."""
    policy = ReclaimPolicy.objects.create(
        application=company.wiki, threshold_days=90, grace_days=14, mode=ReclaimPolicy.Mode.ENFORCE
    )
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - 100 * DAY)
    sweep(django_capture_on_commit_callbacks, T0)
    case = ReclaimCase.objects.get(grant=grant)
    assert case.status == ReclaimCase.Status.WARNED
    warning = slack_emu.dm_messages(slack_people["bob"])[-1]
    return policy, case, warning


def keep_button(warning: dict) -> dict:
    (button,) = [e for b in warning["blocks"] if b["type"] == "actions" for e in b["elements"]]
    return button


def press(client, tasks, slack_emu, user_id, warning, value):
    payload = slack.button_click(
        user_id=user_id,
        action_id="gatehouse_reclaim_keep",
        value=value,
        channel_id=slack_emu.dm_of(user_id),
        message_ts=warning["ts"],
        trigger_id=slack_emu.new_trigger(),
    )
    return send_payload(client, tasks, payload)


def test_reviews_registers_the_keep_button_in_governances_port():
    assert buttons.handler_for("gatehouse_reclaim_keep") is keep.on_keep_button


def test_the_warning_reaches_the_person_in_slack_with_keep_my_access(warned, mailoutbox):
    policy, _, warning = warned
    assert warning["text"] == "Your access to Wiki will be removed"
    assert "You have not used Wiki for 90 days" in texts(warning["blocks"])
    button = keep_button(warning)
    assert (button["text"]["text"], button["action_id"], button["value"]) == (
        "Keep my access",
        "gatehouse_reclaim_keep",
        str(policy.pk),
    )
    assert not [m for m in mailoutbox if m.subject.startswith("Your access to Wiki")]  # Slack instead of email


def test_keep_my_access_records_activity_and_closes_the_case(
    client, warned, slack_people, slack_emu, tasks, company, django_capture_on_commit_callbacks
):
    _policy, case, warning = warned
    assert (
        press(client, tasks, slack_emu, slack_people["bob"], warning, keep_button(warning)["value"]).status_code == 200
    )
    case.refresh_from_db()
    assert (case.status, case.outcome) == (ReclaimCase.Status.CLOSED, Outcome.KEPT_ACTIVE_AGAIN)
    assert "Keep my access" in case.outcome_note
    activity = AppActivity.objects.get(person=company.bob, application=company.wiki)
    assert activity.source == "keep-my-access"
    assert AuditEvent.objects.get(action="activity.recorded").actor_person == company.bob
    (answer,) = slack_emu.ephemerals
    assert answer["text"] == "Kept: your access to Wiki stays (1 item)."
    # The next sweeps count the kept activity: no new case, no removal.
    sweep(django_capture_on_commit_callbacks, T0 + 20 * DAY)
    assert list(ReclaimCase.objects.values_list("status", flat=True)) == [ReclaimCase.Status.CLOSED]
    assert case.grant.__class__.objects.get(pk=case.grant_id).status == "active"


def test_keep_from_someone_else_is_refused_and_changes_nothing(client, warned, slack_people, slack_emu, tasks):
    policy, case, warning = warned
    slack_emu.messages.setdefault(slack_emu.dm_of(slack_people["charlie"]), [])  # a copy in charlie's own DM
    assert press(client, tasks, slack_emu, slack_people["charlie"], warning, str(policy.pk)).status_code == 200
    case.refresh_from_db()
    assert case.status == ReclaimCase.Status.WARNED
    assert not AppActivity.objects.exists()
    refused = AuditEvent.objects.get(action="slack.refused")
    assert "no access to Wiki waiting to be removed" in refused.message
    (answer,) = slack_emu.ephemerals
    assert answer["text"].startswith("Not recorded:")


def test_a_second_click_on_the_same_warning_says_there_is_nothing_left(client, warned, slack_people, slack_emu, tasks):
    policy, _case, warning = warned
    press(client, tasks, slack_emu, slack_people["bob"], warning, str(policy.pk))
    press(client, tasks, slack_emu, slack_people["bob"], warning, str(policy.pk))
    assert [e["text"].split(":")[0] for e in slack_emu.ephemerals] == ["Kept", "Not recorded"]
    assert ReclaimCase.objects.get().outcome == Outcome.KEPT_ACTIVE_AGAIN


def test_a_review_reminder_reaches_the_reviewer_in_slack_with_their_page(
    world,  # noqa: F811
    slack_on,
    slack_people,
    slack_emu,
    mailoutbox,
    django_capture_on_commit_callbacks,
):
    from reviews.campaigns import services as campaigns

    with django_capture_on_commit_callbacks(execute=True):
        launch(make_campaign(world, reminder_every_days=3))
    launched = len(slack_emu.dm_messages(slack_people["alice"]))
    mailoutbox.clear()
    with time_machine.travel(NOW + timedelta(days=3), tick=False), django_capture_on_commit_callbacks(execute=True):
        assert campaigns.send_reminders() == 2  # alice (in Slack) and dana (not)
    reminder = slack_emu.dm_messages(slack_people["alice"])[launched]
    assert reminder["text"].startswith("Access review: Q1 wiki review")
    assert "Reminder: " in texts(reminder["blocks"])
    (button,) = [e for b in reminder["blocks"] if b["type"] == "actions" for e in b["elements"]]
    assert button["text"]["text"] == "Open my review" and "/reviews/link/" in button["url"]
    assert [m.to for m in mailoutbox] == [["dana@example.com"]]  # not in Slack: by email


def keep_path(mail) -> str:
    link = next(word for word in mail.body.split() if "/reclaim/keep/" in word)
    return link.split("127.0.0.1:8000")[-1]


@pytest.fixture
def emailed(company, mailoutbox, django_capture_on_commit_callbacks):
    """Slack is off: bob's warning is emailed with its Keep link."""
    policy = ReclaimPolicy.objects.create(
        application=company.wiki, threshold_days=90, grace_days=14, mode=ReclaimPolicy.Mode.ENFORCE
    )
    grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - 100 * DAY)
    mailoutbox.clear()
    sweep(django_capture_on_commit_callbacks, T0)
    (mail,) = mailoutbox
    return policy, ReclaimCase.objects.get(), keep_path(mail)


def test_the_emailed_warning_links_to_a_keep_page_that_keeps_on_post(client, emailed, company):
    _, case, path = emailed
    with time_machine.travel(T0 + DAY, tick=False):
        page = client.get(path)
        assert page.status_code == 200 and "Keep my access" in page.content.decode()
        assert "no-store" in page["Cache-Control"]
        case.refresh_from_db()
        assert case.status == ReclaimCase.Status.WARNED  # a GET changes nothing
        kept = client.post(path)
        assert kept.status_code == 200 and "your access to Wiki is kept" in kept.content.decode()
        case.refresh_from_db()
        assert (case.status, case.outcome) == (ReclaimCase.Status.CLOSED, Outcome.KEPT_ACTIVE_AGAIN)
        assert AppActivity.objects.get(person=company.bob, application=company.wiki).source == "keep-my-access"
        again = client.post(path)
        assert again.status_code == 409 and "Not recorded" in again.content.decode()


def test_a_forged_or_expired_keep_link_is_refused(client, emailed):
    _, case, path = emailed
    with time_machine.travel(T0 + DAY, tick=False):
        assert client.post(path[:-3] + "xx/").status_code == 400
    with time_machine.travel(T0 + 40 * DAY, tick=False):
        assert client.post(path).status_code == 410
    case.refresh_from_db()
    assert case.status == ReclaimCase.Status.WARNED and not AppActivity.objects.exists()


def test_the_keep_page_needs_csrf_on_post(emailed):
    from django.test import Client

    _, case, path = emailed
    strict = Client(enforce_csrf_checks=True)
    with time_machine.travel(T0 + DAY, tick=False):
        assert strict.post(path).status_code == 403
    case.refresh_from_db()
    assert case.status == ReclaimCase.Status.WARNED
