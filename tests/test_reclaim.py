"""Auto Reclaim: unused access is warned, given a grace period, then removed — with evidence."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from catalog.models import AppActivity, GroupMembership, Person
from governance import services
from governance.models import AuditEvent, Grant, JiraUpdate, OutboundMessage
from provisioning.models import LocalMembership, MembershipChange
from reviews.models import ReclaimCase, ReclaimPolicy
from reviews.reclaim.services import apply_policy_change, run_reclaim
from tests import company as c

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
DAY = timedelta(days=1)
Outcome = ReclaimCase.Outcome


@pytest.fixture
def wiki_policy(company):
    return ReclaimPolicy.objects.create(
        application=company.wiki, threshold_days=90, grace_days=14, mode=ReclaimPolicy.Mode.ENFORCE
    )


def grant_reader(company, person, key: str, oncommit) -> Grant:
    """bob's manager alice approves; others fall back to dana (IT)."""
    with oncommit(execute=True):
        request = services.submit_request(
            data=services.RequestInput(
                jira_issue_key=key,
                requester=person.email,
                application="wiki",
                role="reader",
                reason="reading",
            )
        )[0]
        approver = person.manager or company.dana
        services.decide_step(request=request, actor=services.Actor.of_person(approver), approve=True)
    grant = request.grant
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE
    return grant


def drift(person: Person, group) -> None:
    """Access found in the provider that no grant explains."""
    LocalMembership.objects.create(person=person, group=group)
    GroupMembership.objects.create(person=person, group=group, origin="external", since=T0 - 400 * DAY)


def last_login(person: Person, when: datetime | None) -> None:
    person.last_login_at = when
    person.save(update_fields=["last_login_at"])


def sweep(oncommit, at: datetime, **kwargs):
    with time_machine.travel(at, tick=False), oncommit(execute=True):
        return run_reclaim(**kwargs)


@pytest.mark.parametrize(("idle_days", "opened"), [(89, False), (90, True), (91, True)])
def test_it_opens_a_case_from_the_threshold_day_on(
    company, wiki_policy, mailoutbox, django_capture_on_commit_callbacks, idle_days, opened
):
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - idle_days * DAY)
    mailoutbox.clear()
    summary = sweep(django_capture_on_commit_callbacks, T0)
    assert ReclaimCase.objects.filter(grant=grant).exists() is opened
    assert summary.apps[0].warned == int(opened)
    assert len(mailoutbox) == int(opened)


def test_it_warns_then_removes_after_the_grace_period(
    company, wiki_policy, mailoutbox, django_capture_on_commit_callbacks
):
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - 100 * DAY)
    mailoutbox.clear()
    sweep(django_capture_on_commit_callbacks, T0)
    case = ReclaimCase.objects.get(grant=grant)
    assert (case.status, case.warned_at, case.revoke_after) == ("warned", T0, T0 + 14 * DAY)
    assert [m.to for m in mailoutbox] == [["bob@example.com"]]
    assert "Wiki" in mailoutbox[0].subject and "2026-03-16" in mailoutbox[0].body
    warned = AuditEvent.objects.get(action="reclaim.warned")
    assert (warned.grant, warned.request.jira_issue_key, warned.subject) == (grant, "IT-1", company.bob)
    assert case.ticket_status == ""  # the grant's own Jira issue carries the comment

    sweep(django_capture_on_commit_callbacks, T0 + 14 * DAY - timedelta(seconds=1))
    assert LocalMembership.objects.filter(person=company.bob).exists()

    summary = sweep(django_capture_on_commit_callbacks, T0 + 14 * DAY)
    assert summary.apps[0].removed == 1
    grant.refresh_from_db()
    case.refresh_from_db()
    assert grant.status == Grant.Status.REVOKED and grant.removed_at is not None
    assert not LocalMembership.objects.filter(person=company.bob).exists()
    assert (case.status, case.outcome, case.removal_detail) == ("closed", "reclaimed", f"grant #{grant.pk} revoked")
    events = AuditEvent.objects.filter(grant=grant, action__startswith="reclaim.")
    history = list(events.values_list("action", flat=True))
    assert history == ["reclaim.warned", "reclaim.removal_requested", "reclaim.reclaimed"]


