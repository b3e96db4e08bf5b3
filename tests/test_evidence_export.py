"""manage.py export_evidence: the sheets auditors sample, in csv, xlsx and json, recorded in the audit log."""

from __future__ import annotations

import csv
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone
from openpyxl import load_workbook

from governance.models import AuditEvent
from tests.test_evidence_api import approve, submit

SHEETS = {"access_changes", "privileged_grants", "drift", "review_decisions"}


@pytest.fixture
def period():
    today = timezone.now().date()
    return str(today - timedelta(days=1)), str(today)


@pytest.fixture
def history(company, api, tasks):
    with tasks():
        submit(api, "ITHELP-1")
        approve(api, "ITHELP-1")
        submit(api, "ITHELP-2", requester="charlie@example.com")
        api.post("/api/v1/access-requests/ITHELP-2/cancel/", {"by": "charlie@example.com"}, format="json")
    company.bob.name = "=HYPERLINK(1)"  # a name a spreadsheet would run
    company.bob.email = "=cmd@example.com"
    company.bob.save()
    return company


def test_it_exports_json_with_every_sheet_and_records_the_export(tmp_path, history, period):
    target = tmp_path / "evidence.json"
    call_command("export_evidence", "--from", period[0], "--to", period[1], "--format", "json", "-o", str(target))
    body = json.loads(target.read_text())
    assert set(body["sheets"]) == SHEETS
    access = body["sheets"]["access_changes"]
    assert "CC6.1" in access["controls"] and "A.5.15" in access["controls"]
    by_key = {row[0]: dict(zip(access["columns"], row, strict=True)) for row in access["rows"]}
    assert set(by_key) == {"ITHELP-1", "ITHELP-2"}
    approved = by_key["ITHELP-1"]
    assert "approved by alice@example.com" in approved["approvals"] and "via api" in approved["approvals"]
    assert "add wiki-editors (local): succeeded" in approved["group_changes"]
    assert by_key["ITHELP-2"]["request_status"] == "cancelled"
    event = AuditEvent.objects.get(action="evidence.exported")
    assert event.data["rows"]["access_changes"] == 2 and len(event.data["sha256"]) == 64


def test_it_exports_csv_with_formulas_defused(tmp_path, history, period):
    folder = tmp_path / "evidence"
    call_command("export_evidence", "--from", period[0], "--to", period[1], "--format", "csv", "-o", str(folder))
    assert {p.stem for p in folder.glob("*.csv")} == SHEETS
    assert "SOC 2" in (folder / "README.txt").read_text()
    rows = list(csv.reader((folder / "access_changes.csv").open()))
    assert rows[1][0] == "request"
    beneficiaries = {row[3] for row in rows[2:]}
    assert "'=cmd@example.com" in beneficiaries


def test_it_exports_xlsx_one_sheet_each(tmp_path, history, period):
    target = tmp_path / "evidence.xlsx"
    call_command("export_evidence", "--from", period[0], "--to", period[1], "--format", "xlsx", "-o", str(target))
    book = load_workbook(target, read_only=True)
    assert set(book.sheetnames) == SHEETS | {"about"}
    rows = list(book["access_changes"].iter_rows(values_only=True))
    assert rows[1][0] == "request" and len(rows) == 4


def test_the_period_and_the_application_filter(tmp_path, history, company):
    long_ago = tmp_path / "old.json"
    call_command(
        "export_evidence", "--from", "2001-01-01", "--to", "2001-12-31", "--format", "json", "-o", str(long_ago)
    )
    assert json.loads(long_ago.read_text())["sheets"]["access_changes"]["rows"] == []
    today = str(timezone.now().date())
    other = tmp_path / "other.json"
    from tests import company as company_factory

    company_factory.app("crm", owner=company.alice)
    call_command(
        "export_evidence", "--from", today, "--to", today, "--application", "crm", "--format", "json", "-o", str(other)
    )
    assert json.loads(other.read_text())["sheets"]["access_changes"]["rows"] == []


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--from", "yesterday", "--to", "2026-01-01"], "--from"),
        (["--from", "2026-02-01", "--to", "2026-01-01"], "before"),
        (["--from", "2026-01-01", "--to", "2026-01-31", "--application", "nope"], "--application"),
    ],
)
def test_bad_arguments_are_readable_errors(tmp_path, db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_evidence", *args, "--format", "json", "-o", str(tmp_path / "x.json"))
    assert not AuditEvent.objects.filter(action="evidence.exported").exists()


def test_an_unwritable_path_is_a_readable_error(tmp_path, db):
    with pytest.raises(CommandError, match="Cannot write"):
        call_command(
            "export_evidence", "--from", "2026-01-01", "--to", "2026-01-02", "--format", "json",
            "-o", str(tmp_path / "missing" / "x.json"),
        )  # fmt: skip


def test_the_admin_pages_trace_and_export_for_staff_with_permission(client, history, django_user_model):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("auditor", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get("/admin/governance/auditevent/trace/?person=alice@example.com").status_code == 403
    assert client.get("/admin/governance/auditevent/export/").status_code == 403
    staff.user_permissions.add(
        Permission.objects.get(codename="view_auditevent"), Permission.objects.get(codename="export_evidence")
    )
    page = client.get("/admin/governance/auditevent/trace/", {"person": "=cmd@example.com", "application": "wiki"})
    assert page.status_code == 200
    text = page.content.decode()
    assert "ITHELP-1" in text and "request.submitted" in text and "wiki-editors" in text
    assert "Give a person" in client.get("/admin/governance/auditevent/trace/", {"after": "1"}).content.decode()
    today = str(timezone.now().date())
    download = client.post(
        "/admin/governance/auditevent/export/", {"start": today, "end": today, "file_format": "json"}
    )
    assert download.status_code == 200
    body = json.loads(b"".join(download.streaming_content))
    assert [row[0] for row in body["sheets"]["access_changes"]["rows"]] == ["ITHELP-1", "ITHELP-2"]
    assert AuditEvent.objects.get(action="evidence.exported").actor == "admin:auditor"
    bad = client.post(
        "/admin/governance/auditevent/export/", {"start": today, "end": "2001-01-01", "file_format": "json"}
    )
    assert bad.status_code == 200 and "must not be before" in bad.content.decode()
