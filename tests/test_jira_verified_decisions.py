"""JIRA_VERIFY_APPROVALS: an API decision counts only when Jira Service Management's approval agrees."""

from __future__ import annotations

import pytest

from governance.models import AccessRequest, ApprovalDecision, ApprovalStep, AuditEvent
from tests import company as c

S = ApprovalStep.Status


@pytest.fixture
def verifying(jira_on):
    jira_on.JIRA_VERIFY_APPROVALS = True
    return jira_on


@pytest.fixture
def pending(company, verifying):
    return c.submit("IT-1")


def decide(api, action: str = "approve", approver: str = "alice@example.com"):
    return api.post(f"/api/v1/access-requests/IT-1/{action}/", {"approver": approver}, format="json")


def first_step(request) -> ApprovalStep:
    return ApprovalStep.objects.get(request=request, order=1)


def test_it_accepts_a_decision_jira_records_and_says_so_in_the_audit_event(api, emu, pending):
    approval = emu.add_approval("IT-1", ("alice@example.com", "acc-alice", "approved"))

    response = decide(api)

    assert response.status_code == 200, response.json()
    assert first_step(pending).status == S.APPROVED
    event = AuditEvent.objects.get(request=pending, action="step.approved")
    assert f"verified against Jira approval {approval['id']}" in event.message
    assert event.data["jira_approval"] == approval["id"]
    assert event.data["api_token"] == "jira-automation"
    assert any(call.path == "/rest/servicedeskapi/request/IT-1/approval" for call in emu.calls)


def test_it_matches_by_atlassian_account_id_when_jira_hides_the_email(api, emu, company, pending):
    company.alice.atlassian_account_id = "5b10ac8d82e05b22cc7d4ef5"
    company.alice.save(update_fields=["atlassian_account_id"])
    emu.add_approval("IT-1", ("", "5b10ac8d82e05b22cc7d4ef5", "approved"))

    assert decide(api).status_code == 200
    assert first_step(pending).status == S.APPROVED


def test_it_accepts_a_denial_that_jira_records_as_declined(api, emu, pending):
    emu.add_approval("IT-1", ("alice@example.com", "acc-alice", "declined"))
    assert decide(api, "deny").status_code == 200
    assert AccessRequest.objects.get(pk=pending.pk).status == AccessRequest.Status.DENIED


@pytest.mark.parametrize(
    "approvers,action,says",
    [
        ([], "approve", "Jira has no approval on this request"),
        ([("alice@example.com", "acc-alice", "pending")], "approve", "records alice@example.com as pending"),
        ([("alice@example.com", "acc-alice", "declined")], "approve", "records alice@example.com as declined"),
        ([("alice@example.com", "acc-alice", "approved")], "deny", "records alice@example.com as approved"),
        ([("dana@example.com", "acc-dana", "approved")], "approve", "does not list alice@example.com"),
    ],
)
def test_it_refuses_a_decision_jira_does_not_record(api, emu, pending, approvers, action, says):
    if approvers:
        emu.add_approval("IT-1", *approvers)

    response = decide(api, action)

    assert response.status_code == 409
    error = response.json()["error"]
    assert error["code"] == "unverified_decision"
    assert says in error["message"]
    assert first_step(pending).status == S.PENDING
    assert not ApprovalDecision.objects.filter(step__request=pending).exists()


@pytest.mark.parametrize("outage", ["503", "429", "down"])
def test_it_refuses_with_a_retryable_error_when_jira_cannot_be_asked(api, emu, pending, outage):
    emu.add_approval("IT-1", ("alice@example.com", "acc-alice", "approved"))
    if outage == "503":
        emu.fail(5, 503)
    elif outage == "429":
        emu.throttle(5)
    else:
        emu.stop()

    response = decide(api)

    assert response.status_code == 503
    assert response.json()["error"]["code"] == "jira_unavailable"
    assert first_step(pending).status == S.PENDING
    assert not ApprovalDecision.objects.filter(step__request=pending).exists()


def test_it_reads_every_page_of_approvals(api, emu, pending):
    for n in range(60):
        emu.add_approval("IT-1", (f"other{n}@example.com", f"acc-{n}", "pending"))
    emu.add_approval("IT-1", ("alice@example.com", "acc-alice", "approved"))

    assert decide(api).status_code == 200
    pages = [call for call in emu.calls if call.path.endswith("/approval")]
    assert len(pages) == 2


def test_it_does_not_ask_jira_when_verification_is_off(api, emu, pending, settings):
    settings.JIRA_VERIFY_APPROVALS = False
    assert decide(api).status_code == 200
    assert not [call for call in emu.calls if call.path.endswith("/approval")]


@pytest.mark.parametrize("channel", ["admin", "link"])
def test_it_does_not_ask_jira_about_decisions_made_in_gatehouse(emu, company, pending, channel):
    from governance import services

    services.decide_step(request=pending, actor=services.Actor.of_person(company.alice), approve=True, channel=channel)
    assert first_step(pending).status == S.APPROVED
    assert not [call for call in emu.calls if call.path.endswith("/approval")]
