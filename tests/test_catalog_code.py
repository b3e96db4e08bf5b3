"""Catalog and policy as code: export → plan → apply, against the real database and files on disk."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Application, Role
from governance.catalog_code import engine
from governance.models import ApprovalPolicy, AuditEvent
from reviews.models import ReclaimPolicy
from tests import company as c


@pytest.fixture
def catalog(company, tmp_path):
    """The company's catalog with an application policy, a tier policy, a rule and a reclaim policy, exported."""
    c.policy("Wiki: owner", "app_owner", application=company.wiki, fallback=[company.dana])
    c.policy("High: manager then named", "manager", "named", risk_tier="high", named=[company.dana])
    from governance.models import AutoApprovalRule

    AutoApprovalRule.objects.create(name="Engineers read the wiki", role=company.reader, departments=["Engineering"])
    ReclaimPolicy.objects.create(application=company.wiki, threshold_days=60, grace_days=7)
    call_command("catalog", "export", "-o", str(tmp_path))
    return tmp_path


def plan(directory: Path, *extra: str) -> tuple[int, str]:
    out = StringIO()
    try:
        call_command("catalog", "plan", str(directory), *extra, stdout=out)
    except SystemExit as exit_:
        return int(exit_.code), out.getvalue()
    return 0, out.getvalue()


def edit(path: Path, change) -> None:
    document = yaml.safe_load(path.read_text())
    change(document)
    from governance.catalog_code import yamlio

    path.write_text(yamlio.dump(document))


def snapshot(directory: Path) -> dict[str, str]:
    return {p.relative_to(directory).as_posix(): p.read_text() for p in sorted(directory.rglob("*.yaml"))}


def test_it_exports_one_file_per_application_and_the_policy_files(catalog):
    assert sorted(snapshot(catalog)) == [
        "applications/wiki.yaml",
        "policies/approval.yaml",
        "policies/auto-approval.yaml",
        "policies/reclaim.yaml",
        "policies/review-templates.yaml",
    ]
    wiki = yaml.safe_load((catalog / "applications/wiki.yaml").read_text())
    assert wiki["approval_policy"] == {
        "name": "Wiki: owner",
        "fallback_approvers": ["dana@example.com"],
        "steps": [{"kind": "app_owner"}],
    }
    editor = next(role for role in wiki["roles"] if role["slug"] == "editor")
    assert editor["allowed_durations"] == ["PT6H", "P1D", "P7D"]
    assert editor["groups"] == [
        {"connector": "local", "external_id": "wiki-editors", "name": "wiki-editors"},
        {"connector": "local", "external_id": "wiki-readers", "name": "wiki-readers"},
    ]
    rules = yaml.safe_load((catalog / "policies/auto-approval.yaml").read_text())["rules"]
    assert rules == [
        {
            "name": "Engineers read the wiki",
            "application": "wiki",
            "role": "reader",
            "departments": ["Engineering"],
            "include_contractors": False,
            "grant_on_join": False,
        }
    ]


def test_it_exports_the_same_bytes_twice(catalog, tmp_path_factory):
    again = tmp_path_factory.mktemp("again")
    call_command("catalog", "export", "-o", str(again))
    assert snapshot(again) == snapshot(catalog)


def test_it_round_trips_an_edit_exactly(catalog, tmp_path_factory, company):
    assert plan(catalog) == (0, "No changes: the database matches the files.\n")
    edit(catalog / "applications/wiki.yaml", lambda d: d["approval_policy"]["steps"].insert(0, {"kind": "manager"}))
    edited = snapshot(catalog)

    code, out = plan(catalog)

    assert code == 2
    assert "1 change(s):" in out and "~ policy wiki" in out
    assert "steps: app_owner  ⇒  manager → app_owner" in out
    policy = ApprovalPolicy.objects.get(application=company.wiki, is_active=True)
    assert policy.version == 1

    call_command("catalog", "apply", str(catalog), "--commit", "0badc0de", stdout=StringIO())

    policy.refresh_from_db()
    assert policy.version == 2
    assert list(policy.steps.values_list("order", "kind")) == [(1, "manager"), (2, "app_owner")]
    assert plan(catalog)[0] == 0
    again = tmp_path_factory.mktemp("again")
    call_command("catalog", "export", "-o", str(again))
    assert snapshot(again) == edited