def test_activity_during_grace_closes_the_case(company, wiki_policy, django_capture_on_commit_callbacks):
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - 100 * DAY)
    sweep(django_capture_on_commit_callbacks, T0)
    last_login(company.bob, T0 + 3 * DAY)
    summary = sweep(django_capture_on_commit_callbacks, T0 + 20 * DAY)
    case = ReclaimCase.objects.get(grant=grant)
    assert (case.status, case.outcome, case.last_activity_at) == ("closed", "kept_active_again", T0 + 3 * DAY)
    assert summary.apps[0].kept_active == 1 and summary.apps[0].removed == 0
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE
    assert AuditEvent.objects.filter(action="reclaim.kept_active_again", grant=grant).exists()


def test_it_excludes_people_and_groups(company, wiki_policy, django_capture_on_commit_callbacks):
    grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    drift(company.charlie, company.readers)
    last_login(company.bob, T0 - 100 * DAY)
    last_login(company.charlie, T0 - 100 * DAY)
    vips = c.group("vips")
    GroupMembership.objects.create(person=company.charlie, group=vips, origin="external", since=T0)
    wiki_policy.excluded_people.add(company.bob)
    wiki_policy.excluded_groups.add(vips)
    summary = sweep(django_capture_on_commit_callbacks, T0)
    assert not ReclaimCase.objects.exists()
    assert summary.apps[0].excluded == 2


def test_a_policy_change_closes_the_cases_it_no_longer_justifies(
    company, wiki_policy, django_capture_on_commit_callbacks
):
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    drift(company.charlie, company.readers)
    last_login(company.bob, T0 - 100 * DAY)
    last_login(company.charlie, T0 - 100 * DAY)
    sweep(django_capture_on_commit_callbacks, T0)
    assert ReclaimCase.objects.filter(status="warned").count() == 2
    with time_machine.travel(T0 + DAY, tick=False):
        wiki_policy.threshold_days = 120
        wiki_policy.save()
        assert apply_policy_change(policy=wiki_policy, actor=services.Actor.system("test")) == 2
    assert set(ReclaimCase.objects.values_list("outcome", flat=True)) == {"policy_changed"}

    wiki_policy.threshold_days = 90
    wiki_policy.save()
    sweep(django_capture_on_commit_callbacks, T0 + 2 * DAY)  # new cases, warned again
    wiki_policy.excluded_people.add(company.bob)
    apply_policy_change(policy=wiki_policy, actor=services.Actor.system("test"))
    assert ReclaimCase.objects.get(grant=grant, status="closed", outcome="excluded")
    assert ReclaimCase.objects.get(person=company.charlie, status="warned")


def test_dry_run_changes_nothing_in_the_provider(company, wiki_policy, mailoutbox, django_capture_on_commit_callbacks):
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    drift(company.charlie, company.readers)
    last_login(company.bob, T0 - 100 * DAY)
    last_login(company.charlie, T0 - 100 * DAY)
    mailoutbox.clear()
    events = AuditEvent.objects.count()

    summary = sweep(django_capture_on_commit_callbacks, T0, dry_run=True)  # the --dry-run flag: no writes
    assert summary.apps[0].warned == 2
    assert (ReclaimCase.objects.count(), AuditEvent.objects.count(), len(mailoutbox)) == (0, events, 0)

    wiki_policy.mode = ReclaimPolicy.Mode.DRY_RUN  # a policy in dry run reports "would reclaim" cases
    wiki_policy.save()
    for days in (0, 30, 60):
        sweep(django_capture_on_commit_callbacks, T0 + days * DAY)
    assert sorted(ReclaimCase.objects.values_list("outcome", flat=True)) == ["dry_run", "dry_run"]
    assert not MembershipChange.objects.filter(action="remove").exists()
    assert LocalMembership.objects.filter(group=company.readers).count() == 2
    assert len(mailoutbox) == 0
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE


def test_the_flag_dry_run_reports_due_removals_without_making_them(
    company, wiki_policy, django_capture_on_commit_callbacks
):
    grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - 100 * DAY)
    sweep(django_capture_on_commit_callbacks, T0)
    summary = sweep(django_capture_on_commit_callbacks, T0 + 15 * DAY, dry_run=True)
    assert summary.apps[0].removed == 1
    assert ReclaimCase.objects.get().status == "warned"
    assert not MembershipChange.objects.filter(action="remove").exists()


