"""A request made with `/access` gets its Jira issue (JIRA_REQUESTS: a project, or a Jira Service
Management service desk and request type) through the Jira outbox, so Jira stays the record; the
requester's DM carries the issue link and the route, and the approval from Slack is commented there."""

from __future__ import annotations

import pytest

from governance.jira import adf
from governance.models import AccessRequest, AuditEvent, JiraUpdate
from tests import slack_requests as slack
from tests.slack_fixtures import chosen, click, pick_role, send_payload, texts, typed


def submit_from_slack(client, tasks, slack_emu, slack_people, view) -> AccessRequest:
    view, values = pick_role(client, tasks, slack_emu, slack_people, view)
    values = {**values, **chosen("gatehouse_duration", "P1D"), **typed("gatehouse_reason", "on-call docs")}
    payload = slack.view_submission(
        user_id=slack_people["bob"], view=view, values=values, trigger_id=slack_emu.new_trigger()
    )
    assert send_payload(client, tasks, payload).status_code == 200
    return AccessRequest.objects.get()


@pytest.fixture
def request_project(settings, jira):
    settings.JIRA_REQUESTS = {**settings.JIRA_REQUESTS, "PROJECT": "ACC", "ISSUE_TYPE": "Access"}
    return jira


def test_a_slack_request_opens_its_jira_issue_and_the_dm_links_it(
    client,
    request_project,
    slack_modal,
    slack_people,
    slack_emu,
    tasks,
):
    jira = request_project
    request = submit_from_slack(client, tasks, slack_emu, slack_people, slack_modal)
    assert request.jira_issue_key == "ACC-1"
    issue = jira.issues["ACC-1"]
    assert issue["fields"]["issuetype"] == {"name": "Access"}
    assert issue["fields"]["summary"] == "Access request: Wiki / Editor for Bob Builder"
    assert "on-call docs" in adf.plain_text(issue["fields"]["description"])
    assert issue["properties"]["gatehouse"]["status"] == "pending_approval"  # the issue property follows
    (received,) = slack_emu.dm_messages(slack_people["bob"])
    shown = texts(received["blocks"])
    assert "Request ACC-1 received" in shown
    assert f"Jira: {jira.base_url}/browse/ACC-1" in shown and "Step 1: Alice Owner" in shown
    assert AuditEvent.objects.filter(action="request.jira_issue_opened", request=request).exists()


def test_the_approval_from_slack_is_commented_on_the_new_issue(
    client,
    request_project,
    slack_modal,
    slack_people,
    slack_emu,
    tasks,
):
    request = submit_from_slack(client, tasks, slack_emu, slack_people, slack_modal)
    (asked,) = slack_emu.dm_messages(slack_people["alice"])
    step = request.steps.get()
    click(
        client, slack_emu, tasks, user_id=slack_people["alice"], action_id="gatehouse_approve", step=step, message=asked
    )
    comments = [adf.plain_text(comment["body"]) for comment in request_project.comments("ACC-1")]
    assert any("approved by alice@example.com via Slack" in text for text in comments), comments


def test_a_service_desk_request_is_raised_on_behalf_of_the_requester(
    client,
    settings,
    jira,
    slack_modal,
    slack_people,
    slack_emu,
    tasks,
    company,
):
    jira.add_service_desk("4", "ITSM", "31")
    settings.JIRA_REQUESTS = {**settings.JIRA_REQUESTS, "SERVICE_DESK_ID": "4", "REQUEST_TYPE_ID": "31"}
    company.bob.atlassian_account_id = "5b10ac8d82e05b22cc7d4ef5"
    company.bob.save()
    request = submit_from_slack(client, tasks, slack_emu, slack_people, slack_modal)
    assert request.jira_issue_key == "ITSM-1"
    issue = jira.issues["ITSM-1"]
    assert issue["request"] == {
        "serviceDeskId": "4",
        "requestTypeId": "31",
        "raiseOnBehalfOf": "5b10ac8d82e05b22cc7d4ef5",
    }
    assert "on-call docs" in issue["fields"]["description"]
    update = JiraUpdate.objects.get(kind=JiraUpdate.Kind.CREATE_REQUEST)
    assert update.issue_key == "ITSM-1" and update.status == JiraUpdate.Status.SENT
    (received,) = slack_emu.dm_messages(slack_people["bob"])
    assert f"{jira.base_url}/browse/ITSM-1" in texts(received["blocks"])


def test_an_issue_jira_refuses_still_tells_the_requester_the_route(
    client,
    settings,
    jira,
    slack_modal,
    slack_people,
    slack_emu,
    tasks,
):
    jira.add_service_desk("4", "ITSM", "31")
    settings.JIRA_REQUESTS = {**settings.JIRA_REQUESTS, "SERVICE_DESK_ID": "4", "REQUEST_TYPE_ID": "99"}
    request = submit_from_slack(client, tasks, slack_emu, slack_people, slack_modal)
    assert request.jira_issue_key is None and request.status == AccessRequest.Status.PENDING_APPROVAL
    update = JiraUpdate.objects.get(kind=JiraUpdate.Kind.CREATE_REQUEST)
    assert update.status == JiraUpdate.Status.FAILED and "request type" in update.last_error
    (received,) = slack_emu.dm_messages(slack_people["bob"])
    shown = texts(received["blocks"])
    assert "Step 1: Alice Owner" in shown and "could not be created" in shown
    assert AuditEvent.objects.filter(action="request.jira_issue_failed", request=request).exists()
    assert len(slack_emu.dm_messages(slack_people["alice"])) == 1  # the approver was asked all the same


def test_without_a_request_project_no_issue_is_opened(client, jira, slack_modal, slack_people, slack_emu, tasks):
    request = submit_from_slack(client, tasks, slack_emu, slack_people, slack_modal)
    assert request.jira_issue_key is None
    assert not JiraUpdate.objects.filter(kind__in=[JiraUpdate.Kind.CREATE_ISSUE, JiraUpdate.Kind.CREATE_REQUEST])
    (received,) = slack_emu.dm_messages(slack_people["bob"])
    assert "Jira:" not in texts(received["blocks"])
