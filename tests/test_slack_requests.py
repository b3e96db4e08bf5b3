"""Asking for access from Slack: `/access` (or the global shortcut) opens a modal fed by the
catalog; the submission creates a request through submit_request (source `slack`) and a DM."""

from __future__ import annotations

import json

from governance.models import AccessRequest
from tests import slack_requests as slack
from tests.slack_fixtures import chosen, pick_role, send_payload, texts, typed


def test_access_opens_a_modal_with_the_requestable_catalog(
    client, slack_modal, slack_people, slack_emu, tasks, company
):
    from tests import company as c

    c.app("secret-lab", owner=company.alice).__class__.objects.filter(slug="secret-lab").update(status="draft")
    assert slack_modal["callback_id"] == "gatehouse_access"
    assert slack_modal["blocks"][0]["element"]["type"] == "external_select"
    payload = slack.suggestion(
        user_id=slack_people["bob"], view=slack_modal, action_id="gatehouse_application", value="wi"
    )
    answer = slack.send(client, slack.interactive(payload))
    assert answer.status_code == 200
    assert answer.json() == {
        "options": [{"text": {"type": "plain_text", "text": "Wiki", "emoji": True}, "value": "wiki"}]
    }
    nothing = slack.suggestion(
        user_id=slack_people["bob"], view=slack_modal, action_id="gatehouse_application", value="secret"
    )
    assert slack.send(client, slack.interactive(nothing)).json() == {"options": []}


def test_the_modal_shows_roles_then_the_roles_durations(client, slack_modal, slack_people, slack_emu, tasks):
    view, _ = pick_role(client, tasks, slack_emu, slack_people, slack_modal)
    blocks = {block["block_id"]: block for block in view["blocks"]}
    assert [o["value"] for o in blocks["gatehouse_role"]["element"]["options"]] == ["editor", "reader"]
    assert [o["value"] for o in blocks["gatehouse_duration"]["element"]["options"]] == ["PT6H", "P1D", "P7D"]
    assert json.loads(view["private_metadata"]) == {"application": "wiki", "role": "editor"}


def test_a_submission_creates_the_request_and_dms_the_route(client, slack_modal, slack_people, slack_emu, tasks):
    view, values = pick_role(client, tasks, slack_emu, slack_people, slack_modal)
    values = {**values, **chosen("gatehouse_duration", "P1D"), **typed("gatehouse_reason", "on-call docs")}
    payload = slack.view_submission(
        user_id=slack_people["bob"], view=view, values=values, trigger_id=slack_emu.new_trigger()
    )
    answer = send_payload(client, tasks, payload)
    assert answer.status_code == 200 and answer.content == b""
    request = AccessRequest.objects.get()
    assert (request.source, request.requester.email, request.role.slug) == ("slack", "bob@example.com", "editor")
    assert request.duration.days == 1 and request.reason == "on-call docs"
    (received,) = slack_emu.dm_messages(slack_people["bob"])
    shown = texts(received["blocks"])
    assert f"Request {request} received" in shown and "Step 1: Alice Owner" in shown
    assert len(slack_emu.dm_messages(slack_people["alice"])) == 1  # and the approver was asked in Slack


def test_a_submission_for_someone_else(client, slack_modal, slack_people, slack_emu, tasks):
    view, values = pick_role(client, tasks, slack_emu, slack_people, slack_modal)
    values = {
        **values,
        **chosen("gatehouse_duration", "PT6H"),
        **typed("gatehouse_reason", "pairing"),
        "gatehouse_beneficiary": {
            "gatehouse_beneficiary": {"type": "users_select", "selected_user": slack_people["charlie"]}
        },
    }
    payload = slack.view_submission(
        user_id=slack_people["bob"], view=view, values=values, trigger_id=slack_emu.new_trigger()
    )
    send_payload(client, tasks, payload)
    assert AccessRequest.objects.get().beneficiary.email == "charlie@example.com"


def test_a_submission_without_reason_or_required_duration_is_answered_with_errors(
    client, slack_modal, slack_people, slack_emu, tasks, company
):
    company.editor.duration_required = True
    company.editor.save()
    view, values = pick_role(client, tasks, slack_emu, slack_people, slack_modal)
    payload = slack.view_submission(
        user_id=slack_people["bob"], view=view, values=values, trigger_id=slack_emu.new_trigger()
    )
    answer = send_payload(client, tasks, payload)
    assert answer.json() == {
        "response_action": "errors",
        "errors": {"gatehouse_duration": "This role needs a duration.", "gatehouse_reason": "Say why you need it."},
    }
    assert not AccessRequest.objects.exists()


