"""Decision channels come from one registry: the fields' choices and the words Jira comments use."""

from __future__ import annotations

import pytest

from governance import services
from governance.jira import adf
from governance.models import ApprovalDecision, ApprovalStep, AuditEvent
from governance.requests import channels
from tests.test_jira_writeback import approve, clock, run, submit, texts  # noqa: F401


def test_the_step_and_decision_fields_offer_the_registered_channels():
    expected = {"api", "admin", "link", "slack"}
    assert {name for name, _ in ApprovalStep._meta.get_field("channel").choices} == expected
    assert {name for name, _ in ApprovalDecision._meta.get_field("channel").choices} == expected


@pytest.mark.parametrize(
    "channel,words",
    [
        ("api", "the API (Jira Automation)"),
        ("admin", "the Gatehouse admin"),
        ("link", "an approval link"),
        ("slack", "Slack"),
    ],
)
def test_every_channel_has_its_words_in_jira(channel, words):
    assert channels.jira_label(channel) == words


def test_a_decision_by_link_is_named_in_the_jira_comment(company, jira_on, emu, clock, run):  # noqa: F811
    request = run(submit)
    run(
        services.decide_step,
        request=request,
        actor=services.Actor.of_person(company.alice),
        approve=True,
        channel=channels.LINK,
    )
    event = AuditEvent.objects.get(action="step.approved")
    assert "via an approval link" in adf.plain_text(adf.render_step_approved(event))
    assert any("approved by alice@example.com via an approval link" in text for text in texts(emu))


def test_an_unknown_channel_is_refused_before_anything_is_written(company):
    request = submit()
    with pytest.raises(ValueError, match="Unknown decision channel 'fax'"):
        services.decide_step(
            request=request, actor=services.Actor.of_person(company.alice), approve=True, channel="fax"
        )
    assert not ApprovalDecision.objects.exists()
