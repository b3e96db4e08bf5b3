"""The approver page behind a signed, expiring link."""

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.contrib.auth.models import User
from django.test import Client

from governance import services
from governance.models import AccessRequest
from governance.notifications.services import approval_link

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@pytest.fixture
def pending(company):
    request = services.submit_request(
        data=services.RequestInput(
            jira_issue_key="IT-5",
            requester="bob@example.com",
            application="wiki",
            role="editor",
            duration=timedelta(hours=6),
            reason="write the runbook",
        )
    )[0]
    step = services.current_step(request)
    return request, step


def path_of(url):
    return url.split("8000", 1)[1] if "8000" in url else url


def test_it_shows_the_request_and_context(client, company, pending):
    _, step = pending
    page = client.get(path_of(approval_link(step, company.alice)), follow=True)
    html = page.content.decode()
    assert page.status_code == 200
    for text in (
        "Bob Builder asks for Editor in Wiki",
        "write the runbook",
        "PT6H",
        "History with Wiki",
        "Approve",
        "Deny",
        "csrfmiddlewaretoken",
    ):
        assert text in html


def test_it_approves_from_the_link_with_csrf(company, pending, django_capture_on_commit_callbacks):
    request, step = pending
    url = path_of(approval_link(step, company.alice))
    strict = Client(enforce_csrf_checks=True)
    assert strict.post(url, {"decision": "approve"}).status_code == 403  # no CSRF token
    page = strict.get(url, follow=True)
    token = page.cookies["csrftoken"].value
    with django_capture_on_commit_callbacks(execute=True):
        response = strict.post(url, {"decision": "approve", "csrfmiddlewaretoken": token})
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.FULFILLED
    assert request.steps.get().channel == "link"
    reused = strict.get(url, follow=True)
    assert reused.status_code == 200 and "Already decided" in reused.content.decode()


def test_it_needs_a_reason_to_deny(client, company, pending):
    request, step = pending
    page = client.post(path_of(approval_link(step, company.alice)), {"decision": "deny", "comment": " "})
    assert page.status_code == 400 and "Say why you deny" in page.content.decode()
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING_APPROVAL


def test_it_refuses_a_tampered_link(client, company, pending):
    _, step = pending
    url = path_of(approval_link(step, company.alice))
    page = client.get(url[:-3] + ("xyz" if not url.endswith("xyz/") else "abc") + "/")
    assert page.status_code == 400 and "not valid" in page.content.decode()


def test_it_refuses_an_expired_link(client, company):
    with time_machine.travel(T0, tick=False):
        request = services.submit_request(
            data=services.RequestInput(
                jira_issue_key="IT-6",
                requester="bob@example.com",
                application="wiki",
                role="editor",
                duration=timedelta(hours=6),
                reason="x",
            )
        )[0]
        url = path_of(approval_link(services.current_step(request), company.alice))
    with time_machine.travel(T0 + timedelta(days=7, seconds=1), tick=False):
        page = client.get(url)
    assert page.status_code == 410 and "expired" in page.content.decode()


def test_it_refuses_the_link_to_someone_signed_in_as_another(client, company, pending):
    _, step = pending
    client.force_login(User.objects.create_user("charlie", password="pw"))
    page = client.post(path_of(approval_link(step, company.alice)), {"decision": "approve"})
    assert page.status_code == 403 and "sent to alice@example.com" in page.content.decode()


def test_it_refuses_a_link_for_someone_not_routed(client, company, pending):
    _, step = pending
    page = client.post(path_of(approval_link(step, company.charlie)), {"decision": "approve"})
    assert page.status_code == 403 and "no longer routed" in page.content.decode()


def test_it_refuses_a_link_that_would_be_self_approval(client, company, pending):
    request, step = pending
    step.approvers.add(company.bob)  # even if someone listed the requester by hand
    page = client.post(path_of(approval_link(step, company.bob)), {"decision": "approve"})
    assert page.status_code == 400 and "cannot decide a request they made" in page.content.decode()
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING_APPROVAL


def test_it_shows_memberships_found_in_the_provider(client, company, pending):
    from catalog.models import GroupMembership

    _, step = pending
    GroupMembership.objects.create(
        person=company.bob, group=company.readers, origin="external", since="2025-01-01T00:00:00Z"
    )
    html = client.get(path_of(approval_link(step, company.alice)), follow=True).content.decode()
    assert "wiki-readers" in html and "found in the provider" in html
