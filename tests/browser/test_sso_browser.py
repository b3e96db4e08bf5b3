"""Company SSO in headless Chromium: the admin through the OIDC emulator, with no CSP violation."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission, User

from governance.models import AuditEvent
from tests.sso import provider

pytestmark = [pytest.mark.browser]


@pytest.fixture
def idp(live_server, settings, company):
    callback = f"{live_server.url}/oidc/callback/"
    with provider(settings, redirect_uri=callback, ADMIN_GROUPS={"gatehouse-admins": "IT admins"}) as emulator:
        settings.GATEHOUSE = {**settings.GATEHOUSE, "BASE_URL": live_server.url}
        emulator.add_user("dana", email="dana@example.com", groups=["Everyone", "gatehouse-admins"])
        emulator.sign_in_as = "dana"
        yield emulator


def test_it_signs_in_to_the_admin_with_company_sso(idp, live_server, browser, company, artifacts):
    admins = Group.objects.create(name="IT admins")
    admins.permissions.add(*Permission.objects.filter(codename__in=["view_grant", "view_accessrequest"]))
    page = browser.new_page()
    violations: list[str] = []
    page.on(
        "console",
        lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
    )

    page.goto(f"{live_server.url}/admin/")
    assert "/accounts/login/" in page.url
    assert page.locator("input[type=password]").count() == 0  # SSO on: no password form
    page.click("text=Sign in with company SSO")
    page.wait_for_url(f"{live_server.url}/admin/")
    assert "Site administration" in page.inner_text("body")
    page.goto(f"{live_server.url}/admin/governance/grant/")
    page.wait_for_selector("#changelist")
    page.screenshot(path=str(artifacts / "sso-admin.png"), full_page=True)

    page.goto(f"{live_server.url}/api/docs/")
    page.wait_for_selector(".swagger-ui .info", timeout=20000)  # Swagger UI ran under the CSP
    page.close()

    assert violations == []
    user = User.objects.get(person=company.dana)
    assert user.is_staff and list(user.groups.values_list("name", flat=True)) == ["IT admins"]
    assert AuditEvent.objects.filter(action="sso.signed_in", subject=company.dana).count() == 1
