"""The admin as a new IT admin reads it: the columns that matter, one timestamp format, durations
in words, no summary rows repeated, no Save on records nothing can edit, and an approval that shows
who, what, why and the risk before it is confirmed."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import Client
from django.urls import reverse

from governance import services
from governance.adminkit import NothingToSaveMixin
from governance.models import AccessRequest, AuditEvent, Grant
from provisioning.models import MembershipChange

MOMENT = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d UTC")
OTHER_FORMATS = (
    re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d"),  # ISO
    re.compile(r"\d\d:\d\d:\d\d\.\d+"),  # str(datetime)
    re.compile(r"\b[ap]\.m\."),  # Django's English default
    re.compile(r"\d+ \d\d:\d\d:\d\d"),  # str(timedelta) as the duration field writes it
)
SAVE_BUTTONS = ('name="_save"', 'name="_continue"', 'name="_addanother"', 'class="deletelink"')


def submit(key: str = "ITHELP-123", **over) -> AccessRequest:
    data = dict(
        jira_issue_key=key,
        requester="bob@example.com",
        application="wiki",
        role="editor",
        duration=timedelta(days=7),
        reason="Writing the onboarding guide",
    )
    data.update(over)
    return services.submit_request(data=services.RequestInput(**data))[0]


@pytest.fixture
def fulfilled(company, tasks) -> AccessRequest:
    with tasks():
        request = submit()
        services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
    return AccessRequest.objects.get(pk=request.pk)


def page(client, name: str, *args) -> str:
    response = client.get(reverse(f"admin:{name}", args=args))
    assert response.status_code == 200, response.status_code
    html = response.content.decode()
    return html[html.index('<div id="content"') :]  # the page's own content, not the header


def test_the_request_page_reads_in_one_format_with_durations_in_words(it_admin_client, fulfilled):
    html = page(it_admin_client, "governance_accessrequest_change", fulfilled.pk)
    assert "7 days" in html and "Default v1 (global default)" in html
    assert len(MOMENT.findall(html)) >= 10  # created, closed, the grant's times, each step and event
    for other in OTHER_FORMATS:
        assert not other.search(html), other.search(html).group(0)
    assert "Policy version" not in html  # the route already names its version
    assert f"{fulfilled} step 1 (" not in html  # no summary line repeating each step row
    assert "request.submitted:" not in html  # nor each audit event row


def test_records_nothing_can_edit_show_close_and_no_save_or_delete(it_admin_client, fulfilled):
    grant = Grant.objects.get(request=fulfilled)
    change = MembershipChange.objects.filter(person=fulfilled.beneficiary).first()
    event = AuditEvent.objects.filter(request=fulfilled).first()
    for name, pk in (
        ("governance_accessrequest_change", fulfilled.pk),
        ("governance_grant_change", grant.pk),
        ("provisioning_membershipchange_change", change.pk),
        ("governance_auditevent_change", event.pk),
    ):
        html = page(it_admin_client, name, pk)
        assert 'class="closelink"' in html, name
        for button in SAVE_BUTTONS:
            assert button not in html, (name, button)


def test_a_post_to_a_record_nothing_can_edit_is_refused(it_admin_client, fulfilled):
    url = reverse("admin:governance_accessrequest_change", args=[fulfilled.pk])
    response = it_admin_client.post(url, {"reason": "changed", "_save": "Save"})
    assert response.status_code == 403
    fulfilled.refresh_from_db()
    assert fulfilled.reason == "Writing the onboarding guide"


def test_records_that_can_be_edited_keep_their_save_button(it_admin_client, company):
    html = page(it_admin_client, "governance_approvalpolicy_change", company.default_policy.pk)
    assert 'name="_save"' in html and 'name="_continue"' in html


def test_every_registered_admin_follows_the_rule():
    offenders = [label for label, model_admin in _admins() if not isinstance(model_admin, NothingToSaveMixin)]
    assert offenders == []


def _admins():
    return [(model._meta.label, model_admin) for model, model_admin in admin.site._registry.items()]


def test_the_lists_show_the_columns_that_matter(it_admin_client, fulfilled):
    requests = page(it_admin_client, "governance_accessrequest_changelist")
    for column in ("column-status", "column-length", "column-created_at", "column-closed_at"):
        assert column in requests, column
    assert "Fulfilled" in requests and "7 days" in requests
    grants = page(it_admin_client, "governance_grant_changelist")
    for column in ("column-status", "column-expires_at", "column-removed_at", "column-length"):
        assert column in grants, column
    assert MOMENT.search(grants)
    audit = page(it_admin_client, "governance_auditevent_changelist")
    assert "column-message" in audit and "column-action" in audit


def test_the_audit_log_is_newest_first(it_admin_client, fulfilled):
    audit = page(it_admin_client, "governance_auditevent_changelist")
    newest, oldest = AuditEvent.objects.latest("seq"), AuditEvent.objects.earliest("seq")
    assert audit.index(newest.message) < audit.index(oldest.message)


def test_approving_in_the_admin_first_shows_who_what_why_and_the_risk(it_admin_client, company):
    company.wiki.risk_tier = "high"
    company.wiki.save(update_fields=["risk_tier"])
    first = submit()
    second = submit("ITHELP-124", requester="charlie@example.com", role="reader", duration=timedelta(hours=6))
    url = reverse("admin:governance_accessrequest_changelist")
    response = it_admin_client.post(url, {"action": "approve_current_step", "_selected_action": [first.pk, second.pk]})
    html = response.content.decode()
    assert response.status_code == 200 and 'id="decision-summary"' in html
    for text in (
        "ITHELP-123",
        "ITHELP-124",
        "Bob Builder &lt;bob@example.com&gt;",
        "Charlie Outsider &lt;charlie@example.com&gt;",
        "Wiki",
        "Editor",
        "Reader",
        "7 days",
        "6 hours",
        "Writing the onboarding guide",
        "High",
        "step 1 — as an override",
        "csrfmiddlewaretoken",
    ):
        assert text in html, text
    assert AccessRequest.objects.get(pk=first.pk).status == AccessRequest.Status.PENDING_APPROVAL  # not yet


def test_the_confirmation_says_when_you_cannot_decide(client, company):
    user = User.objects.create_user("charlie", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_accessrequest", "decide_step"]))
    company.charlie.user = user
    company.charlie.save(update_fields=["user"])
    client.force_login(user)
    request = submit()
    url = reverse("admin:governance_accessrequest_changelist")
    html = client.post(url, {"action": "approve_current_step", "_selected_action": [request.pk]}).content.decode()
    assert "you cannot:" in html and "is not an approver" in html


def test_a_view_only_admin_is_refused_the_approval_page(client, company):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_accessrequest"))
    client.force_login(user)
    request = submit()
    url = reverse("admin:governance_accessrequest_changelist")
    response = client.post(url, {"action": "approve_current_step", "_selected_action": [request.pk]})
    assert b"decision-summary" not in response.content and b"approve_current_step" not in response.content
    confirmed = client.post(
        url, {"action": "approve_current_step", "_selected_action": [request.pk], "confirm": "yes", "reason": "ok"}
    )
    assert b"decision-summary" not in confirmed.content
    assert AccessRequest.objects.get(pk=request.pk).status == AccessRequest.Status.PENDING_APPROVAL


def test_the_confirmation_is_refused_without_the_csrf_token(it_admin, company):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(it_admin)
    request = submit()
    url = reverse("admin:governance_accessrequest_changelist")
    data = {"action": "approve_current_step", "_selected_action": [request.pk], "confirm": "yes", "reason": "ok"}
    assert browser.post(url, data).status_code == 403
    assert AccessRequest.objects.get(pk=request.pk).status == AccessRequest.Status.PENDING_APPROVAL


def test_the_trace_page_uses_the_same_timestamp_format(it_admin_client, fulfilled):
    response = it_admin_client.get(reverse("admin:governance_trace"), {"person": "bob@example.com"})
    html = response.content.decode()
    html = html[html.index('<div id="content"') :]
    assert len(MOMENT.findall(html)) >= 5
    for other in OTHER_FORMATS:
        assert not other.search(html), other.search(html).group(0)


def test_the_lists_query_count_does_not_grow_with_their_rows(it_admin_client, company, tasks):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries(name: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert it_admin_client.get(reverse(f"admin:{name}")).status_code == 200
        return len(captured)

    def grant_more(first: int, count: int) -> None:
        with tasks():
            for number in range(first, first + count):
                request = submit(f"ITHELP-{number}", requester="bob@example.com", role="reader", duration=None)
                services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
                services.revoke_grant(
                    grant=Grant.objects.get(request=request),
                    actor=services.Actor.system("tests"),
                    reason="done",
                    authorised=True,
                )

    names = ("governance_accessrequest_changelist", "governance_grant_changelist", "governance_auditevent_changelist")
    grant_more(200, 2)
    before = {name: queries(name) for name in names}
    grant_more(300, 4)
    assert {name: queries(name) for name in names} == before
