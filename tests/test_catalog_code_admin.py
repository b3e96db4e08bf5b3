"""With GATEHOUSE_CATALOG_SOURCE=files the admin shows what the files own, read-only, with a banner."""

from __future__ import annotations

import pytest
from django.contrib import admin
from django.contrib.auth import get_user_model
from django.test import override_settings

from catalog.models import Application, Person, Role
from governance.catalog_code.admin import FilesOwnedMixin
from governance.models import ApprovalPolicy, AutoApprovalRule
from reviews.models import ReclaimPolicy

OWNED = [Application, Role, ApprovalPolicy, AutoApprovalRule, ReclaimPolicy]
BANNER = "managed as code (GATEHOUSE_CATALOG_SOURCE=files)"


@pytest.fixture
def admin_client(client, company):
    user = get_user_model().objects.create_superuser("it", "it@example.com", "pw")
    client.force_login(user)
    return client


@pytest.mark.parametrize("model", OWNED, ids=lambda model: model.__name__)
def test_every_owned_admin_has_the_mixin_after_the_audit_mixin(model):
    assert isinstance(admin.site._registry[model], FilesOwnedMixin)


@override_settings(GATEHOUSE_CATALOG_SOURCE="files")
@pytest.mark.parametrize("model", OWNED, ids=lambda model: model.__name__)
def test_files_make_add_change_and_delete_unavailable(admin_client, rf, model):
    request = rf.get("/admin/")
    request.user = get_user_model().objects.get(username="it")
    model_admin = admin.site._registry[model]
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.has_view_permission(request)


@override_settings(GATEHOUSE_CATALOG_SOURCE="files")
def test_the_change_page_is_read_only_with_a_banner(admin_client, company):
    page = admin_client.get(f"/admin/catalog/application/{company.wiki.pk}/change/")
    assert page.status_code == 200
    assert BANNER in page.content.decode()
    assert 'name="name"' not in page.content.decode()  # no editable field
    assert 'name="roles-0-name"' not in page.content.decode()  # the roles inline is read-only too


@override_settings(GATEHOUSE_CATALOG_SOURCE="files")
def test_a_post_is_refused_and_changes_nothing(admin_client, company):
    response = admin_client.post(
        f"/admin/catalog/application/{company.wiki.pk}/change/",
        {"slug": "wiki", "name": "Hacked", "status": "approved", "risk_tier": "low", "provisioning_mode": "automatic"},
    )
    assert response.status_code == 403
    assert Application.objects.get(pk=company.wiki.pk).name == "Wiki"
    assert admin_client.get("/admin/catalog/application/add/").status_code == 403
    assert admin_client.post(f"/admin/catalog/role/{company.reader.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Role.objects.filter(pk=company.reader.pk).exists()


@override_settings(GATEHOUSE_CATALOG_SOURCE="files")
def test_the_list_shows_the_banner_and_people_stay_editable(admin_client, company):
    listing = admin_client.get("/admin/governance/approvalpolicy/")
    assert listing.status_code == 200 and BANNER in listing.content.decode()
    person = admin_client.get(f"/admin/catalog/person/{Person.objects.first().pk}/change/")
    assert BANNER not in person.content.decode() and 'name="name"' in person.content.decode()


def test_without_the_setting_the_admin_edits_as_before(admin_client, company):
    page = admin_client.get(f"/admin/catalog/application/{company.wiki.pk}/change/")
    assert BANNER not in page.content.decode() and 'name="name"' in page.content.decode()
