"""Admin: offboarding records with progress, the confirm-manual-removal action (its own permission),
and the application-activity import."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from catalog.models import AppActivity, Person
from governance.lifecycle.services import run_lifecycle
from governance.models import Offboarding
from provisioning.models import FulfilmentTask
from provisioning.outbox.services import complete_fulfilment_task
from tests import company as c


def staff(client, *perms: str):
    user = get_user_model().objects.create_user("it-staff", password="pw-12345", is_staff=True)
    for perm in perms:
        app_label, codename = perm.split(".")
        user.user_permissions.add(Permission.objects.get(content_type__app_label=app_label, codename=codename))
    client.force_login(user)
    return user


@pytest.fixture
def manual_leaver(company, tasks):
    """bob held payroll (manual) and left: a removal task is open for IT."""
    payroll = c.app("payroll", owner=company.alice, mode="manual")
    c.role(payroll, "clerk")
    with tasks():
        request = c.submit("IT-4", requester="bob@example.com", application="payroll", role="clerk")
        c.decide(request, company.alice)
    root = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    complete_fulfilment_task(task=FulfilmentTask.objects.get(action="grant"), user=root)
    Person.objects.filter(pk=company.bob.pk).update(status="deprovisioned")
    with tasks():
        run_lifecycle()
    return Offboarding.objects.get(person=company.bob)


def test_it_lists_offboardings_with_their_progress(client, manual_leaver):
    staff(client, "governance.view_offboarding")
    page = client.get(reverse("admin:governance_offboarding_changelist"))
    assert page.status_code == 200
    text = page.content.decode()
    assert "0/1 grants removed, 1 manual removals open" in text
    assert "confirm_manual_removal" not in text  # the action needs its own permission


def test_confirming_needs_the_specific_permission(client, manual_leaver):
    staff(client, "governance.view_offboarding")
    url = reverse("admin:governance_offboarding_changelist")
    client.post(url, {"action": "confirm_manual_removal", "_selected_action": [manual_leaver.pk]})
    manual_leaver.refresh_from_db()
    assert manual_leaver.status == "in_progress"


def test_it_for_it_confirms_the_manual_removal(client, manual_leaver):
    staff(client, "governance.view_offboarding", "governance.confirm_manual_removal")
    url = reverse("admin:governance_offboarding_changelist")
    page = client.get(url)
    assert "confirm_manual_removal" in page.content.decode()
    client.post(url, {"action": "confirm_manual_removal", "_selected_action": [manual_leaver.pk]})
    manual_leaver.refresh_from_db()
    assert manual_leaver.status == "completed" and manual_leaver.manual_confirmed_by == "it-staff"
    assert FulfilmentTask.objects.get(action="remove").status == "done"


def test_offboardings_are_read_only(client, manual_leaver):
    staff(client, "governance.view_offboarding", "governance.change_offboarding", "governance.delete_offboarding")
    change = client.post(
        reverse("admin:governance_offboarding_change", args=[manual_leaver.pk]), {"status": "completed"}
    )
    assert change.status_code in (302, 403) or "readonly" in change.content.decode()
    delete = client.post(reverse("admin:governance_offboarding_delete", args=[manual_leaver.pk]), {"post": "yes"})
    assert delete.status_code == 403
    assert Offboarding.objects.filter(pk=manual_leaver.pk, status="in_progress").exists()


IMPORT = "admin:reviews_reclaim_import_activity"


def test_the_activity_import_needs_permission(client, company):
    staff(client, "reviews.view_reclaimpolicy")
    assert client.get(reverse(IMPORT)).status_code == 403


def test_it_imports_application_activity_from_csv(client, company):
    staff(client, "reviews.view_reclaimpolicy", "catalog.add_appactivity", "catalog.change_appactivity")
    content = (
        b"application,email,last_active_at\n"
        b"wiki,bob@example.com,2026-11-20T08:00:00Z\n"
        b"wiki,alice@example.com,2026-11-19\n"
    )
    page = client.post(reverse(IMPORT), {"file": SimpleUploadedFile("wiki.csv", content)})
    assert page.status_code == 302
    assert AppActivity.objects.count() == 2
    assert AppActivity.objects.get(person=company.alice).source == "import:wiki.csv"


def test_a_bad_activity_file_imports_nothing_and_says_why(client, company):
    staff(client, "reviews.view_reclaimpolicy", "catalog.add_appactivity", "catalog.change_appactivity")
    content = b"application,email,last_active_at\nwiki,bob@example.com,2026-11-20\nwiki,not-an-email,someday\n"
    page = client.post(reverse(IMPORT), {"file": SimpleUploadedFile("wiki.csv", content)})
    assert page.status_code == 200
    text = page.content.decode()
    assert "not an email address" in text and "is not a date" in text
    unknown = b"application,email,last_active_at\nnope,bob@example.com,2026-11-20\n"
    page = client.post(reverse(IMPORT), {"file": SimpleUploadedFile("wiki.csv", unknown)})
    assert "No application with slug" in page.content.decode()
    assert not AppActivity.objects.exists()


def test_the_dashboard_shows_leavers_and_their_offboardings(client, manual_leaver):
    staff(client, "governance.view_accessrequest")
    page = client.get("/admin/").content.decode()
    assert "<th>Leavers</th><td>1 in the period;" in page
    assert "offboardings 0 completed, 1 open;" in page  # the payroll removal task is still with IT
