"""The request form's cascading field (parent = application, child = role), published through the
real Jira client against the Jira emulator's field-context options, and intake from its value."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command

from catalog.models import Application, Role
from governance import tasks
from governance.jira.catalog_field import publish
from governance.jira.client import JiraClient, jira_config
from governance.models import JiraCatalogOption, JiraUpdate
from tests import company as c
from tests.emulators.jira import JiraEmulator

FIELD, CONTEXT = "customfield_10050", "10150"
T0 = datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
WRITES = r"/rest/api/3/field/.*/option.*"


@pytest.fixture
def emu():
    with JiraEmulator() as emulator:
        emulator.add_cascading_field(FIELD, CONTEXT)
        yield emulator


@pytest.fixture
def jira_on(settings, emu):
    settings.JIRA_ENABLED = True
    settings.JIRA_BASE_URL = emu.base_url
    settings.JIRA_EMAIL = emu.email
    settings.JIRA_API_TOKEN = emu.api_token
    settings.JIRA = {**settings.JIRA, "TIMEOUT_SECONDS": 2.0}
    settings.JIRA_CATALOG_FIELD_ID = FIELD
    settings.JIRA_CATALOG_CONTEXT_ID = CONTEXT
    return settings


def run_publish() -> list[str]:
    with JiraClient(jira_config()) as client:
        return publish(client)


def tree(emu, **kwargs):
    return emu.field_tree(FIELD, CONTEXT, **kwargs)


def writes(emu) -> int:
    return sum(len(emu.calls_to(method, WRITES)) for method in ("POST", "PUT"))


def test_it_adds_exactly_the_requestable_applications_and_roles(company, jira_on, emu):
    c.app("draft-app", status="draft")
    c.role(company.wiki, "hidden", requestable=False)
    changes = run_publish()
    assert tree(emu) == [("Wiki", ["Editor", "Reader"])]
    assert changes == ["add Wiki", "add Wiki / Editor", "add Wiki / Reader"]
    posted = emu.calls_to("POST", WRITES)[1].json()
    parent_id = emu.contexts[(FIELD, CONTEXT)][0]["id"]
    assert posted == {"options": [{"value": "Editor", "optionId": parent_id}]}


def test_a_second_publication_changes_nothing(company, jira_on, emu):
    run_publish()
    before = writes(emu)
    assert run_publish() == []
    assert writes(emu) == before


def test_a_rename_updates_the_same_option(company, jira_on, emu):
    run_publish()
    ids = [o["id"] for o in emu.contexts[(FIELD, CONTEXT)]]
    Application.objects.filter(pk=company.wiki.pk).update(name="Team Wiki")
    Role.objects.filter(pk=company.editor.pk).update(name="Writer")
    changes = run_publish()
    assert tree(emu) == [("Team Wiki", ["Reader", "Writer"])]
    assert sorted(o["id"] for o in emu.contexts[(FIELD, CONTEXT)]) == sorted(ids)  # no new option
    assert "rename 'Wiki' → 'Team Wiki'" in changes and "rename 'Editor' → 'Writer'" in changes


def test_retired_and_non_requestable_entries_are_disabled_never_deleted(company, jira_on, emu):
    other = c.app("notion")
    c.role(other, "member")
    run_publish()
    Application.objects.filter(pk=other.pk).update(status="retired")
    Role.objects.filter(pk=company.reader.pk).update(requestable=False)
    changes = run_publish()
    assert tree(emu) == [("Wiki", ["Editor"])]
    assert tree(emu, enabled_only=False) == [("Notion", ["Member"]), ("Wiki", ["Editor", "Reader"])]
    assert sorted(changes) == ["disable Notion", "disable Notion / Member", "disable Wiki / Reader"]
    assert emu.calls_to("DELETE", WRITES) == []
    Application.objects.filter(pk=other.pk).update(status="approved")
    assert run_publish() == ["enable Notion", "enable Notion / Member"]
    assert tree(emu)[0] == ("Notion", ["Member"])


def test_options_follow_the_catalogs_order(company, jira_on, emu):
    run_publish()
    asana = c.app("asana")
    c.role(asana, "guest")
    changes = run_publish()
    assert [parent for parent, _ in tree(emu)] == ["Asana", "Wiki"]
    assert "reorder applications" in changes
    move = emu.calls_to("PUT", WRITES + "/move")[-1].json()
    assert move["position"] == "First" and len(move["customFieldOptionIds"]) == 2
    options = emu.contexts[(FIELD, CONTEXT)]
    options.reverse()  # someone reordered the form by hand
    run_publish()
    assert tree(emu) == [("Asana", ["Guest"]), ("Wiki", ["Editor", "Reader"])]


def test_options_with_the_right_label_are_adopted(company, jira_on, emu):
    emu.contexts[(FIELD, CONTEXT)].append({"id": "500", "value": "Wiki", "disabled": False})
    emu.contexts[(FIELD, CONTEXT)].append({"id": "501", "value": "Editor", "disabled": False, "optionId": "500"})
    run_publish()
    assert tree(emu) == [("Wiki", ["Editor", "Reader"])]
    assert JiraCatalogOption.objects.get(role=company.editor).option_id == "501"


def test_dry_run_prints_and_changes_nothing(company, jira_on, emu):
    out = StringIO()
    call_command("publish_catalog", "--dry-run", stdout=out)
    assert "would change: add Wiki" in out.getvalue() and "would change: add Wiki / Editor" in out.getvalue()
    assert writes(emu) == 0 and tree(emu) == []


def test_a_catalog_change_publishes_through_the_queue_and_survives_jira_down(
    company, jira_on, emu, django_capture_on_commit_callbacks
):
    with time_machine.travel(T0, tick=False) as clock:
        emu.fail(3)
        with django_capture_on_commit_callbacks(execute=True):
            Application.objects.filter(pk=company.wiki.pk).update(name="Team Wiki")
            c.role(company.wiki, "admin")  # a saved role queues a publication
        update = JiraUpdate.objects.get(kind=JiraUpdate.Kind.PUBLISH_CATALOG)
        assert update.status == JiraUpdate.Status.QUEUED and "503" in update.last_error
        assert tree(emu) == []
        for _ in range(5):
            clock.shift(timedelta(hours=1, seconds=1))
            tasks.sweep_jira_updates()
        update.refresh_from_db()
        assert update.status == JiraUpdate.Status.SENT
        assert tree(emu) == [("Team Wiki", ["Admin", "Editor", "Reader"])]


def test_publications_are_coalesced_and_scheduled_hourly(company, jira_on, emu):
    c.app("one")
    c.app("two")
    assert JiraUpdate.objects.filter(kind=JiraUpdate.Kind.PUBLISH_CATALOG, status="queued").count() == 1
    assert tasks.publish_jira_catalog().startswith("queued Jira update")
    from governance.schedules import SCHEDULES

    publish = SCHEDULES["publish the catalog to Jira"]
    assert (publish["func"], publish["minutes"]) == ("governance.tasks.publish_jira_catalog", 60)


def test_nothing_is_queued_without_the_field_settings(company, settings, emu):
    settings.JIRA_CATALOG_FIELD_ID = ""
    c.app("one")
    assert not JiraUpdate.objects.filter(kind=JiraUpdate.Kind.PUBLISH_CATALOG).exists()


# -- intake from the field's value ---------------------------------------------------------------


def body(**over):
    data = {"jira_issue_key": "IT-7", "requester": "bob@example.com", "duration": "PT6H", "reason": "docs"}
    data.update(over)
    return data


def test_intake_maps_the_option_labels_to_slugs(company, api):
    response = api.post(
        "/api/v1/access-requests/", body(catalog_application="Wiki", catalog_role="Editor"), format="json"
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["application"], response.json()["role"]) == ("wiki", "editor")


def test_intake_maps_option_ids_to_slugs(company, api, jira_on, emu):
    run_publish()
    parent = JiraCatalogOption.objects.get(application=company.wiki, role=None).option_id
    child = JiraCatalogOption.objects.get(role=company.reader).option_id
    response = api.post("/api/v1/access-requests/", body(catalog_application=parent, catalog_role=child), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["role"] == "reader"


@pytest.mark.parametrize(
    ("over", "field"),
    [
        ({"catalog_application": "Nope", "catalog_role": "Editor"}, "catalog_application"),
        ({"catalog_application": "Wiki", "catalog_role": "Nope"}, "catalog_role"),
        ({"catalog_application": "Wiki"}, "catalog_role"),
        ({"catalog_application": "Wiki", "catalog_role": "Editor", "role": "reader"}, "role"),
        ({}, "application"),
    ],
)
def test_intake_names_the_field_it_cannot_map(company, api, over, field):
    response = api.post("/api/v1/access-requests/", body(**over), format="json")
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