def test_the_global_shortcut_opens_the_same_modal(client, slack_on, slack_people, slack_emu, tasks):
    payload = {
        "type": "shortcut",
        "token": "legacy-verification-token",
        "action_ts": slack.action_ts(),
        "team": slack.TEAM,
        "user": {"id": slack_people["bob"], "username": "bob", "team_id": slack.TEAM["id"]},
        "callback_id": "gatehouse_request_access",
        "trigger_id": slack_emu.new_trigger(),
    }
    assert send_payload(client, tasks, payload).status_code == 200
    assert [view["callback_id"] for view in slack_emu.opened_views] == ["gatehouse_access"]


def test_an_expired_trigger_is_a_permanent_failure(client, slack_on, slack_people, slack_emu, tasks):
    from governance.models import OutboundMessage

    with tasks():
        slack.send(client, slack.slash_command(user_id=slack_people["bob"], trigger_id=slack_emu.new_trigger(age=4)))
    assert not slack_emu.opened_views
    row = OutboundMessage.objects.get(kind=OutboundMessage.Kind.SLACK_VIEW)
    assert row.status == OutboundMessage.Status.FAILED and "expired_trigger_id" in row.last_error


def test_an_unknown_slack_user_creates_nothing(client, slack_modal, slack_people, slack_emu, tasks):
    stranger = slack_emu.add_user("mallory@elsewhere.example")
    view, values = pick_role(client, tasks, slack_emu, slack_people, slack_modal)
    values = {**values, **chosen("gatehouse_duration", "P1D"), **typed("gatehouse_reason", "x")}
    payload = slack.view_submission(user_id=stranger, view=view, values=values, trigger_id=slack_emu.new_trigger())
    assert send_payload(client, tasks, payload).status_code == 200
    assert not AccessRequest.objects.exists()


def test_the_expiry_warning_has_an_extend_button_that_calls_the_extension_service(
    client, slack_on, slack_people, slack_emu, tasks, company
):
    from datetime import timedelta

    import time_machine

    from governance import services
    from governance.grants.expiry import send_expiry_warnings
    from governance.models import Grant
    from tests.slack_fixtures import submit

    with time_machine.travel("2026-11-23 09:00Z", tick=False) as clock:
        with tasks():
            request = submit()
            services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
        grant = Grant.objects.get(request=request, status=Grant.Status.ACTIVE)
        clock.shift(timedelta(hours=5, minutes=30))
        with tasks():
            send_expiry_warnings()
        warning = slack_emu.dm_messages(slack_people["bob"])[-1]
        (button,) = [e for b in warning["blocks"] if b["type"] == "actions" for e in b["elements"]]
        assert (button["action_id"], button["value"]) == ("gatehouse_extend", str(grant.pk))
        payload = slack.button_click(
            user_id=slack_people["bob"],
            action_id="gatehouse_extend",
            value=button["value"],
            channel_id=slack_emu.dm_of(slack_people["bob"]),
            message_ts=warning["ts"],
            trigger_id=slack_emu.new_trigger(),
        )
        assert send_payload(client, tasks, payload).status_code == 200
    extended = grant.extensions.exists() or AccessRequest.objects.filter(extends_grant=grant).exists()
    assert extended
    (ephemeral,) = slack_emu.ephemerals
    assert ephemeral["text"].startswith("Extension of")


def test_the_holder_hears_in_slack_when_the_grant_expires(slack_on, slack_people, slack_emu, tasks, company):
    from datetime import timedelta

    import time_machine

    from governance import services
    from tests.slack_fixtures import submit

    with time_machine.travel("2026-11-23 09:00Z", tick=False) as clock:
        with tasks():
            request = submit()
            services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
        clock.shift(timedelta(hours=6, minutes=1))
        with tasks():
            services.expire_due_grants()
    told = [message["text"] for message in slack_emu.dm_messages(slack_people["bob"])]
    assert told[-1] == "Your Wiki / Editor access has expired"
