"""Catalog and policy edits in the admin are audit events with before/after; deletions keep the chain intact."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from catalog.models import Application, Person
from governance.audit.chain import verify_chain
from governance.audit.services import Actor, record
from governance.models import AuditEvent
from tests import company as company_factory


@pytest.fixture
def admin_client(client, company):
    user = get_user_model().objects.create_superuser("it", "it@example.com", "pw")
    client.force_login(user)
    return client


def _person_form(person: Person, **changes) -> dict:
    form = {
        "email": person.email,
        "name": person.name,
        "department": person.department,
        "title": person.title,
        "status": person.status,
        "directory": person.directory,
        "external_id": person.external_id,
        "manager": person.manager_id or "",
    }
    form.update(changes)
    return {key: value for key, value in form.items() if value is not None}


def test_a_person_status_change_records_before_and_after(admin_client, company):
    url = f"/admin/catalog/person/{company.bob.pk}/change/"
    response = admin_client.post(url, _person_form(company.bob, status="suspended"))
    assert response.status_code == 302, response.content.decode()[:3000]
    event = AuditEvent.objects.get(action="catalog.person.changed")
    assert event.actor == "admin:it"
    assert "status" in event.data["changed"]  # with status_changed_at, stamped on the change
    assert event.data["before"]["status"] == "active" and event.data["after"]["status"] == "suspended"
    assert "Bob Builder" in event.message


def test_saving_without_changes_writes_nothing(admin_client, company):
    admin_client.post(f"/admin/catalog/person/{company.bob.pk}/change/", _person_form(company.bob))
    assert not AuditEvent.objects.filter(action__startswith="catalog.person").exists()


def test_a_role_group_mapping_change_is_in_the_diff(admin_client, company):
    extra = company_factory.group("wiki-extra")
    role = company.reader
    form = {
        "application": role.application_id,
        "slug": role.slug,
        "name": role.name,
        "description": role.description,
        "requestable": "on",
        "allowed_durations": "[]",
        "group_mappings-TOTAL_FORMS": "2",
        "group_mappings-INITIAL_FORMS": "1",
        "group_mappings-MIN_NUM_FORMS": "0",
        "group_mappings-MAX_NUM_FORMS": "1000",
        "group_mappings-0-id": role.group_mappings.get().pk,
        "group_mappings-0-role": role.pk,
        "group_mappings-0-group": company.readers.pk,
        "group_mappings-1-role": role.pk,
        "group_mappings-1-group": extra.pk,
    }
    response = admin_client.post(f"/admin/catalog/role/{role.pk}/change/", form)
    assert response.status_code == 302, response.content.decode()[:3000]
    event = AuditEvent.objects.get(action="catalog.role.changed")
    key = next(name for name in event.data["changed"] if "mapping" in name or "group" in name)
    assert len(event.data["after"][key]) == len(event.data["before"][key]) + 1


def test_deleting_an_application_is_recorded_and_the_chain_holds(admin_client, company):
    doomed = company_factory.app("doomed", owner=company.alice)
    response = admin_client.post(f"/admin/catalog/application/{doomed.pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Application.objects.filter(slug="doomed").exists()
    event = AuditEvent.objects.get(action="catalog.application.deleted")
    assert event.data["before"]["slug"] == "doomed"
    assert verify_chain().broken is None


def test_a_deleted_person_nulls_links_without_breaking_the_chain(company, db):
    ghost = company_factory.person("ghost@example.com", "Ghost")
    record("test.about_ghost", "an event about a person later deleted", actor=Actor.system("test"), subject=ghost)
    ghost_id = ghost.pk
    ghost.delete()
    event = AuditEvent.objects.get(action="test.about_ghost")
    assert event.subject_id is None and f"subject={ghost_id}" in event.refs
    assert verify_chain().broken is None
    AuditEvent.objects.filter(pk=event.pk).update(refs="subject=1")
    assert verify_chain().broken.event_id == event.pk
