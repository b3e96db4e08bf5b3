"""Recurring reviews in catalog-as-code: exported, planned, applied and exported back, like every kind."""

from __future__ import annotations

from datetime import UTC, datetime
from io import StringIO
from pathlib import Path

import pytest
import yaml
from django.core.management import call_command
from django.core.management.base import CommandError

from governance.models import AuditEvent
from reviews.campaigns.recurring import schedule_template
from reviews.models import ReviewTemplate
from tests import company as c
from tests.test_catalog_code import edit, plan, snapshot

FILE = "policies/review-templates.yaml"
START = datetime(2026, 4, 1, 9, 0, tzinfo=UTC)


@pytest.fixture
def exported(company, tmp_path) -> Path:
    """A quarterly review of the wiki's editors, exported with the rest of the catalog."""
    template = ReviewTemplate.objects.create(name="Wiki editors", starts_at=START, fallback_reviewer=company.dana)
    template.roles.set([company.editor])
    schedule_template(template=template)
    call_command("catalog", "export", "-o", str(tmp_path), stdout=StringIO())
    return tmp_path


def test_it_exports_templates_as_readable_yaml(exported):
    assert yaml.safe_load((exported / FILE).read_text()) == {
        "templates": [
            {
                "name": "Wiki editors",
                "recurrence": "quarterly",
                "starts_at": "2026-04-01T09:00:00Z",
                "duration_days": 14,
                "applications": [],
                "roles": ["wiki/editor"],
                "privileged_applications": False,
                "reviewer_strategy": "manager",
                "named_reviewer": None,
                "fallback_reviewer": "dana@example.com",
                "allow_self_review": False,
                "undecided_action": "nothing",
                "inactivity_days": 90,
                "reminder_every_days": 3,
                "escalate_days_before_due": 2,
            }
        ]
    }


def test_it_round_trips_a_template_edit_exactly(exported, company, tmp_path_factory):
    assert plan(exported) == (0, "No changes: the database matches the files.\n")
    edit(
        exported / FILE,
        lambda d: d["templates"][0].update(
            recurrence="monthly", applications=["wiki"], starts_at="2026-05-04T08:00:00Z"
        ),
    )
    edited = snapshot(exported)

    code, out = plan(exported)

    assert code == 2
    assert "1 change(s):" in out and "review_templates:" in out and "~ template Wiki editors" in out
    assert "recurrence: 'quarterly' ⇒ 'monthly'" in out
    assert "applications: [] ⇒ ['wiki']" in out
    assert "starts_at: '2026-04-01T09:00:00Z' ⇒ '2026-05-04T08:00:00Z'" in out
    assert out.count("⇒") == 3

    call_command("catalog", "apply", str(exported), "--commit", "feed", stdout=StringIO())

    template = ReviewTemplate.objects.get()
    assert template.recurrence == "monthly" and list(template.applications.all()) == [company.wiki]
    assert template.next_run_at == datetime(2026, 5, 4, 8, 0, tzinfo=UTC)  # rescheduled from the new start
    event = AuditEvent.objects.get(action="catalog.review_template.changed")
    assert event.data["before"]["recurrence"] == "quarterly" and event.data["after"]["recurrence"] == "monthly"
    assert event.data["source"]["commit"] == "feed"
    assert plan(exported)[0] == 0
    again = tmp_path_factory.mktemp("again")
    call_command("catalog", "export", "-o", str(again), stdout=StringIO())
    assert snapshot(again) == edited


def test_a_template_added_in_the_files_is_created_and_scheduled(exported, company):
    vault = c.app("vault", risk="privileged")
    c.role(vault, "admin", c.group("vault-admins"))
    call_command("catalog", "export", "-o", str(exported), stdout=StringIO())
    edit(
        exported / FILE,
        lambda d: d["templates"].append(
            {
                "name": "Privileged access",
                "starts_at": "2026-07-01T09:00:00Z",
                "privileged_applications": True,
                "reviewer_strategy": "named",
                "named_reviewer": "Alice@example.com",
                "fallback_reviewer": "dana@example.com",
                "undecided_action": "revoke",
            }
        ),
    )
    code, out = plan(exported)
    assert code == 2 and "+ template Privileged access" in out

    call_command("catalog", "apply", str(exported), stdout=StringIO())

    template = ReviewTemplate.objects.get(name="Privileged access")
    assert (template.recurrence, template.privileged_applications, template.named_reviewer) == (
        "quarterly",
        True,
        company.alice,
    )
    assert template.next_run_at == datetime(2026, 7, 1, 9, 0, tzinfo=UTC)
    assert AuditEvent.objects.filter(action="catalog.review_template.created").count() == 1
    assert plan(exported)[0] == 0


def test_removing_a_template_from_the_files_deactivates_it(exported):
    edit(exported / FILE, lambda d: d.update(templates=[]))
    call_command("catalog", "apply", str(exported), stdout=StringIO())
    template = ReviewTemplate.objects.get()
    assert not template.is_active and template.next_run_at is None
    assert AuditEvent.objects.filter(action="catalog.review_template.deactivated").count() == 1


def test_an_absent_file_manages_nothing(exported):
    (exported / FILE).unlink()
    code, out = plan(exported)
    assert code == 0 and f"{FILE} is absent" in out


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"recurrence": "weekly"}, "templates[0].recurrence: must be one of monthly, quarterly, semiannual, annual."),
        ({"starts_at": "next tuesday"}, "templates[0].starts_at: must be a date and time"),
        ({"roles": ["wiki/owner"]}, "templates[0].roles: unknown role 'wiki/owner'"),
        ({"applications": ["figma"]}, "templates[0].applications: unknown application 'figma'."),
        ({"fallback_reviewer": "ghost@example.com"}, "templates[0].fallback_reviewer: unknown person 'ghost@"),
        ({"reviewer_strategy": "named"}, "templates[0].named_reviewer: Name the reviewer of the named strategy."),
        ({"duration_days": 2}, "templates[0].escalate_days_before_due: Must be fewer than the campaign's duration"),
        ({"roles": []}, "templates[0].applications: Choose the applications or roles to review"),
        ({"cadence": "often"}, "templates[0].cadence: unknown field"),
    ],
)
def test_it_names_the_file_line_and_field_of_each_problem(exported, change, message):
    edit(exported / FILE, lambda d: d["templates"][0].update(change))
    with pytest.raises(CommandError) as error:
        plan(exported)
    assert f"{FILE}:" in str(error.value) and message in str(error.value)
    assert ReviewTemplate.objects.get().recurrence == "quarterly"


def test_templates_are_read_only_in_the_admin_when_files_own_them(admin_client, exported, settings):
    settings.GATEHOUSE_CATALOG_SOURCE = "files"
    template = ReviewTemplate.objects.get()
    response = admin_client.get(f"/admin/reviews/reviewtemplate/{template.pk}/change/")
    assert response.status_code == 200 and "managed as code" in response.content.decode()
    assert admin_client.get("/admin/reviews/reviewtemplate/add/").status_code == 403
    admin_client.post(f"/admin/reviews/reviewtemplate/{template.pk}/change/", {"name": "Changed"})
    assert ReviewTemplate.objects.get().name == "Wiki editors"
