"""The admin home's dashboard in headless Chromium; the screenshot is the one in the README."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.contrib.auth import get_user_model
from django.utils import timezone

from governance import services
from provisioning.models import FulfilmentTask
from provisioning.outbox.services import complete_fulfilment_task
from tests import company as company_factory

pytestmark = [pytest.mark.browser]
SCREENSHOT = Path(__file__).resolve().parents[2] / "docs" / "screenshots" / "dashboard.png"


def ask(*, key: str, person, application: str, role: str):
    request, _ = services.submit_request(
        data=services.RequestInput(
            jira_issue_key=key, requester=person.email, application=application, role=role, reason="work"
        )
    )
    return request


@pytest.fixture
def activity(company, django_capture_on_commit_callbacks):
    """Two weeks of requests, decided hours after they were asked; crm admins are added by IT by hand."""
    it_admin = get_user_model().objects.create_superuser("it-admin", "it@example.com", "it-admin-pass-1")
    crm = company_factory.app("crm", owner=company.alice, risk="privileged", mode="manual")
    company_factory.role(crm, "admin", duration_required=False)
    now = timezone.now()
    asks = [("crm", "admin", 12, 3), ("crm", "admin", 9, 20), ("crm", "admin", 5, 40)]
    asks += [("wiki", "editor" if n % 2 else "reader", 6 - n, 1 + 5 * n) for n in range(6)]
    for n, (application, role, days_ago, hours_to_decide) in enumerate(asks):
        with time_machine.travel(now - timedelta(days=days_ago), tick=False) as moment:
            person = company_factory.person(f"p{n}@example.com", f"Person {n}", manager=company.alice)
            with django_capture_on_commit_callbacks(execute=True):
                request = ask(key=f"ITHELP-{100 + n}", person=person, application=application, role=role)
            if n >= 7:
                continue  # the last two wiki requests still wait for alice
            moment.shift(timedelta(hours=hours_to_decide))
            with django_capture_on_commit_callbacks(execute=True):
                services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
            if application == "crm":
                moment.shift(timedelta(hours=2 + 3 * n))
                with django_capture_on_commit_callbacks(execute=True):
                    complete_fulfilment_task(task=FulfilmentTask.objects.get(grants__request=request), user=it_admin)
    return company


# Recorded from before the page's own scripts run: CSP violations and uncaught errors.
WATCH = """
window.gatehouseProblems = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.gatehouseProblems.push(`csp ${event.violatedDirective} ${event.blockedURI}`);
});
window.addEventListener("error", (event) => window.gatehouseProblems.push(`error ${event.message}`));
"""

# For each chart: is there a Chart.js instance on its canvas, and did it paint anything?
DRAWN = """
() => [...document.querySelectorAll("#dashboard .gatehouse-chart canvas")].map((canvas) => {
  const pixels = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
  let painted = 0;
  for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
  return {chart: Boolean(window.Chart && window.Chart.getChart(canvas)), painted, height: canvas.height};
})
"""


def sign_in(page, live_server) -> None:
    page.goto(f"{live_server.url}/admin/login/?next=/admin/")
    page.fill("input[name=username]", "it-admin")
    page.fill("input[name=password]", "it-admin-pass-1")
    page.click("button[type=submit]")  # /admin/login/ leads to the one sign-in page, /accounts/login/
    page.wait_for_selector("text=How access work is going")


def test_it_draws_the_dashboard_charts_with_chart_js_under_the_csp(activity, live_server, browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900})
    page = context.new_page()
    page.add_init_script(WATCH)
    console_errors: list[str] = []
    page.on(
        "console",
        lambda message: message.type == "error" and console_errors.append(f"{message.text} {message.location['url']}"),
    )
    sign_in(page, live_server)
    page.wait_for_function("() => document.querySelectorAll('#dashboard .gatehouse-chart:not([hidden])').length >= 6")
    assert "script-src 'self'" in page.evaluate(
        "() => fetch(location.href).then((r) => r.headers.get('content-security-policy'))"
    )

    charts = page.evaluate(DRAWN)
    assert len(charts) == 6  # requests, approval, provisioning, step decisions, stalls, standing access
    assert all(chart["chart"] for chart in charts), charts
    assert all(chart["painted"] > 500 for chart in charts), charts
    assert page.evaluate("() => window.gatehouseProblems") == []
    # The browser asks for /favicon.ico by itself (the admin has none); anything else is a problem.
    assert [error for error in console_errors if "Failed to load" not in error or "/favicon.ico" not in error] == []
    # Drawn charts fold their tables away; the numbers are still on the page.
    assert page.locator("#dashboard details.gatehouse-numbers[open]").count() == 0
    assert page.locator("#dashboard details.gatehouse-numbers table").count() == 6
    assert "Waiting for a decision now" in page.inner_text("#dashboard")

    SCREENSHOT.parent.mkdir(parents=True, exist_ok=True)
    page.locator("#dashboard").screenshot(path=str(SCREENSHOT))
    assert SCREENSHOT.stat().st_size > 10_000

    # The watch does see a violation: an inline script is refused and reported.
    page.evaluate("() => { const s = document.createElement('script'); s.textContent = '1'; document.body.append(s); }")
    page.wait_for_function("() => window.gatehouseProblems.length > 0")
    assert page.evaluate("() => window.gatehouseProblems")[0].startswith("csp script-src")
    context.close()


def test_it_shows_the_numbers_as_tables_without_javascript(activity, live_server, browser):
    context = browser.new_context(viewport={"width": 1366, "height": 900}, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server)
    assert page.locator("#dashboard details.gatehouse-numbers[open] table").count() == 6
    assert page.locator("#dashboard .gatehouse-chart[hidden]").count() == 6
    assert page.locator("#dashboard details.gatehouse-numbers table").first.is_visible()
    numbers = page.inner_text("#dashboard")
    assert "crm\t3" in numbers and "wiki\t6" in numbers  # requests by application
    context.close()
