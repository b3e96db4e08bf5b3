"""The shared outbox engine (lib.outbox), through its users: batching, the sweep, priorities,
stable Message-IDs, the channel registry and the shared admin view."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import transaction
from django.urls import reverse
from django_q.models import Task
from django_q.signals import pre_enqueue

from governance import services
from governance.models import OutboundMessage
from governance.notifications import services as notifications
from governance.notifications.channels import CHANNELS, EmailChannel
from provisioning.models import MembershipChange
from provisioning.outbox import services as provisioning
from tests import company as c
from tests.emulators.smtp import SmtpEmulator

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
Sent = OutboundMessage.Status


@pytest.fixture
def smtp(settings):
    with SmtpEmulator() as server:
        settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
        settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", server.port
        settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
        settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
        settings.EMAIL_TIMEOUT = 5
        yield server


@pytest.fixture
def queued():
    """How many tasks were handed to the cluster, by function (django-q2's pre_enqueue signal)."""
    counts: Counter[str] = Counter()

    def count(sender, task, **kwargs) -> None:
        counts[task["func"]] += 1

    pre_enqueue.connect(count, dispatch_uid="test-outbox-queued")
    yield counts
    pre_enqueue.disconnect(dispatch_uid="test-outbox-queued")


def test_it_sends_many_messages_of_one_transaction_in_a_few_tasks(company, smtp, tasks, settings, queued):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "MESSAGE_BATCH_SIZE": 100}
    with tasks(), transaction.atomic():
        for number in range(250):
            services.notify_person(company.bob, subject=f"Warning {number}", body="Your access ends soon.")

    assert queued["governance.tasks.send_messages"] == 3
    assert not Task.objects.filter(func="governance.tasks.send_messages").exists()  # the rows are the record
    assert len(smtp.messages) == 250
    assert set(OutboundMessage.objects.values_list("status", flat=True)) == {Sent.SENT}
    assert set(smtp.by_message_id()) == set(OutboundMessage.objects.values_list("message_id", flat=True))


def test_it_keeps_the_message_id_across_retries(company, smtp, tasks):
    smtp.fail(1, 451)
    with time_machine.travel(T0, tick=False) as clock:
        with tasks():
            row = services.notify_person(company.bob, subject="Hello", body="Hi")
        row.refresh_from_db()
        assert (row.status, row.attempts) == (Sent.QUEUED, 1)
        assert row.last_error.startswith("The mail server answered 451")
        clock.move_to(row.next_attempt_at)
        with tasks():
            assert notifications.sweep_messages() == {"reclaimed": 0, "enqueued": 1}

    row.refresh_from_db()
    assert (row.status, row.attempts, row.result) == (Sent.SENT, 2, "sent")
    assert [m.message_id for m in smtp.messages] == [row.message_id]
    assert smtp.messages[0].recipients == ["bob@example.com"]


def test_it_fails_a_refused_message_for_good(company, smtp, tasks):
    smtp.fail(1, 550)
    with tasks():
        row = services.notify_person(company.bob, subject="Hello", body="Hi")
    row.refresh_from_db()
    assert (row.status, row.attempts) == (Sent.FAILED, 1)
    assert row.last_error.endswith("(permanent: not retried)")
    assert smtp.messages == []


def test_it_sends_no_approval_message_once_the_step_is_decided(company, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        request = c.submit("IT-7", application="wiki", role="reader", duration=None)
        c.decide(request, company.alice)
    [row] = OutboundMessage.objects.filter(kind="approval")
    notifications.send_messages([row.pk])
    row.refresh_from_db()
    assert (row.status, row.result) == (Sent.SENT, notifications.NOT_PENDING)
    assert mailoutbox == []


def test_a_decided_steps_message_that_may_have_gone_out_says_so(
    company, mailoutbox, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        request = c.submit("IT-8", application="wiki", role="reader", duration=None)
        c.decide(request, company.alice)
    [row] = OutboundMessage.objects.filter(kind="approval")
    OutboundMessage.objects.filter(pk=row.pk).update(maybe_applied=True)  # its worker died mid-send
    notifications.send_messages([row.pk])
    row.refresh_from_db()
    assert (row.status, row.result) == (Sent.SENT, notifications.NOT_PENDING_MAYBE_SENT)
    assert mailoutbox == []


def test_the_sweep_requeues_only_rows_no_pending_task_covers(company, django_capture_on_commit_callbacks, queued):
    with time_machine.travel(T0, tick=False) as clock:
        with django_capture_on_commit_callbacks(execute=False):
            changes = [
                provisioning.queue_change(action="add", person=company.bob, group=group)
                for group in (company.readers, company.editors)
            ]
        ids = [change.pk for change in changes]
        MembershipChange.objects.filter(pk__in=ids).update(enqueued_at=T0)  # a task is waiting in the broker
        assert provisioning.recover_changes() == {"reclaimed": 0, "enqueued": 0}  # covered: no flood
        clock.move_to(T0 + timedelta(seconds=provisioning.membership_outbox.policy().pending_seconds + 1))
        with django_capture_on_commit_callbacks(execute=True):
            assert provisioning.recover_changes() == {"reclaimed": 0, "enqueued": 2}  # that task was lost
    assert set(MembershipChange.objects.filter(pk__in=ids).values_list("status", "enqueued_at")) == {
        ("succeeded", None)
    }
    assert queued["provisioning.tasks.execute_membership_changes"] == 1  # one task per batch


def test_the_sweep_claims_revocations_before_grants(company, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        add = provisioning.queue_change(action="add", person=company.bob, group=company.readers)
        remove = provisioning.queue_change(action="remove", person=company.charlie, group=company.editors)
    assert remove.priority < add.priority
    due = provisioning.membership_outbox.model.objects.order_by("priority", "next_attempt_at", "id")
    assert list(due.values_list("id", flat=True)) == [remove.pk, add.pk]


def test_the_channel_registry_names_email_and_slack():
    from governance.slack.delivery import SlackChannel

    assert list(CHANNELS) == ["email", "slack"]
    assert CHANNELS["email"] is EmailChannel
    assert isinstance(CHANNELS["slack"](), SlackChannel)


@pytest.mark.parametrize(
    ("url_name", "make"),
    [
        ("admin:provisioning_membershipchange_changelist", "change"),
        ("admin:governance_jiraupdate_changelist", "jira"),
        ("admin:governance_outboundmessage_changelist", "message"),
    ],
)
def test_each_outbox_has_an_undelivered_view_with_the_same_retry(
    admin_client, company, url_name, make, django_capture_on_commit_callbacks
):
    from governance.models import JiraUpdate

    failed = {"status": "failed", "attempts": 3, "last_error": "boom", "next_attempt_at": T0}
    if make == "change":
        row = MembershipChange.objects.create(action="add", person=company.bob, group=company.readers, **failed)
    elif make == "jira":
        row = JiraUpdate.objects.create(kind="comment", issue_key="IT-1", payload={"body": {}}, **failed)
    else:
        row = OutboundMessage.objects.create(recipient="bob@example.com", subject="Hi", body="x", **failed)
    url = reverse(url_name)
    listed = admin_client.get(url, {"delivery": "undelivered"})
    assert listed.status_code == 200 and f"/{row.pk}/change/" in listed.content.decode()
    delivered = admin_client.get(url, {"delivery": "delivered"})
    assert f"/{row.pk}/change/" not in delivered.content.decode()
    with django_capture_on_commit_callbacks(execute=False):
        admin_client.post(url, {"action": "retry_now", "_selected_action": [row.pk]})
    row.refresh_from_db()
    assert (row.status, row.attempts) == ("queued", 0)
