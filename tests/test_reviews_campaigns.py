"""Review campaigns: snapshot, recommendations, routing, execution, follow-through, evidence."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from catalog.models import GroupMembership
from governance import services
from governance.errors import Conflict, InvalidInput, NotAllowed
from governance.models import AuditEvent, Grant
from provisioning.models import LocalMembership
from reviews.campaigns import report as campaign_report
from reviews.campaigns import services as campaigns
from reviews.campaigns.accounts_import import ImportRejected, parse_account_list
from reviews.campaigns.recommend import Facts, recommend
from reviews.models import CampaignAppOverride, ReviewCampaign, ReviewItem
from tests import company as c

NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
ADMIN = services.Actor.system("test")


@pytest.fixture
def world(company, django_capture_on_commit_callbacks):
    """bob holds wiki/reader through IT-1 (approved by alice); charlie is in wiki-readers in the
    provider with no grant (drift); alice holds wiki/editor through IT-2 (approved by dana)."""
    with time_machine.travel(NOW - timedelta(days=30), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            bob_req = services.submit_request(
                data=services.RequestInput(
                    jira_issue_key="IT-1", requester="bob@example.com", application="wiki", role="reader", reason="docs"
                )
            )[0]
            services.decide_step(request=bob_req, actor=services.Actor.of_person(company.alice), approve=True)
        alice_req = services.submit_request(
            data=services.RequestInput(
                jira_issue_key="IT-2", requester="alice@example.com", application="wiki", role="editor", reason="edit"
            )
        )[0]
        with django_capture_on_commit_callbacks(execute=True):
            services.decide_step(request=alice_req, actor=services.Actor.of_person(company.dana), approve=True)
        LocalMembership.objects.create(person=company.charlie, group=company.readers)
        GroupMembership.objects.create(
            person=company.charlie, group=company.readers, origin=GroupMembership.Origin.EXTERNAL, since=timezone.now()
        )
    for p in (company.alice, company.bob, company.charlie, company.dana):
        p.last_login_at = NOW - timedelta(days=2)
        p.save()
    bob_grant = Grant.objects.get(person=company.bob)
    assert bob_grant.status == "active"
    return SimpleNamespace(**vars(company), bob_grant=bob_grant, alice_grant=Grant.objects.get(person=company.alice))


def make_campaign(w, *, strategy: str = "manager", apps=None, **extra) -> ReviewCampaign:
    campaign = ReviewCampaign.objects.create(
        name=extra.pop("name", "Q1 wiki review"),
        starts_at=NOW,
        due_at=NOW + timedelta(days=14),
        reviewer_strategy=strategy,
        fallback_reviewer=w.dana,
        **extra,
    )
    campaign.applications.set(apps or [w.wiki])
    return campaign


def launch(campaign: ReviewCampaign, uploads=None, capture=None) -> ReviewCampaign:
    with time_machine.travel(NOW, tick=False):
        return campaigns.launch_campaign(campaign=campaign, actor=ADMIN, uploads=uploads)


def item_of(campaign: ReviewCampaign, email: str, **filters) -> ReviewItem:
    return ReviewItem.objects.get(campaign=campaign, account_email=email, **filters)


def sign_in(client, person):
    user = get_user_model().objects.create_user(username=person.email.split("@")[0], password="pw-12345")
    person.user = user
    person.save(update_fields=["user"])
    client.force_login(user)
    return user


def to_csv(rows: list[list[str]]) -> bytes:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return out.getvalue().encode()


# --- Snapshot -----------------------------------------------------------------------------------


def test_it_snapshots_grants_and_provider_drift(world):
    campaign = launch(make_campaign(world))
    assert campaign.status == "active" and campaign.launched_at == NOW
    assert campaign.snapshot_size == 3
    assert "2 Gatehouse grants" in campaign.snapshot_source
    assert "1 provider memberships without a grant" in campaign.snapshot_source
    bob = item_of(campaign, "bob@example.com")
    assert (bob.source, bob.grant, bob.reviewer, bob.role) == (
        "gatehouse_grant",
        world.bob_grant,
        world.alice,
        world.reader,
    )
    assert bob.granted_via == "IT-1, approved by alice@example.com"
    assert bob.groups_label == "wiki-readers"
    charlie = item_of(campaign, "charlie@example.com")
    assert (charlie.source, charlie.group, charlie.grant) == ("provider_membership", world.readers, None)
    assert charlie.reviewer == world.dana and "no active" in charlie.routing_note  # charlie has no manager
    assert AuditEvent.objects.filter(action="review.campaign_launched").count() == 1


def test_it_launches_only_once(world):
    campaign = launch(make_campaign(world))
    with pytest.raises(Conflict, match="only a draft"):
        launch(campaign)


def test_it_uses_the_per_application_reviewer(world):
    campaign = make_campaign(world, strategy="manager")
    CampaignAppOverride.objects.create(
        campaign=campaign, application=world.wiki, reviewer_strategy="named", named_reviewer=world.charlie
    )
    launch(campaign)
    assert item_of(campaign, "bob@example.com").reviewer == world.charlie


def payroll(w):
    app = c.app("payroll", owner=w.dana, mode="manual")
    c.role(app, "user")
    c.role(app, "admin")
    return app


def test_it_imports_an_account_list_for_an_application_without_groups(world):
    app = payroll(world)
    campaign = make_campaign(world, apps=[world.wiki, app])
    content = to_csv(
        [
            ["Name", "Email", "Role", "Status", "Department", "Title", "Last login"],
            ["Bob Builder", "BOB@example.com", "user", "active", "", "", "2026-02-20"],
            ["Gone Person", "gone@example.com", "Admin", "", "Finance", "CFO", ""],
        ]
    )
    campaign = launch(campaign, uploads={app.pk: ("payroll.csv", content)})
    assert campaign.snapshot_size == 5
    bob = item_of(campaign, "bob@example.com", application=app)
    assert (bob.source, bob.role.slug, bob.person) == ("csv_import", "user", world.bob)
    assert bob.last_login_at == datetime(2026, 2, 20, tzinfo=UTC)
    gone = item_of(campaign, "gone@example.com")
    assert gone.person is None and gone.reviewer == world.dana
    assert gone.recommendation == "revoke" and "not in the directory" in gone.recommendation_reason
    assert "imported accounts (payroll.csv)" in campaign.snapshot_source


def test_it_reads_xlsx(world):
    import openpyxl

    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["name", "email", "role", "last_login"])
    sheet.append(["Bob Builder", "bob@example.com", "user", datetime(2026, 2, 1, 8, 0)])
    out = io.BytesIO()
    book.save(out)
    accounts = parse_account_list("p.xlsx", out.getvalue())
    assert [(a.email, a.role, a.last_login) for a in accounts] == [
        ("bob@example.com", "user", datetime(2026, 2, 1, 8, 0, tzinfo=UTC))
    ]


def test_it_rejects_a_malformed_file_row_by_row(world):
    app = payroll(world)
    campaign = make_campaign(world, apps=[world.wiki, app])
    content = to_csv(
        [
            ["name", "email", "role", "status", "last_login"],
            ["Ok Person", "ok@example.com", "user", "active", "2026-01-01"],
            ["Bad Mail", "not-an-email", "user", "", ""],
            ["Odd Status", "odd@example.com", "user", "on-leave", ""],
            ["No Role", "norole@example.com", "", "", ""],
            ["Bad Date", "date@example.com", "user", "", "yesterday"],
            ["Ok Again", "OK@example.com", "USER", "", ""],
        ]
    )
    with pytest.raises(ImportRejected) as caught:
        launch(campaign, uploads={app.pk: ("payroll.csv", content)})
    lines = [line for line, _ in caught.value.errors]
    assert lines == [3, 4, 5, 6, 7]
    reasons = dict(caught.value.errors)
    assert "not an email address" in reasons[3]
    assert "status 'on-leave'" in reasons[4]
    assert reasons[5] == "role is empty"
    assert "'yesterday' is not a date" in reasons[6]
    assert "duplicate of line 2" in reasons[7]
    campaign.refresh_from_db()
    assert campaign.status == "draft" and not ReviewItem.objects.exists()


def test_it_rejects_a_file_without_the_required_columns():
    with pytest.raises(ImportRejected, match="line 1: the header lacks the column"):
        parse_account_list("x.csv", b"name,mail\nA,a@example.com\n")
    with pytest.raises(ImportRejected, match="line 1: the file is empty"):
        parse_account_list("x.csv", b"")
    with pytest.raises(ImportRejected, match="not a readable XLSX"):
        parse_account_list("x.xlsx", b"not a zip")


def test_it_asks_for_the_missing_account_list(world):
    app = payroll(world)
    campaign = make_campaign(world, apps=[world.wiki, app])
    with pytest.raises(InvalidInput, match=r"Upload the account list .* of Payroll"):
        launch(campaign)
    assert not ReviewItem.objects.exists()


# --- Recommendations ----------------------------------------------------------------------------

FACTS = Facts(
    in_directory=True,
    status="active",
    last_login_at=NOW - timedelta(days=3),
    granted_through_gatehouse=True,
    department="Engineering",
    department_at_grant="Engineering",
)


@pytest.mark.parametrize(
    ("change", "expected"),
    [
        ({}, "Keep: active"),
        ({"status": "deprovisioned"}, "person is deprovisioned"),
        ({"status": "suspended"}, "person is suspended"),
        ({"in_directory": False}, "not in the directory"),
        ({"last_login_at": NOW - timedelta(days=91)}, "no login for 91 days (threshold 90)"),
        ({"last_login_at": None}, "last login unknown"),
        ({"granted_through_gatehouse": False}, "access never granted through Gatehouse"),
        ({"department": "Sales"}, "changed department since the grant (Engineering → Sales)"),
    ],
)
def test_each_recommendation_rule(change, expected):
    from dataclasses import replace

    verdict, reason = recommend(replace(FACTS, **change), now=NOW, inactivity_days=90)
    assert verdict == ("keep" if not change else "revoke")
    assert expected in reason


def test_it_recommends_from_directory_facts_at_launch(world):
    world.bob.status = "suspended"
    world.bob.save()
    world.alice.last_login_at = None
    world.alice.save()
    campaign = launch(make_campaign(world, inactivity_days=30))
    bob = item_of(campaign, "bob@example.com")
    assert bob.recommendation == "revoke" and "person is suspended" in bob.recommendation_reason
    alice = item_of(campaign, "alice@example.com")
    assert "last login unknown" in alice.recommendation_reason
    charlie = item_of(campaign, "charlie@example.com")
    assert "never granted through Gatehouse" in charlie.recommendation_reason


def test_it_recommends_keep_for_a_clean_grant(world):
    campaign = launch(make_campaign(world))
    bob = item_of(campaign, "bob@example.com")
    assert bob.recommendation == "keep", bob.recommendation_reason


def test_it_flags_a_department_change_since_the_grant(world):
    first = launch(make_campaign(world, name="Q1"))
    campaigns.close_campaign(campaign_id=first.pk)
    world.bob.department = "Sales"
    world.bob.save()
    second = launch(make_campaign(world, name="Q2"))
    bob = item_of(second, "bob@example.com")
    assert bob.department_at_grant == "Engineering"
    assert "changed department since the grant (Engineering → Sales)" in bob.recommendation_reason


def test_it_reads_the_department_recorded_with_the_request(world):
    AuditEvent.objects.create(
        action="request.submitted",
        actor="x",
        request=world.bob_grant.request,
        message="x",
        data={"department": "Support"},
    )
    campaign = launch(make_campaign(world))
    assert item_of(campaign, "bob@example.com").department_at_grant == "Support"


# --- Routing ------------------------------------------------------------------------------------


def test_it_routes_self_review_to_the_fallback_reviewer(world):
    campaign = launch(make_campaign(world, strategy="app_owner"))
    alice = item_of(campaign, "alice@example.com")
    assert alice.reviewer == world.dana
    assert alice.routing_note == "fallback reviewer: self-review is not allowed"
    assert item_of(campaign, "bob@example.com").reviewer == world.alice


def test_it_allows_self_review_when_the_campaign_says_so(world):
    campaign = launch(make_campaign(world, strategy="app_owner", allow_self_review=True))
    assert item_of(campaign, "alice@example.com").reviewer == world.alice


# --- Reviewer pages -----------------------------------------------------------------------------


def page_url(campaign, *rest):
    return f"/reviews/{campaign.pk}/" + "".join(f"{r}/" for r in rest)


def test_a_reviewer_sees_only_their_items(world, client):
    campaign = launch(make_campaign(world))
    sign_in(client, world.alice)
    body = client.get(page_url(campaign)).content.decode()
    assert "Bob Builder" in body and "IT-1, approved by alice@example.com" in body
    assert "Charlie Outsider" not in body
    assert "0 / 1" in body


def test_a_reviewer_gets_404_for_another_reviewers_item(world, client):
    campaign = launch(make_campaign(world))
    sign_in(client, world.alice)
    charlie = item_of(campaign, "charlie@example.com")  # dana's item
    response = client.post(page_url(campaign, "items", charlie.pk), {"decision": "revoke", "reason": "guess"})
    assert response.status_code == 404
    charlie.refresh_from_db()
    assert charlie.decision == "undecided"


def test_a_person_with_no_items_gets_404_for_the_campaign(world, client):
    campaign = launch(make_campaign(world))
    sign_in(client, world.charlie)
    assert client.get(page_url(campaign)).status_code == 404
    assert client.post(page_url(campaign, "submit")).status_code == 404
    assert client.post(page_url(campaign, "bulk"), {"action": "keep"}).status_code == 404
    assert not ReviewItem.objects.exclude(decision="undecided").exists()


def test_anonymous_visitors_are_sent_to_sign_in(world, client):
    campaign = launch(make_campaign(world))
    response = client.get(page_url(campaign))
    assert response.status_code == 302 and response["Location"].startswith("/accounts/login/?next=")
    assert client.get("/accounts/login/").status_code == 200


def test_revoke_needs_a_reason(world, client):
    campaign = launch(make_campaign(world))
    sign_in(client, world.alice)
    bob = item_of(campaign, "bob@example.com")
    response = client.post(page_url(campaign, "items", bob.pk), {"decision": "revoke", "reason": " "}, follow=True)
    assert "Say why the access should be revoked." in response.content.decode()
    bob.refresh_from_db()
    assert bob.decision == "undecided"


def test_forms_need_csrf(world):
    from django.test import Client

    campaign = launch(make_campaign(world))
    client = Client(enforce_csrf_checks=True)
    sign_in(client, world.alice)
    bob = item_of(campaign, "bob@example.com")
    assert client.post(page_url(campaign, "items", bob.pk), {"decision": "keep"}).status_code == 403
    assert 'name="csrfmiddlewaretoken"' in client.get(page_url(campaign)).content.decode()


def test_bulk_accept_applies_to_the_filtered_set(world, client):
    world.charlie.manager = world.dana
    world.charlie.save()
    world.alice.manager = world.dana
    world.alice.save()
    world.alice.last_login_at = None
    world.alice.save()
    campaign = launch(make_campaign(world))  # dana reviews alice (revoke: no login) and charlie (drift)
    sign_in(client, world.dana)
    response = client.post(page_url(campaign, "bulk"), {"action": "accept", "q": "charlie"})
    assert response.status_code == 302 and "q=charlie" in response["Location"]
    charlie, alice = item_of(campaign, "charlie@example.com"), item_of(campaign, "alice@example.com")
    assert (charlie.decision, charlie.decided_by) == ("revoke", world.dana)
    assert charlie.reason == charlie.recommendation_reason
    assert alice.decision == "undecided"
    client.post(page_url(campaign, "bulk"), {"action": "keep"})
    alice.refresh_from_db()
    charlie.refresh_from_db()
    assert (alice.decision, charlie.decision) == ("keep", "revoke")  # bulk never overrides a decision


def test_submit_needs_every_item_decided(world, client):
    campaign = launch(make_campaign(world))
    sign_in(client, world.alice)
    response = client.post(page_url(campaign, "submit"), follow=True)
    assert "1 item(s) are still undecided" in response.content.decode()
    assert not ReviewItem.objects.filter(submitted_at__isnull=False).exists()


def test_submitted_revoke_executes_and_marks_the_ticket(world, client, django_capture_on_commit_callbacks):
    campaign = launch(make_campaign(world))
    sign_in(client, world.alice)
    bob = item_of(campaign, "bob@example.com")
    client.post(page_url(campaign, "items", bob.pk), {"decision": "revoke", "reason": "moved teams"})
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(page_url(campaign, "submit"))
    assert response.status_code == 302
    bob.refresh_from_db()
    world.bob_grant.refresh_from_db()
    assert world.bob_grant.status == "revoked" and "moved teams" in world.bob_grant.end_reason
    assert not LocalMembership.objects.filter(person=world.bob, group=world.readers).exists()
    assert bob.submitted_at and bob.executed_at and bob.removal_confirmed_at
    assert bob.ticket_status == "to_resolve"
    opened = AuditEvent.objects.get(action="review.ticket_to_open")
    assert opened.data["item"] == bob.pk and "moved teams" in opened.data["description"]
    assert AuditEvent.objects.filter(action="review.ticket_to_resolve", data__item=bob.pk).exists()
    with pytest.raises(Conflict):
        campaigns.decide_item(campaign_id=campaign.pk, item_id=bob.pk, reviewer=world.alice, decision="keep")


def test_a_drift_revoke_removes_the_membership_through_the_outbox(world, django_capture_on_commit_callbacks):
    campaign = launch(make_campaign(world))
    charlie = item_of(campaign, "charlie@example.com")
    assert charlie.role == world.reader  # the role that maps to just this group
    campaigns.decide_item(
        campaign_id=campaign.pk, item_id=charlie.pk, reviewer=world.dana, decision="revoke", reason="unknown"
    )
    alice = item_of(campaign, "alice@example.com")  # routed to dana: alice has no manager
    campaigns.decide_item(campaign_id=campaign.pk, item_id=alice.pk, reviewer=world.dana, decision="keep")
    with django_capture_on_commit_callbacks(execute=True):
        campaigns.submit_review(campaign_id=campaign.pk, reviewer=world.dana)
    charlie.refresh_from_db()
    assert not LocalMembership.objects.filter(person=world.charlie).exists()
    assert not GroupMembership.objects.filter(person=world.charlie).exists()
    assert charlie.removal_confirmed_at is not None and charlie.ticket_status == "to_resolve"


def test_an_imported_account_revoke_waits_for_it_to_confirm(world, django_capture_on_commit_callbacks):
    app = payroll(world)
    campaign = make_campaign(world, apps=[app])
    launch(campaign, uploads={app.pk: ("p.csv", to_csv([["name", "email", "role"], ["G", "g@example.com", "user"]]))})
    item = item_of(campaign, "g@example.com")
    campaigns.decide_item(campaign_id=campaign.pk, item_id=item.pk, reviewer=world.dana, decision="revoke", reason="x")
    with django_capture_on_commit_callbacks(execute=True):
        campaigns.submit_review(campaign_id=campaign.pk, reviewer=world.dana)
    item.refresh_from_db()
    assert item.executed_at and item.removal_confirmed_at is None and item.ticket_status == "to_open"
    assert "manual removal" in item.execution_note
    campaigns.confirm_manual_removal(item=item, actor=ADMIN)
    item.refresh_from_db()
    assert item.removal_confirmed_at and item.ticket_status == "to_resolve"


# --- Follow-through -----------------------------------------------------------------------------


def test_undecided_items_are_revoked_at_the_due_date(world, django_capture_on_commit_callbacks):
    campaign = launch(make_campaign(world, undecided_action="revoke"))
    charlie = item_of(campaign, "charlie@example.com")
    campaigns.decide_item(campaign_id=campaign.pk, item_id=charlie.pk, reviewer=world.dana, decision="keep")
    with time_machine.travel(campaign.due_at - timedelta(minutes=1), tick=False):
        assert campaigns.close_due_campaigns() == 0
    with (
        time_machine.travel(campaign.due_at + timedelta(minutes=1), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert campaigns.close_due_campaigns() == 1
    campaign.refresh_from_db()
    assert campaign.status == "closed"
    bob = item_of(campaign, "bob@example.com")
    assert (bob.decision, bob.decided_by) == ("revoke", None) and "Undecided at the due date" in bob.reason
    world.bob_grant.refresh_from_db()
    assert world.bob_grant.status == "revoked" and bob.ticket_status == "to_resolve"
    charlie.refresh_from_db()
    assert charlie.decision == "keep" and charlie.submitted_at and not charlie.executed_at
    assert LocalMembership.objects.filter(person=world.charlie).exists()


def test_undecided_items_stay_when_the_rule_is_nothing(world):
    campaign = launch(make_campaign(world, undecided_action="nothing"))
    with time_machine.travel(campaign.due_at + timedelta(minutes=1), tick=False):
        campaigns.close_due_campaigns()
    world.bob_grant.refresh_from_db()
    assert world.bob_grant.status == "active"
    assert item_of(campaign, "bob@example.com").decision == "undecided"
    assert ReviewCampaign.objects.get(pk=campaign.pk).status == "closed"


def test_reminders_follow_the_schedule_and_carry_a_working_link(
    world, client, mailoutbox, django_capture_on_commit_callbacks
):
    campaign = launch(make_campaign(world, reminder_every_days=3))
    mailoutbox.clear()
    with time_machine.travel(NOW + timedelta(days=2), tick=False):
        assert campaigns.send_reminders() == 0
    with time_machine.travel(NOW + timedelta(days=3), tick=False):
        with django_capture_on_commit_callbacks(execute=True):
            assert campaigns.send_reminders() == 2  # alice and dana
        assert campaigns.send_reminders() == 0
    to_alice = next(m for m in mailoutbox if m.to == ["alice@example.com"])
    assert to_alice.subject.startswith("Access review: Q1 wiki review")
    link = next(word for word in to_alice.body.split() if "/reviews/link/" in word)
    path = link.split("127.0.0.1:8000")[-1]
    charlie = item_of(campaign, "charlie@example.com")
    with time_machine.travel(NOW + timedelta(days=3), tick=False):  # the session's expiry is on this clock
        response = client.get(path, follow=True)
        assert response.status_code == 200 and "Bob Builder" in response.content.decode()
        assert client.post(page_url(campaign, "items", charlie.pk), {"decision": "keep"}).status_code == 404


def test_an_expired_or_forged_link_is_refused(world, client):
    campaign = launch(make_campaign(world))
    link = campaigns.review_link(campaign, world.alice).split("127.0.0.1:8000")[-1]
    with time_machine.travel(timezone.now() + timedelta(days=60), tick=False):
        assert client.get(link).status_code == 410
    assert client.get(link[:-3] + "xyz/").status_code == 400
    assert client.get(page_url(campaign)).status_code == 302  # nothing was remembered


def test_pending_items_escalate_to_the_fallback_reviewer(world, mailoutbox, django_capture_on_commit_callbacks):
    campaign = launch(make_campaign(world, escalate_days_before_due=2))
    with time_machine.travel(campaign.due_at - timedelta(days=3), tick=False):
        assert campaigns.escalate_overdue() == 0
    with (
        time_machine.travel(campaign.due_at - timedelta(days=2), tick=False),
        django_capture_on_commit_callbacks(execute=True),
    ):
        assert campaigns.escalate_overdue() == 1
    bob = item_of(campaign, "bob@example.com")
    assert (bob.reviewer, bob.escalated_from) == (world.dana, world.alice)
    assert any(m.subject.startswith("Access review") and m.to == ["dana@example.com"] for m in mailoutbox)


# --- Evidence -----------------------------------------------------------------------------------


def test_the_report_holds_the_evidence(world, admin_client, django_capture_on_commit_callbacks):
    campaign = launch(make_campaign(world))
    bob = item_of(campaign, "bob@example.com")
    with time_machine.travel(NOW + timedelta(days=1), tick=False):
        campaigns.decide_item(
            campaign_id=campaign.pk, item_id=bob.pk, reviewer=world.alice, decision="revoke", reason="left the team"
        )
        with django_capture_on_commit_callbacks(execute=True):
            campaigns.submit_review(campaign_id=campaign.pk, reviewer=world.alice)
    ReviewItem.objects.filter(pk=bob.pk).update(ticket_key="ACC-7")
    response = admin_client.get(f"/admin/reviews/reviewcampaign/{campaign.pk}/report.csv")
    assert response.status_code == 200
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode())))
    header = {r[0]: r[1] for r in rows[:8]}
    assert header["snapshot_size"] == "3" and header["snapshot_at"] == NOW.isoformat()
    assert "Gatehouse grants" in header["population_source"]
    columns = rows[9]
    items = [dict(zip(columns, r, strict=True)) for r in rows[10:]]
    row = next(r for r in items if r["email"] == "bob@example.com")
    assert row["reviewer"] == "alice@example.com" and row["decided_by"] == "alice@example.com"
    assert row["decision"] == "revoke" and row["reason"] == "left the team"
    assert row["decided_at"] == (NOW + timedelta(days=1)).isoformat()
    assert row["recommendation"] == "keep" and row["recommendation_reason"].startswith("Keep")
    assert row["removal_executed_at"] and row["removal_confirmed_at"] and row["jira_key"] == "ACC-7"
    page = admin_client.get(f"/admin/reviews/reviewcampaign/{campaign.pk}/report/")
    assert page.status_code == 200 and "left the team" in page.content.decode()
    assert len(list(campaign_report.report_rows(campaign))) == 3


def test_the_admin_launch_shows_bad_rows(world, admin_client):
    app = payroll(world)
    campaign = make_campaign(world, apps=[app])
    upload = io.BytesIO(to_csv([["name", "email", "role"], ["A", "nope", "user"]]))
    upload.name = "p.csv"
    response = admin_client.post(f"/admin/reviews/reviewcampaign/{campaign.pk}/launch/", {f"upload_{app.pk}": upload})
    body = response.content.decode()
    assert response.status_code == 200 and "nothing was imported" in body and "not an email address" in body
    assert ReviewCampaign.objects.get(pk=campaign.pk).status == "draft"
    good = io.BytesIO(to_csv([["name", "email", "role"], ["A", "a@example.com", "user"]]))
    good.name = "p.csv"
    response = admin_client.post(f"/admin/reviews/reviewcampaign/{campaign.pk}/launch/", {f"upload_{app.pk}": good})
    assert response.status_code == 302
    assert ReviewCampaign.objects.get(pk=campaign.pk).snapshot_size == 1


# --- Query count --------------------------------------------------------------------------------


def test_the_reviewer_page_query_count_does_not_grow_with_items(world, client, django_assert_max_num_queries):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    sign_in(client, world.alice)

    def queries_for(n: int) -> int:
        for i in range(n):
            p = c.person(f"r{n}-{i}@example.com", manager=world.alice, department="Eng", title="Dev")
            GroupMembership.objects.create(person=p, group=world.readers, origin="external", since=NOW)
        campaign = launch(make_campaign(world, name=f"n{n}"))
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(page_url(campaign))
        assert response.status_code == 200
        return len(ctx.captured_queries)

    small, large = queries_for(2), queries_for(40)
    assert small == large
    assert large <= 12


def test_the_launch_query_count_does_not_grow_with_items_or_reviewers(world):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for(n: int) -> tuple[int, ReviewCampaign]:
        for i in range(n):
            manager = c.person(f"m{n}-{i}@example.com", department="Eng", last_login_at=NOW)
            holder = c.person(f"g{n}-{i}@example.com", manager=manager, department="Eng", last_login_at=NOW)
            Grant.objects.create(person=holder, role=world.editor, status="active", starts_at=NOW)
            drifter = c.person(f"d{n}-{i}@example.com", manager=manager)
            GroupMembership.objects.create(person=drifter, group=world.readers, origin="external", since=NOW)
        campaign = make_campaign(world, name=f"n{n}")
        with CaptureQueriesContext(connection) as ctx:
            campaign = launch(campaign)
        return len(ctx.captured_queries), campaign

    # (40 reviewers' messages are one INSERT on SQLite too, whose statements take at most 999 values.)
    (small, few), (large, many) = queries_for(2), queries_for(40)
    assert many.snapshot_size == few.snapshot_size + 2 * 40  # the second launch sees both rounds of people
    assert ReviewItem.objects.filter(campaign=many).values("reviewer").distinct().count() > 40
    assert small == large
    assert large <= 30


def test_a_decision_keeps_the_filter_it_was_made_under(world, client):
    campaign = launch(make_campaign(world))
    sign_in(client, world.alice)
    bob = item_of(campaign, "bob@example.com")
    response = client.post(
        page_url(campaign, "items", bob.pk), {"decision": "revoke", "reason": "gone", "state": "undecided", "q": "bo"}
    )
    assert response["Location"] == f"{page_url(campaign)}?state=undecided&q=bo#item-{bob.pk}"
    body = client.get(page_url(campaign) + "?state=undecided").content.decode()
    assert "No items match this filter." in body


def test_the_report_command_writes_csv(world, tmp_path):
    from django.core.management import CommandError, call_command

    campaign = launch(make_campaign(world))
    target = tmp_path / "report.csv"
    call_command("campaign_report", campaign.pk, output=str(target))
    text = target.read_text()
    assert "snapshot_size,3" in text and "bob@example.com" in text
    with pytest.raises(CommandError, match="No review campaign with id 999"):
        call_command("campaign_report", 999)


def test_the_home_page_lists_the_reviewers_campaigns(world, client):
    campaign = launch(make_campaign(world))
    sign_in(client, world.alice)
    body = client.get("/reviews/").content.decode()
    assert campaign.name in body and "0 / 1 decided" in body
    sign_in(client, world.charlie)
    assert "Nothing to review." in client.get("/reviews/").content.decode()


def test_the_csv_report_defuses_formulas(world, admin_client):
    app = payroll(world)
    campaign = make_campaign(world, apps=[app])
    rows = [["name", "email", "role"], ['=HYPERLINK("http://x")', "f@example.com", "user"]]
    launch(campaign, uploads={app.pk: ("p.csv", to_csv(rows))})
    response = admin_client.get(f"/admin/reviews/reviewcampaign/{campaign.pk}/report.csv")
    text = b"".join(response.streaming_content).decode()
    assert "'=HYPERLINK" in text and ",=HYPERLINK" not in text


def test_the_admin_pages_render(world, admin_client):
    draft = make_campaign(world, name="Draft one")
    active = launch(make_campaign(world, name="Active one"))
    base = "/admin/reviews/reviewcampaign/"
    listing = admin_client.get(base).content.decode()
    assert "Launch…" in listing and "0 / 3" in listing
    assert admin_client.get(f"{base}add/").status_code == 200
    assert admin_client.get(f"{base}{draft.pk}/change/").status_code == 200
    assert admin_client.get(f"{base}{active.pk}/change/").status_code == 200
    assert "no account list is needed" in admin_client.get(f"{base}{draft.pk}/launch/").content.decode()
    assert admin_client.get("/admin/reviews/reviewitem/").status_code == 200
    item = item_of(active, "bob@example.com")
    assert admin_client.get(f"/admin/reviews/reviewitem/{item.pk}/change/").status_code == 200


def test_a_revoke_opens_and_resolves_a_jira_issue(world, settings, django_capture_on_commit_callbacks):
    from governance.models import JiraUpdate
    from reviews.campaigns.tasks import sync_jira_tickets
    from tests.emulators.jira import JiraEmulator

    with JiraEmulator() as jira:
        jira.add_issue("IT-1")
        jira.add_issue("IT-2")
        settings.JIRA_ENABLED, settings.JIRA_BASE_URL = True, jira.base_url
        settings.JIRA_EMAIL, settings.JIRA_API_TOKEN = jira.email, jira.api_token
        settings.JIRA_TICKETS = {"PROJECT": "SEC", "ISSUE_TYPE": "Task", "RESOLVE_TRANSITION": "Done"}
        campaign = launch(make_campaign(world))
        bob = item_of(campaign, "bob@example.com")
        with time_machine.travel(NOW + timedelta(days=1), tick=False):
            campaigns.decide_item(
                campaign_id=campaign.pk, item_id=bob.pk, reviewer=world.alice, decision="revoke", reason="left the team"
            )
            with django_capture_on_commit_callbacks(execute=True):
                campaigns.submit_review(campaign_id=campaign.pk, reviewer=world.alice)
        created = JiraUpdate.objects.get(kind="create_issue")
        assert created.status == "sent" and created.issue_key.startswith("SEC-")
        with django_capture_on_commit_callbacks(execute=True):
            assert sync_jira_tickets() == 1
        bob.refresh_from_db()
        assert bob.ticket_key == created.issue_key and bob.ticket_status == "resolved"
        resolve = JiraUpdate.objects.get(kind="transition", issue_key=created.issue_key)
        assert resolve.payload["transition"] == "Done" and resolve.status == "sent", resolve.last_error


# --- Found in review: bad input and permissions ----------------------------------------------------


@pytest.mark.parametrize(
    "filename,content,reason",
    [
        ("big.csv", b"name,email,role\n" + b'"' + b"x" * 200_000 + b'",a@example.com,user\n', "not a readable CSV"),
        ("broken.xlsx", b"PK\x03\x04 not really a workbook", "not a readable XLSX"),
        (
            "long.csv",
            ("name,email,role\n" + "N" * 250 + ",long@example.com,user\n").encode(),
            "name is longer than 200",
        ),
    ],
)
def test_it_rejects_unreadable_or_oversized_uploads_readably(world, filename, content, reason):
    app = payroll(world)
    campaign = make_campaign(world, apps=[world.wiki, app])
    with pytest.raises(ImportRejected) as caught:
        launch(campaign, uploads={app.pk: (filename, content)})
    assert reason in caught.value.message
    assert not ReviewItem.objects.exists()


def test_a_damaged_sheet_inside_a_real_workbook_is_rejected(world):
    import zipfile

    import openpyxl

    app = payroll(world)
    campaign = make_campaign(world, apps=[world.wiki, app])
    book = openpyxl.Workbook()
    book.active.append(["name", "email", "role"])
    good = io.BytesIO()
    book.save(good)
    damaged = io.BytesIO()
    with zipfile.ZipFile(good) as source, zipfile.ZipFile(damaged, "w") as target:
        for entry in source.infolist():
            data = source.read(entry)
            target.writestr(entry, b"<worksheet><sheetData><row>" if "worksheets/sheet" in entry.filename else data)
    with pytest.raises(ImportRejected, match="not a readable XLSX"):
        launch(campaign, uploads={app.pk: ("damaged.xlsx", damaged.getvalue())})


def test_an_invalid_filter_shows_an_error_and_no_items(world, client):
    campaign = launch(make_campaign(world))
    sign_in(client, world.alice)
    page = client.get(page_url(campaign), {"app": "99999999999999999999999"})
    html = page.content.decode()
    assert page.status_code == 200 and "This filter cannot be applied" in html
    assert "bob@example.com" not in html


def test_the_fallback_reviewer_never_reviews_their_own_access(world):
    world.charlie.manager = None
    world.charlie.save()
    campaign = launch(_with_fallback(world))
    charlie = item_of(campaign, "charlie@example.com")
    assert charlie.reviewer_id == world.alice.pk  # the wiki's owner, not charlie himself
    ReviewItem.objects.filter(pk=charlie.pk).update(reviewer=world.charlie)  # e.g. reassigned by hand
    with pytest.raises(NotAllowed):
        campaigns.decide_item(campaign_id=campaign.pk, item_id=charlie.pk, reviewer=world.charlie, decision="keep")


def _with_fallback(world):
    campaign = make_campaign(world)
    campaign.fallback_reviewer = world.charlie
    campaign.save()
    return campaign


def test_a_launched_campaign_cannot_be_deleted_and_its_report_needs_permission(world, client, admin_client):
    from django.contrib.auth.models import Permission

    campaign = launch(make_campaign(world))
    response = admin_client.post(f"/admin/reviews/reviewcampaign/{campaign.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403 and ReviewCampaign.objects.filter(pk=campaign.pk).exists()
    staff = get_user_model().objects.create_user("staffer", password="pw-12345", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_accessrequest"))
    client.force_login(staff)
    assert client.get(f"/admin/reviews/reviewcampaign/{campaign.pk}/report.csv").status_code == 403
    assert client.get(f"/admin/reviews/reviewcampaign/{campaign.pk}/report/").status_code == 403


def test_the_report_command_says_when_it_cannot_write(world):
    from django.core.management import CommandError, call_command

    campaign = launch(make_campaign(world))
    with pytest.raises(CommandError, match="Cannot write the report"):
        call_command("campaign_report", str(campaign.pk), "-o", "/nonexistent-dir/report.csv")