def test_each_applied_change_writes_one_audit_event_with_before_after_and_source(catalog, company):
    edit(catalog / "applications/wiki.yaml", lambda d: d.update(name="Team Wiki"))
    edit(catalog / "policies/approval.yaml", lambda d: d["risk_tiers"]["high"]["steps"].pop())
    files_hash = engine.files_sha256({k: v for k, v in snapshot(catalog).items()})
    seen = AuditEvent.objects.count()

    call_command("catalog", "apply", str(catalog), "--commit", "abc123", stdout=StringIO())

    events = list(AuditEvent.objects.order_by("pk")[seen:])
    assert [event.action for event in events] == ["catalog.application.changed", "policy.changed"]
    app_event, policy_event = events
    assert app_event.data["before"]["name"] == "Wiki" and app_event.data["after"]["name"] == "Team Wiki"
    assert app_event.data["source"] == {"files_sha256": files_hash, "commit": "abc123"}
    assert policy_event.data["version"] == 2
    assert policy_event.data["catalog_change"]["after"]["steps"] == [{"kind": "manager"}]
    assert policy_event.data["source"]["commit"] == "abc123"


def test_it_adds_a_role_with_its_groups_and_policy(catalog, company):
    def add(document):
        document["roles"].append(
            {
                "slug": "admin",
                "name": "Admin",
                "max_duration": "P1D",
                "allowed_durations": ["PT1H", "P1D"],
                "groups": [{"connector": "local", "external_id": "wiki-editors"}],
                "approval_policy": {
                    "name": "Wiki admin",
                    "steps": [{"kind": "named", "approvers": ["Dana@example.com"]}],
                },
            }
        )

    edit(catalog / "applications/wiki.yaml", add)
    code, out = plan(catalog)
    assert code == 2 and "+ role wiki/admin" in out and "+ policy wiki/admin" in out

    call_command("catalog", "apply", str(catalog), stdout=StringIO())

    role = Role.objects.get(application=company.wiki, slug="admin")
    assert [m.group.external_id for m in role.group_mappings.all()] == ["wiki-editors"]
    policy = ApprovalPolicy.objects.get(role=role, is_active=True)
    assert [p.email for p in policy.steps.get().approvers.all()] == ["dana@example.com"]


def test_removing_a_policy_deactivates_it(catalog, company):
    edit(catalog / "applications/wiki.yaml", lambda d: d.pop("approval_policy"))
    call_command("catalog", "apply", str(catalog), stdout=StringIO())
    assert not ApprovalPolicy.objects.filter(application=company.wiki, is_active=True).exists()
    assert ApprovalPolicy.objects.filter(application=company.wiki, is_active=False).count() == 1


def test_a_reclaim_policy_change_is_planned_and_applied(catalog, company):
    edit(catalog / "policies/reclaim.yaml", lambda d: d["policies"][0].update(threshold_days=30, mode="enforce"))
    code, out = plan(catalog)
    assert code == 2 and "reclaim:" in out and "threshold_days: 60 ⇒ 30" in out
    call_command("catalog", "apply", str(catalog), stdout=StringIO())
    policy = ReclaimPolicy.objects.get(application=company.wiki, is_active=True)
    assert (policy.threshold_days, policy.mode) == (30, "enforce")


def test_an_application_without_a_file_is_left_alone(catalog, company):
    c.app("figma")
    code, out = plan(catalog)
    assert code == 0
    assert "note: application figma has no file" in out


