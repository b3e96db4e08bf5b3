"""IT's Django admin: actions call services and are recorded as the signed-in admin."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.urls import reverse

from governance import services
from governance.models import AccessRequest, ApprovalPolicy, AuditEvent, Grant
from provisioning.models import LocalMembership


@pytest.fixture
def admin_client(client, it_admin):
    client.force_login(it_admin)
    return client


def submit(key="IT-7", **over):
    data = dict(
        jira_issue_key=key,
        requester="bob@example.com",
        application="wiki",
        role="editor",
        duration=timedelta(hours=6),
        reason="docs",
    )
    data.update(over)
    return services.submit_request(data=services.RequestInput(**data))[0]


def act(client, model, action, ids, **extra):
    url = reverse(f"admin:governance_{model}_changelist")
    return client.post(url, {"action": action, "_selected_action": [str(i) for i in ids], **extra})


def test_it_approves_as_the_signed_in_admin(admin_client, company, django_capture_on_commit_callbacks):
    request = submit()
    page = act(admin_client, "accessrequest", "approve_current_step", [request.pk])
    assert page.status_code == 200 and b"Approve the current step" in page.content  # asks first
    with django_capture_on_commit_callbacks(execute=True):
        act(admin_client, "accessrequest", "approve_current_step", [request.pk], confirm="yes", reason="ok")
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.FULFILLED
    step = request.steps.get()
    assert (step.decided_by, step.decided_by_user.username, step.channel) == (company.dana, "dana", "admin")
    event = AuditEvent.objects.get(request=request, action="step.approved")
    assert event.actor == "admin:dana" and event.data["override"] is True  # dana is not bob's manager
    assert LocalMembership.objects.filter(person=company.bob).count() == 2


def test_it_requires_a_reason_to_deny(admin_client, company):
    request = submit()
    page = act(admin_client, "accessrequest", "deny_current_step", [request.pk], confirm="yes", reason="")
    assert b"A reason is required" in page.content
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING_APPROVAL
    act(admin_client, "accessrequest", "deny_current_step", [request.pk], confirm="yes", reason="not needed")
    request.refresh_from_db()
    assert (request.status, request.status_reason) == (AccessRequest.Status.DENIED, "not needed")


def test_it_refuses_self_approval_in_the_admin(client, company):
    user = User.objects.create_superuser("bobadmin", "bob@example.com", "pw")
    company.bob.user = user
    company.bob.save(update_fields=["user"])
    client.force_login(user)
    request = submit()
    response = act(client, "accessrequest", "approve_current_step", [request.pk], confirm="yes", reason="me")
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING_APPROVAL
    messages = [str(m) for m in response.wsgi_request._messages]
    assert any("cannot decide a request they made" in m for m in messages)


def test_it_revokes_a_grant_now(admin_client, company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit()
        services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
    grant = Grant.objects.get(request=request)
    with django_capture_on_commit_callbacks(execute=True):
        act(admin_client, "grant", "revoke_now", [grant.pk], confirm="yes", reason="left the project")
    grant.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED and grant.end_reason == "left the project"
    assert grant.removed_at is not None
    assert not LocalMembership.objects.filter(person=company.bob).exists()


def test_it_shows_the_whole_story_on_one_page(admin_client, company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        request = submit()
        services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
    page = admin_client.get(reverse("admin:governance_accessrequest_change", args=[request.pk]))
    html = page.content.decode()
    assert page.status_code == 200
    for text in ("wiki-editors", "wiki-readers", "step.approved", "grant.active", "alice@example.com"):
        assert text in html
    assert 'name="status"' not in html  # status is not editable by hand


def test_it_versions_a_policy_on_each_save(admin_client, company):
    policy = company.default_policy
    url = reverse("admin:governance_approvalpolicy_change", args=[policy.pk])
    step = policy.steps.get()
    data = {
        "name": "Default (edited)",
        "risk_tier": "",
        "is_active": "on",
        "distinct_approvers": "by_risk",
        "fallback_approvers": [company.dana.pk],
        "steps-TOTAL_FORMS": "1",
        "steps-INITIAL_FORMS": "1",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-id": step.pk,
        "steps-0-policy": policy.pk,
        "steps-0-order": "1",
        "steps-0-kind": "app_owner",
    }
    response = admin_client.post(url, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    policy.refresh_from_db()
    assert (policy.version, policy.steps.get().kind) == (2, "app_owner")
    assert AuditEvent.objects.filter(action="policy.changed", data__version=2).exists()
    assert ApprovalPolicy.objects.count() == 1


def test_it_refuses_a_staff_member_who_is_not_the_approver(client, company):
    from django.contrib.auth.models import Permission

    user = User.objects.create_user("charlie", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_accessrequest", "decide_step"]))
    company.charlie.user = user
    company.charlie.save(update_fields=["user"])
    client.force_login(user)
    request = submit()
    response = act(client, "accessrequest", "approve_current_step", [request.pk], confirm="yes", reason="ok")
    request.refresh_from_db()
    assert request.status == AccessRequest.Status.PENDING_APPROVAL
    assert any("is not an approver" in str(m) for m in response.wsgi_request._messages)


def test_it_retries_a_failed_change_from_the_admin(admin_client, company, django_capture_on_commit_callbacks):
    from provisioning.models import MembershipChange

    change = MembershipChange.objects.create(
        action="add",
        person=company.bob,
        group=company.readers,
        status="failed",
        attempts=8,
        last_error="boom",
        next_attempt_at="2026-01-01T00:00:00Z",
    )
    with django_capture_on_commit_callbacks(execute=True):
        admin_client.post(
            reverse("admin:provisioning_membershipchange_changelist"),
            {"action": "retry_now", "_selected_action": [change.pk]},
        )
    change.refresh_from_db()
    assert (change.status, change.result) == ("succeeded", "added")
    assert LocalMembership.objects.filter(person=company.bob, group=company.readers).exists()


def test_it_marks_manual_fulfilment_done_from_the_admin(admin_client, company, django_capture_on_commit_callbacks):
    from provisioning.models import FulfilmentTask
    from tests import company as c

    erp = c.app("erp", owner=company.alice, mode="manual")
    c.role(erp, "clerk")
    request = services.submit_request(
        data=services.RequestInput(
            jira_issue_key="IT-8", requester="bob@example.com", application="erp", role="clerk", reason="month end"
        )
    )[0]
    services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
    task = FulfilmentTask.objects.get()
    admin_client.post(
        reverse("admin:provisioning_fulfilmenttask_changelist"), {"action": "mark_done", "_selected_action": [task.pk]}
    )
    task.refresh_from_db()
    request.refresh_from_db()
    assert task.status == "done" and task.done_by.username == "dana"
    assert request.status == AccessRequest.Status.FULFILLED and request.grant.status == Grant.Status.ACTIVE
