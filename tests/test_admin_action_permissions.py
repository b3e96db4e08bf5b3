"""Every admin action of every registered ModelAdmin needs a specific permission, never only view.

Generated from `admin.site._registry`: a new action without `permissions=[...]` fails here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.test import RequestFactory
from django.urls import reverse

from governance import services
from governance.models import ApiToken, Grant
from reviews.campaigns import services as campaigns
from reviews.models import ReviewCampaign

VIEW_ONLY = {"view"}  # Django's built-in permission that never allows a change


def every_action() -> list[tuple[admin.ModelAdmin, str, object]]:
    """(model admin, action name, action function) for every action, site-wide ones included."""
    found = []
    for model_admin in admin.site._registry.values():
        for func, name, _description in model_admin._get_base_actions():
            found.append((model_admin, name, func))
    return found


def action_id(entry) -> str:
    model_admin, name, _ = entry
    return f"{model_admin.model._meta.label}.{name}"


ACTIONS = every_action()


@pytest.mark.parametrize("entry", ACTIONS, ids=[action_id(e) for e in ACTIONS])
def test_each_action_declares_a_specific_permission(entry):
    model_admin, _name, func = entry
    perms = getattr(func, "allowed_permissions", ())
    assert perms, f"{action_id(entry)} declares no permissions"
    assert not set(perms) & VIEW_ONLY, f"{action_id(entry)} needs only view"
    for perm in perms:
        assert callable(getattr(model_admin, f"has_{perm}_permission", None)), f"{action_id(entry)}: has_{perm}_..."


def test_the_walk_covers_the_actions_we_wrote():
    names = {action_id(e) for e in ACTIONS}
    for expected in (
        "governance.Grant.revoke_now",
        "governance.Grant.extend",
        "governance.AccessRequest.approve_current_step",
        "governance.ApiToken.revoke_tokens",
        "reviews.ReviewCampaign.close_now",
        "django_q.Failure.resubmit_task",
    ):
        assert expected in names


@pytest.fixture
def rows(company, django_capture_on_commit_callbacks):
    """One of each thing an action can change: a pending request, a live grant, a token, a campaign."""
    with django_capture_on_commit_callbacks(execute=True):
        pending = services.submit_request(
            data=services.RequestInput(
                jira_issue_key="IT-1", requester="bob@example.com", application="wiki", role="editor", reason="x"
            )
        )[0]
        granted = services.submit_request(
            data=services.RequestInput(
                jira_issue_key="IT-2", requester="bob@example.com", application="wiki", role="reader", reason="x"
            )
        )[0]
        services.decide_step(request=granted, actor=services.Actor.of_person(company.alice), approve=True)
    services.create_api_token(name="automation", scopes="all", actor=services.Actor.system("tests"))
    campaign = ReviewCampaign.objects.create(
        name="Q1",
        starts_at=pending.created_at,
        due_at=pending.created_at + timedelta(days=14),
        fallback_reviewer=company.dana,
    )
    campaign.applications.set([company.wiki])
    campaigns.launch_campaign(campaign=campaign, actor=services.Actor.system("tests"))
    assert Grant.objects.filter(status="active").exists() and ApiToken.objects.exists()
    return company


def snapshot() -> dict[str, list[dict]]:
    """Every row of every installed model, to compare before and after."""
    return {
        model._meta.label: sorted(map(repr, model.objects.values()))
        for model in apps.get_models()
        if model._meta.label not in ("sessions.Session",)
    }


@pytest.fixture
def viewer(rows):
    user = User.objects.create_user("viewer", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__startswith="view_"))
    rows.dana.user = user  # the fallback approver: eligible to decide, were the action allowed
    rows.dana.save(update_fields=["user"])
    return user


def test_it_offers_no_action_to_a_view_only_user(viewer):
    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(pk=viewer.pk)
    offered = {
        model_admin.model._meta.label: list(model_admin.get_actions(request))
        for model_admin in admin.site._registry.values()
    }
    assert {label: names for label, names in offered.items() if names} == {}


def test_a_posted_action_changes_nothing_for_a_view_only_user(client, viewer, django_capture_on_commit_callbacks):
    client.force_login(viewer)
    before = snapshot()
    for model_admin, name, _func in ACTIONS:
        opts = model_admin.model._meta
        ids = [str(pk) for pk in model_admin.model.objects.values_list("pk", flat=True)] or ["1"]
        url = reverse(f"admin:{opts.app_label}_{opts.model_name}_changelist")
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(
                url,
                {"action": name, "_selected_action": ids, "confirm": "yes", "reason": "because", "duration": "P1D"},
            )
        assert response.status_code in (200, 302, 403), (action_id((model_admin, name, None)), response.status_code)
    assert snapshot() == before


def test_a_user_with_the_specific_permission_is_offered_the_action(rows):
    user = User.objects.create_user("revoker", password="pw", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=["view_grant", "revoke_grant"]))
    request = RequestFactory().get("/admin/")
    request.user = User.objects.get(pk=user.pk)
    assert list(admin.site._registry[Grant].get_actions(request)) == ["revoke_now"]