def test_the_sweep_is_idempotent(company, wiki_policy, mailoutbox, django_capture_on_commit_callbacks):
    grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    drift(company.charlie, company.readers)
    last_login(company.bob, T0 - 100 * DAY)
    last_login(company.charlie, T0 - 100 * DAY)
    mailoutbox.clear()
    sweep(django_capture_on_commit_callbacks, T0)
    sweep(django_capture_on_commit_callbacks, T0 + timedelta(hours=1))
    assert ReclaimCase.objects.count() == 2 and len(mailoutbox) == 2
    assert AuditEvent.objects.filter(action="reclaim.warned").count() == 2
    charlie_case = ReclaimCase.objects.get(person=company.charlie)
    assert (charlie_case.group, charlie_case.ticket_status) == (company.readers, "to_open")  # no grant issue

    sweep(django_capture_on_commit_callbacks, T0 + 15 * DAY)
    second = sweep(django_capture_on_commit_callbacks, T0 + 15 * DAY)
    assert second.apps[0].removed == 0
    assert MembershipChange.objects.filter(action="remove").count() == 2
    assert AuditEvent.objects.filter(action="reclaim.removal_requested").count() == 2
    assert not LocalMembership.objects.filter(group=company.readers).exists()
    assert set(ReclaimCase.objects.values_list("outcome", flat=True)) == {"reclaimed"}


def test_the_removal_cap_stops_the_run_and_says_so(company, wiki_policy, settings, django_capture_on_commit_callbacks):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "RECLAIM_MAX_REMOVALS_PER_RUN": 1}
    for person in (company.alice, company.charlie, company.dana):
        drift(person, company.readers)
        last_login(person, T0 - 100 * DAY)
    sweep(django_capture_on_commit_callbacks, T0)
    summary = sweep(django_capture_on_commit_callbacks, T0 + 14 * DAY)
    app = summary.apps[0]
    assert (app.removed, app.stopped_at_cap, app.due_not_removed) == (1, True, 2)
    assert "STOPPED at the removal cap" in summary.lines()[0]
    assert LocalMembership.objects.filter(group=company.readers).count() == 2
    stop = AuditEvent.objects.get(action="reclaim.stopped_at_cap")
    assert stop.data == {"application": "wiki", "policy": wiki_policy.pk, "cap": 1, "due": 3}
    sweep(django_capture_on_commit_callbacks, T0 + 14 * DAY + timedelta(hours=1))
    assert LocalMembership.objects.filter(group=company.readers).count() == 1


def test_unknown_last_login_is_its_own_outcome(company, wiki_policy, mailoutbox, django_capture_on_commit_callbacks):
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, None)
    mailoutbox.clear()
    for days in (0, 100, 200):
        summary = sweep(django_capture_on_commit_callbacks, T0 + days * DAY)
    case = ReclaimCase.objects.get()
    assert (case.status, case.outcome, case.grant) == ("closed", "unknown_activity", grant)
    assert summary.apps[0].unknown_activity == 0  # recorded once, not again on every run
    assert len(mailoutbox) == 0
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE
    assert AuditEvent.objects.filter(action="reclaim.unknown_activity", subject=company.bob).count() == 1


def test_a_login_that_becomes_unknown_during_grace_is_never_removed(
    company, wiki_policy, django_capture_on_commit_callbacks
):
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - 100 * DAY)
    sweep(django_capture_on_commit_callbacks, T0)
    last_login(company.bob, None)
    sweep(django_capture_on_commit_callbacks, T0 + 30 * DAY)
    assert ReclaimCase.objects.get().outcome == "unknown_activity"
    grant.refresh_from_db()
    assert grant.status == Grant.Status.ACTIVE


def test_leavers_are_left_to_the_leaver_path(company, wiki_policy, django_capture_on_commit_callbacks):
    grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - 100 * DAY)
    Person.objects.filter(pk=company.bob.pk).update(status=Person.Status.DEPROVISIONED)
    summary = sweep(django_capture_on_commit_callbacks, T0)
    assert summary.apps[0].skipped_deprovisioned == 1 and not ReclaimCase.objects.exists()


def test_per_application_activity_when_the_policy_asks_for_it(company, wiki_policy, django_capture_on_commit_callbacks):
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - DAY)  # signs in daily, but never opens the wiki
    wiki_policy.activity_source = ReclaimPolicy.ActivitySource.APP_ACTIVITY
    wiki_policy.save()
    AppActivity.objects.create(person=company.bob, application=company.wiki, last_activity_at=T0 - 95 * DAY, source="x")
    sweep(django_capture_on_commit_callbacks, T0)
    assert ReclaimCase.objects.get(grant=grant).last_activity_at == T0 - 95 * DAY


