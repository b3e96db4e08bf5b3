"""Auto-approval rules are versioned like approval policies: each change is a new version, and each
request records the version of the rule that approved it (trace and evidence show it)."""

from __future__ import annotations

import importlib
from io import StringIO

import pytest
import yaml
from django.apps import apps
from django.core.management import call_command
from django.urls import reverse

from governance import services
from governance.catalog_code import yamlio
from governance.models import AccessRequest, AuditEvent, AutoApprovalRule
from governance.requests.policies import policy_changed

BASE = "/api/v1"


@pytest.fixture
def rule(company) -> AutoApprovalRule:
    return AutoApprovalRule.objects.create(
        name="Engineers read the wiki", role=company.reader, departments=["Engineering"]
    )


def submit(key: str, requester: str = "bob@example.com") -> AccessRequest:
    data = services.RequestInput(
        jira_issue_key=key, requester=requester, application="wiki", role="reader", reason="read the docs"
    )
    return services.submit_request(data=data)[0]


def edit_in_admin(it_admin_client, rule: AutoApprovalRule, **changes):
    data = {
        "name": rule.name,
        "application": "",
        "role": rule.role_id,
        "departments": '["Engineering"]',
        "is_active": "on",
        **changes,
    }
    response = it_admin_client.post(reverse("admin:governance_autoapprovalrule_change", args=[rule.pk]), data)
    assert response.status_code == 302, response.content.decode()[:3000]


def test_it_versions_a_rule_on_each_admin_save_and_requests_record_the_version(
    it_admin_client, company, rule, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        first = submit("ITHELP-1")
    assert (first.auto_approval_rule, first.auto_approval_rule_version) == (rule, 1)
    assert first.policy_label == "auto-approval rule 'Engineers read the wiki' v1"

    edit_in_admin(it_admin_client, rule, departments='["Engineering", "IT"]')

    rule.refresh_from_db()
    assert rule.version == 2 and rule.departments == ["Engineering", "IT"]
    event = AuditEvent.objects.get(action="auto_rule.changed")
    assert event.data["version"] == 2 and event.actor == "admin:dana"
    assert "is now v2" in event.message and "people in Engineering, IT" in event.message
    # dana is in IT: version 2 approves her too
    with django_capture_on_commit_callbacks(execute=True):
        second = submit("ITHELP-2", requester="dana@example.com")
    assert (second.auto_approval_rule_version, AccessRequest.objects.get(pk=first.pk).auto_approval_rule_version) == (
        2,
        1,
    )
    approved = AuditEvent.objects.get(request=second, action="request.approved")
    assert approved.data["rule_version"] == 2 and "v2" in approved.message


def test_a_rule_page_shows_its_version_read_only(it_admin_client, rule):
    html = it_admin_client.get(reverse("admin:governance_autoapprovalrule_change", args=[rule.pk])).content.decode()
    assert "Version" in html and 'name="version"' not in html
    listing = it_admin_client.get(reverse("admin:governance_autoapprovalrule_changelist")).content.decode()
    assert "column-version" in listing


def test_the_trace_shows_the_rule_and_policy_versions_as_they_were(api, it_admin_client, company, rule, tasks):
    with tasks():
        submit("ITHELP-1")
    edit_in_admin(it_admin_client, rule, include_contractors="on")
    trace = api.get(f"{BASE}/trace/", {"person": "bob@example.com", "application": "wiki"}).json()
    (request,) = trace["requests"]
    assert (request["auto_approval_rule"], request["auto_approval_rule_version"]) == ("Engineers read the wiki", 1)
    assert request["policy_version"] is None and request["policy"].endswith("v1")
    page = it_admin_client.get(reverse("admin:governance_trace"), {"person": "bob@example.com"}).content.decode()
    assert "auto-approval rule &#x27;Engineers read the wiki&#x27; v1" in page


def test_the_trace_keeps_the_policy_version_a_request_was_routed_by(api, it_admin_client, company):
    submit("ITHELP-3", requester="charlie@example.com")
    policy_changed(policy=company.default_policy, actor=services.Actor.system("tests"), created=False)
    (request,) = api.get(f"{BASE}/trace/", {"person": "charlie@example.com"}).json()["requests"]
    assert company.default_policy.version == 2 and request["policy_version"] == 1


def test_catalog_apply_bumps_the_rule_version_through_the_same_service(company, rule, tmp_path):
    call_command("catalog", "export", "-o", str(tmp_path))
    path = tmp_path / "policies/auto-approval.yaml"
    document = yaml.safe_load(path.read_text())
    document["rules"][0]["departments"] = ["Engineering", "Support"]
    path.write_text(yamlio.dump(document))

    call_command("catalog", "apply", str(tmp_path), "--commit", "c0ffee", stdout=StringIO())

    rule.refresh_from_db()
    assert (rule.version, rule.departments) == (2, ["Engineering", "Support"])
    event = AuditEvent.objects.get(action="auto_rule.changed")
    assert event.data["version"] == 2 and event.data["source"]["commit"] == "c0ffee"
    assert event.data["catalog_change"]["after"]["departments"] == ["Engineering", "Support"]

    document["rules"] = []
    path.write_text(yamlio.dump(document))
    call_command("catalog", "apply", str(tmp_path), stdout=StringIO())
    rule.refresh_from_db()
    assert (rule.version, rule.is_active) == (3, False)
    assert "inactive" in AuditEvent.objects.filter(action="auto_rule.changed").latest("pk").message


def test_the_migration_records_version_one_on_earlier_auto_approved_requests(company, rule):
    request = submit("ITHELP-4")
    AccessRequest.objects.filter(pk=request.pk).update(auto_approval_rule_version=None)
    migration = importlib.import_module("governance.migrations.0015_admin16_auto_rule_versions")
    migration.rules_start_at_version_one(apps, None)
    request.refresh_from_db()
    assert request.auto_approval_rule_version == 1
    assert AccessRequest.objects.filter(auto_approval_rule__isnull=True, auto_approval_rule_version=1).count() == 0
