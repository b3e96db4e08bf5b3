"""Jira write-back: what a person reads on the issue, the property, and the queue's guarantees.

Jira is the wire emulator in tests/emulators/jira.py, driven through our real client (requests)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine

from governance import services, tasks
from governance.errors import Conflict
from governance.jira import adf, queue, state
from governance.jira import services as jira
from governance.jira.client import JiraClient, JiraConfig, JiraPermanentError
from governance.models import AccessRequest, AuditEvent, Grant, JiraUpdate
from lib.http import parse_retry_after
from provisioning.models import LocalMembership
from tests import company as c

T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
U = JiraUpdate


@pytest.fixture
def clock():
    with time_machine.travel(T0, tick=False) as traveller:
        yield traveller


@pytest.fixture
def run(django_capture_on_commit_callbacks):
    """Run a block and then its on-commit work (tasks run inline in tests)."""

    class Runner:
        def __call__(self, func, *args, **kwargs):
            with django_capture_on_commit_callbacks(execute=True):
                return func(*args, **kwargs)

    return Runner()


def submit(key="IT-1", **over):
    data = dict(
        jira_issue_key=key,
        requester="bob@example.com",
        application="wiki",
        role="editor",
        duration=timedelta(hours=6),
        reason="docs sprint",
    )
    data.update(over)
    return services.submit_request(data=services.RequestInput(**data))[0]


def approve(req, who, comment=""):
    return services.decide_step(request=req, actor=services.Actor.of_person(who), approve=True, comment=comment)


def texts(emu, key="IT-1") -> list[str]:
    return [adf.plain_text(comment["body"]) for comment in emu.comments(key)]


def sweep_until_done(clock, rounds=20):
    for _ in range(rounds):
        if not U.objects.filter(status__in=U.OPEN).exists():
            return
        clock.shift(timedelta(hours=1, seconds=1))
        tasks.sweep_jira_updates()
    raise AssertionError("Jira updates still open: " + repr(list(U.objects.filter(status__in=U.OPEN))))


# -- what a person reads -------------------------------------------------------------------------


def test_it_comments_the_route_on_submission(company, jira_on, emu, clock, run):
    c.policy("Two steps", "manager", "app_owner", role=company.editor, fallback=[company.dana])
    company.bob.manager = company.charlie
    company.bob.save()
    run(submit)
    body = emu.comments("IT-1")[0]["body"]
    assert body["type"] == "doc" and body["version"] == 1
    assert [n["type"] for n in body["content"]] == ["paragraph", "paragraph", "paragraph", "paragraph", "bulletList"]
    assert body["content"][0]["content"][0]["marks"] == [{"type": "strong"}]
    assert texts(emu) == [
        "Access request received by Gatehouse.\n"
        "Bob Builder <bob@example.com> asks for Wiki — Editor for themselves, for 6 hours.\n"
        "Reason: docs sprint\n"
        "Approval route, by policy Two steps v1 (role Wiki / Editor), in this order:\n"
        "- Step 1 — Beneficiary's manager: charlie@example.com\n"
        "- Step 2 — Application owner: alice@example.com"
    ]


def test_it_tells_the_whole_story_of_a_granted_then_expired_request(company, jira_on, emu, clock, run):
    req = run(submit)
    clock.shift(timedelta(minutes=5))
    run(approve, req, company.alice, "ok for the sprint")
    assert texts(emu)[1:] == [
        "Step 1 of 1 approved by alice@example.com via the API (Jira Automation) at 2026-11-23 09:05 UTC.\n"
        "Comment: ok for the sprint",
        "Access is in place: Bob Builder <bob@example.com> now has Wiki — Editor\n"
        "Identity-provider groups:\n"
        "- wiki-editors in local: added\n"
        "- wiki-readers in local: added",
        "Expiry scheduled: this access ends at 2026-11-23 15:05 UTC; Gatehouse removes it from the identity "
        "provider then, with no action needed.",
    ]
    prop = emu.issues["IT-1"]["properties"]["gatehouse"]
    assert prop["status"] == "fulfilled"
    assert prop["steps"] == [
        {
            "order": 1,
            "kind": "manager",
            "status": "approved",
            "approvers": ["alice@example.com"],
            "decided_by": "alice@example.com",
            "decided_at": "2026-11-23T09:05:00+00:00",
            "channel": "api",
            "comment": "ok for the sprint",
        }
    ]
    assert prop["grant"]["status"] == "active"
    assert prop["grant"]["expires_at"] == "2026-11-23T15:05:00+00:00"
    assert {(g["group"], g["provider"], g["result"]) for g in prop["groups"]} == {
        ("wiki-editors", "local", "added"),
        ("wiki-readers", "local", "added"),
    }
    assert state.property_size(prop) <= state.PROPERTY_MAX_BYTES

    clock.shift(timedelta(hours=6, seconds=1))
    run(services.expire_due_grants)
    assert texts(emu)[4:] == [
        "Access expired at 2026-11-23 15:05 UTC (scheduled end 2026-11-23 15:05 UTC).\n"
        "Gatehouse is removing bob@example.com from the groups this request gave.",
        "Removal confirmed at 2026-11-23 15:05 UTC: the access of this request has ended.\n"
        "- wiki-editors in local: removed\n"
        "- wiki-readers in local: removed",
    ]
    assert emu.issues["IT-1"]["properties"]["gatehouse"]["grant"]["status"] == "expired"


def test_it_comments_a_denial_once(company, jira_on, emu, clock, run):
    req = run(submit)
    run(services.decide_step, request=req, actor=services.Actor.of_person(company.alice), approve=False, comment="no")
    assert texts(emu)[1:] == [
        "Denied at step 1 by alice@example.com via the API (Jira Automation) at 2026-11-23 09:00 UTC.\n"
        "Comment: no\n"
        "The request is closed; no access will be granted."
    ]
    assert emu.issues["IT-1"]["properties"]["gatehouse"]["status"] == "denied"


def test_it_comments_a_cancellation(company, jira_on, emu, clock, run):
    req = run(submit)
    run(services.cancel_request, request=req, actor=services.Actor.of_person(company.bob), reason="not needed")
    assert texts(emu)[1:] == [
        "Request cancelled by bob@example.com at 2026-11-23 09:00 UTC.\nReason: not needed\nNo access was granted."
    ]


def test_it_comments_a_revocation(company, jira_on, emu, clock, run):
    req = run(submit)
    run(approve, req, company.alice)
    run(services.revoke_grant, grant=req.grant, actor=services.Actor.of_person(company.alice), reason="left team")
    assert texts(emu)[4] == (
        "Access revoked by alice@example.com at 2026-11-23 09:00 UTC.\n"
        "Reason: left team\n"
        "Gatehouse is removing bob@example.com from the groups this request gave."
    )
    assert emu.issues["IT-1"]["properties"]["gatehouse"]["grant"]["status"] == "revoked"


def test_it_tells_it_what_to_do_when_provisioning_fails(company, jira_on, emu, clock, run):
    crm = c.app("crm", owner=company.alice)
    c.role(crm, "admin", c.group("crm-admins", connector="nowhere"))
    req = run(submit, application="crm", role="admin", duration=None)
    run(approve, req, company.alice)
    req.refresh_from_db()
    assert req.status == AccessRequest.Status.FAILED
    assert not any(t.startswith("Removal confirmed") for t in texts(emu))
    failed = texts(emu)[-1]
    assert failed.startswith("Provisioning failed: Adding bob@example.com to crm-admins failed: No connector named")
    assert "What IT should do: read the error above" in failed


def test_it_explains_a_routing_failure(company, jira_on, emu, clock, run):
    vault = c.app("vault", owner=None)
    c.role(vault, "reader", c.group("vault-readers"))
    c.policy("Nobody", "named", application=vault, named=[])
    company.default_policy.fallback_approvers.clear()  # no IT approvers either
    run(submit, application="vault", role="reader", duration=None)
    assert texts(emu)[-1].startswith("Gatehouse could not route this request: Step 1 (Named people (any one))")
    assert "Nothing was granted.\nWhat IT should do: check the approval policy for Vault — Reader" in texts(emu)[-1]


# -- the queue's guarantees ----------------------------------------------------------------------


def test_it_coalesces_property_updates(company, jira_on, emu, clock, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False):
        submit()  # request.submitted and step.pending: two events
    assert U.objects.filter(kind=U.Kind.PROPERTY).count() == 1
    assert U.objects.get(kind=U.Kind.PROPERTY).payload["event"] == "step.pending"
    assert U.objects.filter(kind=U.Kind.COMMENT).count() == 1


def test_it_posts_a_comment_once_when_the_task_runs_twice(company, jira_on, emu, clock, run):
    run(submit)
    update = U.objects.get(kind=U.Kind.COMMENT)
    assert update.status == U.Status.SENT and update.result["comment_id"] == emu.comments("IT-1")[0]["id"]
    assert tasks.send_jira_update(update.pk) == "not due or already taken"
    run(tasks.sweep_jira_updates)
    assert len(emu.comments("IT-1")) == 1
    assert len(emu.calls_to("POST", r"/comment$")) == 1


def test_it_posts_once_when_jira_accepted_but_the_answer_was_lost(company, jira_on, emu, clock, run):
    emu.accept_then_fail_left = 1  # Jira stores the comment, then answers 504
    run(submit)
    update = U.objects.get(kind=U.Kind.COMMENT)
    assert update.status == U.Status.QUEUED and "504" in update.last_error
    clock.shift(timedelta(minutes=1))
    run(tasks.sweep_jira_updates)
    update.refresh_from_db()
    assert update.status == U.Status.SENT and update.result["found_existing"] is True
    assert len(emu.comments("IT-1")) == 1
    assert len(emu.calls_to("POST", r"/comment$")) == 1
    assert emu.calls_to("GET", r"/comment$")[0].query["expand"] == ["properties"]


def test_it_posts_once_after_a_worker_crashed_after_the_post(
    company, jira_on, emu, clock, run, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False):
        submit()
    update = U.objects.get(kind=U.Kind.COMMENT)
    # What the crashed worker did: claim the row, and POST the comment, which Jira accepted.
    U.objects.filter(pk=update.pk).update(status=U.Status.SENDING, claimed_at=T0, attempts=1)
    with JiraClient(jira.jira_config()) as client:
        client.add_comment("IT-1", update.payload["body"], properties={"gatehouse": {"update": update.pk}})
    run(tasks.sweep_jira_updates)  # within the lease: left alone
    assert U.objects.get(pk=update.pk).status == U.Status.SENDING
    clock.shift(timedelta(minutes=6))
    run(tasks.sweep_jira_updates)
    update.refresh_from_db()
    assert update.status == U.Status.SENT and update.result["found_existing"] is True
    assert len(emu.comments("IT-1")) == 1
    assert len(emu.calls_to("POST", r"/comment$")) == 1  # only the crashed worker's


def test_it_delays_comments_but_never_provisioning_while_jira_is_down(company, jira_on, emu, clock, run):
    emu.fail(10_000, status=503)
    req = run(submit)
    run(approve, req, company.alice)
    req.refresh_from_db()
    assert req.status == AccessRequest.Status.FULFILLED
    assert req.grant.status == Grant.Status.ACTIVE
    assert LocalMembership.objects.filter(person=company.bob).count() == 2
    assert emu.comments("IT-1") == []
    assert all(u.status == U.Status.QUEUED for u in U.objects.all())
    assert "503" in U.objects.filter(kind=U.Kind.COMMENT).first().last_error

    emu.fail(0)
    sweep_until_done(clock)
    assert [t.split("\n")[0] for t in texts(emu)] == [
        "Access request received by Gatehouse.",
        "Step 1 of 1 approved by alice@example.com via the API (Jira Automation) at 2026-11-23 09:00 UTC.",
        "Access is in place: Bob Builder <bob@example.com> now has Wiki — Editor",
        "Expiry scheduled: this access ends at 2026-11-23 15:00 UTC; Gatehouse removes it from the identity "
        "provider then, with no action needed.",
    ]
    assert set(U.objects.values_list("status", flat=True)) == {U.Status.SENT}
    assert emu.issues["IT-1"]["properties"]["gatehouse"]["status"] == "fulfilled"


def test_it_honours_retry_after_on_429(company, jira_on, emu, clock, run):
    emu.retry_after = 120
    emu.throttle(1)
    run(submit)
    update = U.objects.get(kind=U.Kind.COMMENT)
    assert update.status == U.Status.QUEUED and "429" in update.last_error
    assert update.next_attempt_at == T0 + timedelta(seconds=120)
    clock.shift(timedelta(seconds=60))
    run(tasks.sweep_jira_updates)
    assert emu.comments("IT-1") == []
    clock.shift(timedelta(seconds=61))
    run(tasks.sweep_jira_updates)
    assert len(emu.comments("IT-1")) == 1


def test_it_reads_the_wait_from_x_ratelimit_reset_too():
    assert parse_retry_after({"X-RateLimit-Reset": "2026-11-23T09:00:45.000Z"}, now=T0) == 45
    assert parse_retry_after({"Retry-After": "7", "X-RateLimit-Reset": "2026-11-23T09:00:45Z"}, now=T0) == 7
    assert parse_retry_after({}, now=T0) is None


def test_it_performs_the_configured_transitions(company, jira_on, emu, clock, run):
    jira_on.JIRA_TRANSITIONS = {"approved": "Approved", "fulfilled": "Done"}
    req = run(submit)
    run(approve, req, company.alice)
    assert emu.issues["IT-1"]["status"] == "Done"
    assert [c.json()["transition"]["id"] for c in emu.calls_to("POST", r"/transitions$")] == ["11", "22"]


def test_it_survives_a_missing_transition(company, jira_on, emu, clock, run):
    jira_on.JIRA_TRANSITIONS = {"fulfilled": "Done"}
    emu.add_issue("IT-1", transitions=["Approved"])
    req = run(submit)
    run(approve, req, company.alice)
    req.refresh_from_db()
    assert req.status == AccessRequest.Status.FULFILLED
    update = U.objects.get(kind=U.Kind.TRANSITION)
    assert update.status == U.Status.FAILED
    assert "offers no transition named 'Done' (offered: Approved)" in update.last_error
    event = AuditEvent.objects.get(action="jira.transition_missing")
    assert event.request == req and event.data["available"] == ["Approved"]
    assert len(emu.comments("IT-1")) == 4  # the comments went out regardless


def test_it_queues_nothing_when_jira_is_not_configured(company, settings, emu, run):
    settings.JIRA_ENABLED = False
    settings.JIRA_BASE_URL = emu.base_url
    req = run(submit)
    run(approve, req, company.alice)
    req.refresh_from_db()
    assert req.status == AccessRequest.Status.FULFILLED
    assert U.objects.count() == 0 and emu.calls == []


def test_it_queues_nothing_for_a_request_without_a_jira_issue(company, jira_on, emu, run):
    req = run(submit, key=None)
    run(approve, req, company.alice)
    assert U.objects.count() == 0 and emu.calls == []


def test_it_fails_permanently_for_an_unknown_issue_and_it_can_retry_it(company, jira_on, emu, clock, run):
    run(submit, key="IT-404")
    update = U.objects.get(kind=U.Kind.COMMENT)
    assert update.status == U.Status.FAILED
    assert update.last_error == (
        "Jira answered 404 to POST /rest/api/3/issue/IT-404/comment: Issue does not exist or you do not have "
        "permission to see it. (permanent: not retried)"
    )
    emu.add_issue("IT-404")
    run(jira.retry_update, update=update)
    update.refresh_from_db()
    assert update.status == U.Status.SENT and len(emu.comments("IT-404")) == 1


def test_it_creates_issues(company, jira_on, emu, run):
    description = adf.doc(adf.paragraph("Remove ", adf.strong("bob"), " from ", adf.link("wiki", "https://x.test")))
    update = run(queue.queue_issue_creation, project_key="ITREV", summary="Revoke bob", description=description)
    update.refresh_from_db()
    assert update.status == U.Status.SENT and update.issue_key == "ITREV-1" == update.result["key"]
    issue = emu.issues["ITREV-1"]
    assert issue["fields"]["description"] == description
    assert issue["properties"]["gatehouse"]["update"] == update.pk


# -- the client and the emulator's wire contract -------------------------------------------------


@pytest.fixture
def client(emu):
    with JiraClient(JiraConfig(emu.base_url, emu.email, emu.api_token, timeout=2)) as jira_client:
        yield jira_client


def test_it_refuses_invalid_adf_readably(client):
    with pytest.raises(JiraPermanentError, match=r"400 .*comment: Comment body is not valid ADF: text nodes need"):
        client.add_comment("IT-1", {"type": "doc", "version": 1, "content": [{"type": "paragraph", "content": [
            {"type": "text", "text": ""}]}]})  # fmt: skip
    with pytest.raises(JiraPermanentError, match="the root must be"):
        client.add_comment("IT-1", {"type": "paragraph", "content": []})


def test_it_reports_bad_credentials_as_permanent(emu):
    config = JiraConfig(emu.base_url, emu.email, "wrong", timeout=2)
    with JiraClient(config) as bad, pytest.raises(JiraPermanentError, match=r"401 .*not authenticated") as raised:
        bad.list_transitions("IT-1")
    assert raised.value.status == 401 and not raised.value.retryable


def test_it_sets_issue_properties_created_then_updated_within_32kb(client, emu):
    assert client.set_issue_property("IT-1", "gatehouse", {"status": "pending_approval"}) is True
    assert client.set_issue_property("IT-1", "gatehouse", {"status": "approved"}) is False
    assert client.get_issue_property("IT-1", "gatehouse") == {"status": "approved"}
    with pytest.raises(JiraPermanentError, match="too long"):
        client.set_issue_property("IT-1", "gatehouse", {"x": "y" * 33000})


def test_it_pages_through_comments_with_properties(client, emu):
    for n in range(5):
        client.add_comment("IT-1", adf.doc(adf.paragraph(f"c{n}")), properties={"gatehouse": {"update": n}})
    comments = client.list_comments("IT-1", page_size=2)
    assert [c["properties"][0]["value"]["update"] for c in comments] == [0, 1, 2, 3, 4]
    assert len(emu.calls_to("GET", r"/comment$")) == 3


def test_it_keeps_the_property_under_32kb(company, jira_on, emu, run):
    req = run(submit)
    step = req.steps.get()
    step.comment = "x" * 100_000
    step.save()
    value = state.issue_property(req)
    assert state.property_size(value) <= state.PROPERTY_MAX_BYTES
    assert len(value["steps"][0]["comment"]) == 500


def test_it_sends_a_waiting_update_now_and_refuses_a_sent_one(company, jira_on, emu, clock, run):
    emu.fail(1)
    run(submit)
    update = U.objects.get(kind=U.Kind.COMMENT)
    assert update.status == U.Status.QUEUED and update.next_attempt_at > T0
    run(jira.retry_update, update=update)
    update.refresh_from_db()
    assert update.status == U.Status.SENT and len(emu.comments("IT-1")) == 1
    with pytest.raises(Conflict, match="this one is sent"):
        jira.retry_update(update=update)


def test_the_admin_action_retries_through_the_service(company, jira_on, emu, clock, run, rf, admin_user):
    from django.contrib import admin as django_admin
    from django.contrib.messages.storage.fallback import FallbackStorage

    from governance.jira.admin import JiraUpdateAdmin

    run(submit, key="IT-404")
    update = U.objects.get(kind=U.Kind.COMMENT)
    assert update.status == U.Status.FAILED
    emu.add_issue("IT-404")
    model_admin = JiraUpdateAdmin(U, django_admin.site)
    request = rf.post("/admin/governance/jiraupdate/")
    request.user = admin_user
    request.session = {}
    request._messages = FallbackStorage(request)
    run(model_admin.retry_now, request, U.objects.filter(pk=update.pk))
    update.refresh_from_db()
    assert update.status == U.Status.SENT and len(emu.comments("IT-404")) == 1


def test_it_tells_it_about_manual_fulfilment(company, jira_on, emu, clock, run, admin_user):
    from provisioning.outbox import services as provisioning

    hr = c.app("hr", owner=company.alice, mode="manual")
    c.role(hr, "viewer")
    req = run(submit, application="hr", role="viewer", duration=None)
    run(approve, req, company.alice)
    assert texts(emu)[-1] == (
        "Manual step for IT: Give Bob Builder <bob@example.com> the role “Viewer” in Hr, then mark this task done.\n"
        "Mark the task done in the Gatehouse admin (Provisioning → fulfilment tasks) when it is done."
    )
    task = req.grant.fulfilment_tasks.get()
    run(provisioning.complete_fulfilment_task, task=task, user=admin_user, note="done in the HR system")
    assert texts(emu)[-1] == (
        "Access is in place: Bob Builder <bob@example.com> now has Hr — Viewer\n"
        "Fulfilled by hand by admin at 2026-11-23 09:00 UTC. Note: done in the HR system\n"
        "It has no end date."
    )


def test_it_writes_extensions_and_warnings_on_the_issue(company, jira_on, emu, clock, run):
    from governance.grants.expiry import send_expiry_warnings

    run(submit, duration=timedelta(days=7))
    request = AccessRequest.objects.get(jira_issue_key="IT-1")
    run(c.decide, request, company.alice)
    grant = Grant.objects.get(request=request)
    run(
        services.extend_grant,
        grant=grant,
        actor=services.Actor.of_person(company.bob),
        added=timedelta(days=1),
        reason="release slipped",
    )
    grant.refresh_from_db()
    clock.move_to(grant.expires_at - timedelta(hours=1))
    run(send_expiry_warnings)
    said = texts(emu)
    assert any(t.startswith("Access extended") and "extended by P1D" in t for t in said)
    assert any(t.startswith("Access ends soon") and "/extend/" in t for t in said)


def test_it_posts_once_when_it_failed_for_good_after_jira_accepted_and_it_retried(
    company, jira_on, emu, clock, run, settings
):
    settings.JIRA = {**settings.JIRA, "MAX_ATTEMPTS": 1}  # the lost answer is the last attempt
    emu.accept_then_fail_left = 1
    run(submit)
    update = U.objects.get(kind=U.Kind.COMMENT)
    assert update.status == U.Status.FAILED
    run(jira.retry_update, update=update)  # IT's "retry now" starts the attempts afresh
    update.refresh_from_db()
    assert update.status == U.Status.SENT and update.result["found_existing"] is True
    assert len(emu.comments("IT-1")) == 1


def test_a_429_closes_the_shared_jira_budget_until_its_retry_after(company, jira_on, emu, clock, run):
    from provisioning.models import RateBucket

    emu.retry_after = 120
    emu.throttle(1)
    run(submit)
    sent_while_throttled = len(emu.calls)
    updates = list(U.objects.filter(status__in=U.OPEN))
    bucket = RateBucket.objects.get(key="jira:rest")

    # The throttled update and every update after it in the batch wait for the window, uncounted.
    assert len(updates) >= 2 and {(u.status, u.attempts) for u in updates} == {(U.Status.QUEUED, 0)}
    assert (bucket.remaining, bucket.reset_at) == (0, (T0 + timedelta(seconds=120)).timestamp())
    assert sent_while_throttled == 1
    clock.shift(timedelta(seconds=121))
    sweep_until_done(clock)
    assert len(emu.comments("IT-1")) == 1
