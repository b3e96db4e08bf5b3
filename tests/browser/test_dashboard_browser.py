"""The admin home's dashboard in headless Chromium; the screenshot is the one in the README."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from governance import services
from tests import company as company_factory

pytestmark = [pytest.mark.browser]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "dashboard.png"


@pytest.fixture
def activity(company, django_capture_on_commit_callbacks):
    crm = company_factory.app("crm", owner=company.alice, risk="privileged")
    company_factory.role(crm, "admin", company_factory.group("crm-admins"), duration_required=False)
    with django_capture_on_commit_callbacks(execute=True):
        for n in range(3):
            person = company_factory.person(f"ops{n}@example.com", f"Ops {n}", manager=company.alice)
            request, _ = services.submit_request(
                data=services.RequestInput(
                    jira_issue_key=f"OPS-{n}", requester=person.email, application="crm", role="admin", reason="x"
                )
            )
            services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
        for n in range(6):
            person = company_factory.person(f"p{n}@example.com", f"Person {n}", manager=company.alice)
            request, _ = services.submit_request(
                data=services.RequestInput(
                    jira_issue_key=f"ITHELP-{100 + n}",
                    requester=person.email,
                    application="wiki",
                    role="editor" if n % 2 else "reader",
                    reason="work",
                )
            )
            if n < 4:
                services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
    get_user_model().objects.create_superuser("it-admin", "it@example.com", "it-admin-pass-1")
    return company


def test_it_shows_the_dashboard_on_the_admin_home(activity, live_server, browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "it-admin")
    page.fill("input[name=password]", "it-admin-pass-1")
    page.click("button[type=submit]")  # /admin/login/ leads to the one sign-in page, /accounts/login/
    page.wait_for_selector("text=How access work is going")
    assert page.locator("#dashboard svg rect").count() >= 1
    assert "Waiting for a decision now" in page.inner_text("#dashboard")
    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.locator("#dashboard").screenshot(path=str(SCREENSHOT))
    context.close()
    assert SCREENSHOT.stat().st_size > 10_000
