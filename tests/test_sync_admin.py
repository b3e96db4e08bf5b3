"""Admin for sync runs, the outbox, fulfilment tasks and drift findings (thin: actions call services)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from provisioning.models import FulfilmentTask, LocalMembership, MembershipChange, SyncRun
from provisioning.sync import sync_directory
from tests import company as c

pytestmark = pytest.mark.urls("tests.urls_drift")


def test_the_changelists_render(admin_client, company):
    sync_directory("local")
    for url in (
        "/admin/provisioning/syncrun/",
        f"/admin/provisioning/syncrun/{SyncRun.objects.get().pk}/change/",
        "/admin/provisioning/membershipchange/",
        "/admin/provisioning/fulfilmenttask/",
        "/admin/provisioning/localmembership/",
        "/admin/governance/driftfinding/",
    ):
        assert admin_client.get(url).status_code == 200, url


def test_retry_failed_change_requeues_and_runs_it(admin_client, company, django_capture_on_commit_callbacks):
    change = MembershipChange.objects.create(
        action="add",
        person=company.charlie,
        group=company.readers,
        status=MembershipChange.Status.FAILED,
        attempts=8,
        last_error="gave up",
        next_attempt_at=timezone.now() - timedelta(hours=1),
    )
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/provisioning/membershipchange/",
            {"action": "retry_failed", "_selected_action": [change.pk]},
            follow=True,
        )
    assert "1 change(s) queued again." in response.content.decode()
    change.refresh_from_db()
    assert (change.status, change.result) == ("succeeded", "added")
    assert LocalMembership.objects.filter(person=company.charlie, group=company.readers).exists()


def test_mark_done_completes_the_task_as_the_signed_in_user(
    admin_client, admin_user, company, django_capture_on_commit_callbacks
):
    from governance import services
    from governance.models import Grant

    laptop = c.app("laptop-admin", mode="manual")
    c.role(laptop, "admin")
    with django_capture_on_commit_callbacks(execute=True):
        req, _ = services.submit_request(
            data=services.RequestInput(
                jira_issue_key="IT-9",
                requester="bob@example.com",
                application="laptop-admin",
                role="admin",
                duration=timedelta(days=1),
                reason="install drivers",
            )
        )
        services.decide_step(request=req, actor=services.Actor.of_person(company.alice), approve=True)
    task = FulfilmentTask.objects.get()
    response = admin_client.post(
        "/admin/provisioning/fulfilmenttask/", {"action": "mark_done", "_selected_action": [task.pk]}, follow=True
    )
    assert "1 task(s) marked done." in response.content.decode()
    task.refresh_from_db()
    assert (task.status, task.done_by) == (FulfilmentTask.Status.DONE, admin_user)
    assert Grant.objects.get(request=req).status == Grant.Status.ACTIVE


def test_status_fields_are_read_only(admin_client, company):
    change = MembershipChange.objects.create(
        action="add", person=company.bob, group=company.readers, next_attempt_at=timezone.now()
    )
    page = admin_client.get(f"/admin/provisioning/membershipchange/{change.pk}/change/").content.decode()
    assert 'name="status"' not in page and 'name="person"' in page