def _population(company, n: int, *, stale: bool, start: int = 0) -> None:
    """n people with the wiki: half through active grants, half found in the provider."""
    seen = T0 - (100 if stale else 5) * DAY
    people = Person.objects.bulk_create(
        [Person(email=f"p{i}@example.com", name=f"P {i}", last_login_at=seen) for i in range(start, start + n)]
    )
    half = n // 2
    Grant.objects.bulk_create(
        [Grant(person=p, role=company.reader, status="active", starts_at=T0 - 300 * DAY) for p in people[:half]]
    )
    GroupMembership.objects.bulk_create(
        [GroupMembership(person=p, group=company.readers, origin="gatehouse", since=T0) for p in people]
    )


def _count_sweep_queries(oncommit, at: datetime) -> int:
    with CaptureQueriesContext(connection) as queries:
        sweep(oncommit, at)
    return len(queries.captured_queries)


@pytest.mark.parametrize("stale", [False, True], ids=["all-active", "all-warned-not-due"])
def test_the_sweep_query_count_does_not_grow_with_people(
    company, wiki_policy, django_capture_on_commit_callbacks, stale
):
    _population(company, 10, stale=stale)
    if stale:
        sweep(django_capture_on_commit_callbacks, T0)  # opens the cases; later runs have nothing due
    small = _count_sweep_queries(django_capture_on_commit_callbacks, T0 + DAY)
    _population(company, 40, stale=stale, start=10)
    if stale:
        sweep(django_capture_on_commit_callbacks, T0 + DAY)
    assert ReclaimCase.objects.filter(status="warned").count() == (50 if stale else 0)
    large = _count_sweep_queries(django_capture_on_commit_callbacks, T0 + 2 * DAY)
    assert small == large < 20, (small, large)


def test_warning_many_people_takes_the_same_queries_as_warning_a_few(
    company, wiki_policy, jira, settings, mailoutbox, django_capture_on_commit_callbacks
):
    """Cases, audit events, Jira case tickets and emails are written set-based, not one by one."""
    settings.JIRA_TICKETS = {**settings.JIRA_TICKETS, "PROJECT": "ITOPS"}

    def sweep_queries(at: datetime) -> int:  # the sweep's own: what runs after commit is the workers'
        with (
            time_machine.travel(at, tick=False),
            django_capture_on_commit_callbacks(execute=False),
            CaptureQueriesContext(connection) as queries,
        ):
            run_reclaim()
        return len(queries.captured_queries)

    _population(company, 4, stale=True)
    few = sweep_queries(T0)
    _population(company, 40, stale=True, start=4)
    many = sweep_queries(T0 + DAY)
    assert ReclaimCase.objects.filter(status="warned").count() == 44
    assert OutboundMessage.objects.filter(subject__contains="will be removed").count() == 44
    # no request issue of their own to comment on: each case gets a Jira ticket
    assert JiraUpdate.objects.filter(kind="create_issue").count() == 44
    assert ReclaimCase.objects.filter(ticket_status="to_open", ticket_update__isnull=False).count() == 44
    assert AuditEvent.objects.filter(action="reclaim.warned").count() == 44
    assert few == many, (few, many)


def test_removing_many_granted_people_takes_the_same_queries_as_removing_a_few(
    company, wiki_policy, settings, django_capture_on_commit_callbacks
):
    """Every due grant of a sweep is revoked in one end_grants batch, its case closed in bulk."""

    def granted_population(n: int, start: int) -> None:
        people = Person.objects.bulk_create(
            [
                Person(email=f"g{i}@example.com", name=f"G {i}", last_login_at=T0 - 100 * DAY)
                for i in range(start, start + n)
            ]
        )
        Grant.objects.bulk_create(
            [Grant(person=p, role=company.reader, status="active", starts_at=T0 - 300 * DAY) for p in people]
        )
        GroupMembership.objects.bulk_create(
            [GroupMembership(person=p, group=company.readers, origin="gatehouse", since=T0) for p in people]
        )

    def removal_queries(opened_at: datetime) -> int:
        sweep(django_capture_on_commit_callbacks, opened_at)  # opens and warns
        with (
            time_machine.travel(opened_at + 15 * DAY, tick=False),
            django_capture_on_commit_callbacks(execute=False),
            CaptureQueriesContext(connection) as queries,
        ):
            summary = run_reclaim()
        assert summary.apps[0].removed == ReclaimCase.objects.filter(outcome="reclaimed", opened_at=opened_at).count()
        return len(queries.captured_queries)

    granted_population(3, 0)
    few = removal_queries(T0)
    GroupMembership.objects.filter(person__grants__status="revoked").delete()  # the removals went through
    granted_population(30, 3)
    many = removal_queries(T0 + 20 * DAY)
    assert ReclaimCase.objects.filter(outcome="reclaimed").count() == 33
    assert Grant.objects.filter(status="revoked", end_reason__startswith="Auto Reclaim: no use of").count() == 33
    assert AuditEvent.objects.filter(action="reclaim.removal_requested").count() == 33
    assert AuditEvent.objects.filter(action="reclaim.reclaimed").count() == 33
    assert few == many, (few, many)


