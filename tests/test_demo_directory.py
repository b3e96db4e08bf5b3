"""The demo company loads into the local directory, or into Google Workspace by environment alone."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from catalog.models import GroupMembership, IdpGroup, Person
from provisioning.models import LocalMembership


@pytest.mark.django_db
def test_the_demo_loads_into_the_local_directory_by_default():
    out = StringIO()
    call_command("load_demo", stdout=out)

    assert set(IdpGroup.objects.values_list("connector", flat=True)) == {"local"}
    assert IdpGroup.objects.filter(external_id="github-members").exists()
    assert Person.objects.filter(email="priya@northwind.example").exists()
    assert LocalMembership.objects.exists() and GroupMembership.objects.exists()
    assert "groups in the 'local' directory, people @northwind.example" in out.getvalue()


@pytest.mark.django_db
def test_the_demo_binds_its_roles_to_google_groups_when_told_to(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "DEMO_DIRECTORY": "google"}
    settings.GOOGLE = {**settings.GOOGLE, "DOMAIN": "Northwind.test"}

    call_command("load_demo", stdout=StringIO())

    assert set(IdpGroup.objects.values_list("connector", flat=True)) == {"google"}
    github = IdpGroup.objects.get(name="github-members")
    assert github.external_id == "github-members@northwind.test"
    assert github.role_mappings.exists()
    assert Person.objects.filter(email="priya@northwind.test").exists()
    assert not LocalMembership.objects.exists() and not GroupMembership.objects.exists()  # the first sync reads them


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("directory", "domain", "message"),
    [("google", "", "needs GOOGLE_DOMAIN"), ("okta", "x.test", "must be 'local' or 'google', not 'okta'")],
)
def test_the_demo_refuses_a_directory_it_cannot_load_into(settings, directory, domain, message):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "DEMO_DIRECTORY": directory}
    settings.GOOGLE = {**settings.GOOGLE, "DOMAIN": domain}

    with pytest.raises(CommandError, match=message):
        call_command("load_demo", stdout=StringIO())

    assert not Person.objects.exists()


@pytest.mark.django_db
def test_bootstrap_links_the_admin_to_the_demo_head_of_it_in_the_chosen_domain(settings):
    settings.GATEHOUSE = {**settings.GATEHOUSE, "DEMO_DIRECTORY": "google"}
    settings.GOOGLE = {**settings.GOOGLE, "DOMAIN": "northwind.test"}

    call_command("bootstrap", stdout=StringIO())

    assert Person.objects.get(email="priya@northwind.test").user.username == "admin"
