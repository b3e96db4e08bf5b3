"""Admin for sync runs and drift findings: listed, read-only."""

from __future__ import annotations

from governance.drift.services import detect_drift
from governance.models import DriftFinding
from provisioning.models import LocalMembership, SyncRun
from provisioning.sync.services import sync_directory


def test_the_changelists_and_detail_pages_render(admin_client, company):
    LocalMembership.objects.create(person=company.charlie, group=company.readers)
    sync_directory("local")
    detect_drift()
    run, finding = SyncRun.objects.get(), DriftFinding.objects.get()
    for url in (
        "/admin/provisioning/syncrun/",
        "/admin/provisioning/syncrun/?status=succeeded",
        f"/admin/provisioning/syncrun/{run.pk}/change/",
        "/admin/governance/driftfinding/",
        "/admin/governance/driftfinding/?kind=unexplained_member",
        f"/admin/governance/driftfinding/{finding.pk}/change/",
    ):
        response = admin_client.get(url)
        assert response.status_code == 200, url
    assert "charlie@example.com" in admin_client.get("/admin/governance/driftfinding/").content.decode()


def test_runs_and_findings_cannot_be_added_or_edited(admin_client, company):
    sync_directory("local")
    run = SyncRun.objects.get()
    assert admin_client.get("/admin/provisioning/syncrun/add/").status_code == 403
    assert admin_client.get("/admin/governance/driftfinding/add/").status_code == 403
    page = admin_client.get(f"/admin/provisioning/syncrun/{run.pk}/change/").content.decode()
    assert 'name="status"' not in page
    response = admin_client.post(f"/admin/provisioning/syncrun/{run.pk}/change/", {"status": "failed"})
    assert response.status_code == 403
    run.refresh_from_db()
    assert run.status == SyncRun.Status.SUCCEEDED