def test_the_command_prints_a_summary(company, wiki_policy, capsys, django_capture_on_commit_callbacks):
    grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - 100 * DAY)
    with time_machine.travel(T0, tick=False):
        call_command("reclaim", "--app", "wiki", "--dry-run")
    out = capsys.readouterr().out
    assert "Dry run: nothing was changed." in out and "would warn 1" in out
    assert not ReclaimCase.objects.exists()
    with pytest.raises(CommandError, match="No application with the slug 'nope'"):
        call_command("reclaim", "--app", "nope")
    c.app("crm")
    with pytest.raises(CommandError, match="has no active reclaim policy"):
        call_command("reclaim", "--app", "crm")


def test_the_task_runs_the_sweep(company, wiki_policy, django_capture_on_commit_callbacks):
    from reviews.reclaim.tasks import run_reclaim_sweep

    grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - 100 * DAY)
    with time_machine.travel(T0, tick=False), django_capture_on_commit_callbacks(execute=True):
        lines = run_reclaim_sweep()
    assert lines[0].startswith("wiki [enforce]") and ReclaimCase.objects.filter(status="warned").count() == 1


def test_deactivating_a_policy_closes_its_open_cases(company, wiki_policy, django_capture_on_commit_callbacks):
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    drift(company.charlie, company.readers)
    last_login(company.bob, T0 - 100 * DAY)
    last_login(company.charlie, T0 - 100 * DAY)
    sweep(django_capture_on_commit_callbacks, T0)
    wiki_policy.is_active = False
    wiki_policy.save()
    apply_policy_change(policy=wiki_policy, actor=services.Actor.system("test"))
    assert ReclaimCase.objects.get(grant=grant).outcome == "policy_changed"
    ReclaimCase.objects.filter(person=company.charlie).update(status="warned", outcome="", closed_at=None)
    summary = sweep(django_capture_on_commit_callbacks, T0 + 30 * DAY)  # the sweep closes what is left
    assert summary.orphans_closed == 1 and summary.apps == []
    assert not ReclaimCase.objects.filter(status__in=["open", "warned"]).exists()
    assert LocalMembership.objects.filter(group=company.readers).count() == 2


def test_access_that_ends_elsewhere_closes_the_case(company, wiki_policy, django_capture_on_commit_callbacks):
    grant = grant_reader(company, company.bob, "IT-1", django_capture_on_commit_callbacks)
    last_login(company.bob, T0 - 100 * DAY)
    sweep(django_capture_on_commit_callbacks, T0)
    with django_capture_on_commit_callbacks(execute=True):
        services.revoke_grant(grant=grant, actor=services.Actor.system("test"), reason="moved team", authorised=True)
    summary = sweep(django_capture_on_commit_callbacks, T0 + 15 * DAY)
    assert summary.apps[0].access_gone == 1 and summary.apps[0].removed == 0
    assert ReclaimCase.objects.get().outcome == "access_gone"


def test_the_warning_uses_the_policys_text(company, wiki_policy, mailoutbox, django_capture_on_commit_callbacks):
    wiki_policy.warning_text = "Hi {name}, {application} unused {days} days; removal after {revoke_after}."
    wiki_policy.save()
    drift(company.charlie, company.readers)
    last_login(company.charlie, T0 - 100 * DAY)
    sweep(django_capture_on_commit_callbacks, T0)
    text, keep = mailoutbox[0].body.split("\n\n")
    assert text == "Hi Charlie Outsider, Wiki unused 90 days; removal after 2026-03-16 09:00 UTC."
    assert keep.startswith("Still need it? Keep my access: http://127.0.0.1:8000/reclaim/keep/")
    ticket = AuditEvent.objects.get(action="reclaim.ticket_requested")
    assert (ticket.subject, ticket.data["application"]) == (company.charlie, "wiki")