def test_apply_refuses_when_the_database_changed_since_the_plan(catalog, company, tmp_path_factory):
    edit(catalog / "applications/wiki.yaml", lambda d: d.update(name="Team Wiki"))
    plan_file = tmp_path_factory.mktemp("plan") / "plan.json"
    assert plan(catalog, "--plan-file", str(plan_file))[0] == 2
    pinned = json.loads(plan_file.read_text())
    assert pinned["database_sha256"] == engine.state_sha256(engine.database_state())
    Role.objects.filter(pk=company.reader.pk).update(requestable=False)  # someone changed it meanwhile

    with pytest.raises(CommandError, match="The database changed since this plan was made"):
        call_command("catalog", "apply", str(catalog), "--plan-file", str(plan_file))

    assert Application.objects.get(pk=company.wiki.pk).name == "Wiki"


def test_apply_refuses_when_the_files_changed_since_the_plan(catalog, company, tmp_path_factory):
    plan_file = tmp_path_factory.mktemp("plan") / "plan.json"
    plan(catalog, "--plan-file", str(plan_file))
    edit(catalog / "applications/wiki.yaml", lambda d: d.update(name="Team Wiki"))
    with pytest.raises(CommandError, match="The files changed since this plan was made"):
        call_command("catalog", "apply", str(catalog), "--plan-file", str(plan_file))
    assert Application.objects.get(pk=company.wiki.pk).name == "Wiki"


def test_apply_with_a_fresh_plan_file_applies(catalog, company, tmp_path_factory):
    edit(catalog / "applications/wiki.yaml", lambda d: d.update(status="retired"))
    plan_file = tmp_path_factory.mktemp("plan") / "plan.json"
    plan(catalog, "--plan-file", str(plan_file))
    call_command("catalog", "apply", str(catalog), "--plan-file", str(plan_file), stdout=StringIO())
    assert Application.objects.get(pk=company.wiki.pk).status == "retired"


def test_a_plan_file_that_is_not_a_plan_is_refused(catalog, tmp_path_factory):
    bogus = tmp_path_factory.mktemp("plan") / "plan.json"
    bogus.write_text('{"hello": 1}')
    with pytest.raises(CommandError, match="is not a plan written by"):
        call_command("catalog", "apply", str(catalog), "--plan-file", str(bogus))


def test_plan_of_a_missing_directory_says_so(db, tmp_path):
    with pytest.raises(CommandError, match="is not a directory"):
        call_command("catalog", "plan", str(tmp_path / "nowhere"))


def test_the_applied_route_is_what_the_api_lists(catalog, api, company):
    def named_dana(document):
        document["approval_policy"]["steps"] = [
            {"kind": "manager"},
            {"kind": "named", "approvers": ["dana@example.com"]},
        ]

    edit(catalog / "applications/wiki.yaml", named_dana)
    call_command("catalog", "apply", str(catalog), stdout=StringIO())

    wiki = next(app for app in api.get("/api/v1/applications/").json() if app["slug"] == "wiki")
    editor = next(role for role in wiki["roles"] if role["slug"] == "editor")
    assert editor["approval_route"] == [
        {"order": 1, "kind": "manager", "approvers": []},
        {"order": 2, "kind": "named", "approvers": ["dana@example.com"]},
    ]


def test_an_absent_policy_file_changes_nothing(catalog, company):
    (catalog / "policies/approval.yaml").unlink()
    (catalog / "policies/reclaim.yaml").unlink()
    code, out = plan(catalog)
    assert code == 0
    assert "note: policies/approval.yaml is absent" in out and "note: policies/reclaim.yaml is absent" in out


def test_export_and_plan_take_the_same_queries_for_many_applications(catalog, company, tmp_path_factory):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def count() -> int:
        directory = tmp_path_factory.mktemp("count")
        with CaptureQueriesContext(connection) as queries:
            engine.export(directory)
            engine.plan(directory)
        return len(queries)

    few = count()
    for index in range(5):
        app = c.app(f"app-{index}", owner=company.alice)
        c.role(app, "user", company.readers)
        c.policy(f"P{index}", "named", application=app, named=[company.dana])
    assert count() == few
