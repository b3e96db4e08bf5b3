"""Removing access that no grant explains (found in the provider)."""

from datetime import timedelta

import pytest

from catalog.models import GroupMembership
from governance import services
from governance.errors import Conflict
from governance.models import AuditEvent
from provisioning.models import LocalMembership, MembershipChange


def test_it_removes_standing_access_through_the_outbox(company, django_capture_on_commit_callbacks):
    LocalMembership.objects.create(person=company.charlie, group=company.readers)
    with django_capture_on_commit_callbacks(execute=True):
        change = services.remove_standing_membership(
            person=company.charlie, group=company.readers, actor=services.Actor.system("review"), reason="not needed"
        )
    change.refresh_from_db()
    assert (change.status, change.result) == ("succeeded", "removed")
    assert not LocalMembership.objects.filter(person=company.charlie).exists()
    assert AuditEvent.objects.filter(action="membership.standing_removal_queued", subject=company.charlie).exists()


def test_it_refuses_when_a_grant_explains_the_membership(company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = services.submit_request(
            data=services.RequestInput(
                jira_issue_key="IT-1",
                requester="bob@example.com",
                application="wiki",
                role="reader",
                duration=timedelta(hours=1),
                reason="x",
            )
        )[0]
        services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
    assert GroupMembership.objects.filter(person=company.bob, group=company.readers).exists()
    with pytest.raises(Conflict, match="revoke that grant instead"):
        services.remove_standing_membership(
            person=company.bob, group=company.readers, actor=services.Actor.system("review"), reason="x"
        )
    assert not MembershipChange.objects.filter(action="remove").exists()


def test_it_notifies_a_person_after_commit(company, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        services.notify_person(company.bob, subject="Hello", body="Your access ends soon.")
    assert [(m.to, m.subject) for m in mailoutbox] == [(["bob@example.com"], "Hello")]
