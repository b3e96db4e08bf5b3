"""Metrics for IT: the numbers of the admin dashboard, from aggregate queries, as JSON and on the admin home."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.staticfiles import finders
from django.db import connection
from django.templatetags.static import static
from django.test.utils import CaptureQueriesContext

from governance.models import AccessRequest, ApprovalPolicy
from tests import company as company_factory
from tests.test_evidence_api import approve, submit

BASE = "/api/v1"


@pytest.fixture
def work(company, api, tasks):
    """Ten wiki editor requests approved by alice, one denied, one waiting; one reader request automated."""
    company_factory.policy("Readers: automatic", "automatic", role=company.reader)
    with tasks():
        for n in range(10):
            person = company_factory.person(f"p{n}@example.com", f"P {n}", manager=company.alice)
            submit(api, f"ITHELP-{n}", requester=person.email)
            approve(api, f"ITHELP-{n}")
        denied = company_factory.person("denied@example.com", "D", manager=company.alice)
        submit(api, "ITHELP-20", requester=denied.email)
        api.post(f"{BASE}/access-requests/ITHELP-20/deny/", {"approver": "alice@example.com"}, format="json")
        submit(api, "ITHELP-30")  # bob, waiting for alice
        submit(api, "ITHELP-40", requester="charlie@example.com", role="reader", duration=None)
    return company


def test_it_reports_volume_automation_timings_waiting_and_candidates(api, work):
    response = api.get(f"{BASE}/metrics/")
    assert response.status_code == 200, response.content
    metrics = response.json()
    assert metrics["requests"]["total"] == 13
    assert [(row["application"], row["requests"]) for row in metrics["requests"]["by_application"]] == [("wiki", 13)]
    automation = metrics["automation"]
    assert automation["granted"] == 11 and automation["automated"] == 1
    assert automation["manual_touches"] == 11  # ten approvals and one denial
    assert metrics["timings"]["approval"]["count"] == 11
    assert metrics["timings"]["step_decision_by_kind"]["manager"]["count"] == 11
    assert metrics["waiting"]["waiting"] == 1
    assert metrics["waiting"]["longest"][0]["request"] == "ITHELP-30"
    candidates = metrics["auto_approval_candidates"]
    assert candidates == []  # editor: 10 approved, 1 denied is under the 95 % bar
    assert "reviews" in metrics and "reclaim" in metrics


def test_a_role_approved_every_time_is_a_rule_candidate(api, company, tasks):
    with tasks():
        for n in range(12):
            person = company_factory.person(f"c{n}@example.com", f"C {n}", manager=company.alice)
            submit(api, f"ITHELP-{n}", requester=person.email)
            approve(api, f"ITHELP-{n}")
    candidates = api.get(f"{BASE}/metrics/").json()["auto_approval_candidates"]
    assert [(c["application"], c["role"], c["approved"], c["approval_rate"]) for c in candidates] == [
        ("wiki", "editor", 12, 1.0)
    ]


def test_the_period_bounds_what_is_counted(api, work):
    old = api.get(f"{BASE}/metrics/", {"from": "2001-01-01", "to": "2001-12-31"}).json()
    assert old["requests"]["total"] == 0 and old["automation"]["automation_rate"] is None
    assert old["waiting"]["waiting"] == 1  # "waiting now" is not bound to the period


@pytest.mark.parametrize(
    ("params", "field"),
    [({"from": "soon"}, "from"), ({"to": "2001-01-01", "from": "2002-01-01"}, "to"), ({"colour": "x"}, "colour")],
)
def test_bad_periods_are_400s_naming_the_field(api, company, params, field):
    response = api.get(f"{BASE}/metrics/", params)
    assert response.status_code == 400 and field in response.json()["error"]["fields"]


def test_the_query_count_does_not_grow_with_the_data(api, work, tasks):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert api.get(f"{BASE}/metrics/").status_code == 200
        return len(captured)

    before = queries()
    with tasks():
        for n in range(50, 60):
            person = company_factory.person(f"q{n}@example.com", f"Q {n}", manager=work.alice)
            submit(api, f"ITHELP-{n}", requester=person.email)
    assert queries() == before
    assert AccessRequest.objects.count() == 23


def test_the_admin_home_shows_the_dashboard_to_staff_who_may_see_requests(client, work, django_user_model):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("it", password="pw", is_staff=True)
    client.force_login(staff)
    assert "How access work is going" not in client.get("/admin/").content.decode()
    staff.user_permissions.add(Permission.objects.get(codename="view_accessrequest"))
    page = client.get("/admin/").content.decode()
    assert "How access work is going" in page and "ITHELP-30" in page
    assert "<tr><td>wiki</td><td>13</td></tr>" in page  # requests by application
    bad = client.get("/admin/", {"from": "nonsense"}).content.decode()
    assert "Use dates such as" in bad
    assert ApprovalPolicy.objects.exists()


def chart_data(page: str) -> dict[str, dict]:
    """The charts' JSON (json_script) of a dashboard page, by element id."""
    found = re.findall(r'<script id="(chart-[a-z]+)" type="application/json">(.*?)</script>', page, re.S)
    return {chart_id: json.loads(data) for chart_id, data in found}


def test_the_dashboard_carries_chart_data_tables_and_the_local_chart_script(client, api, work, django_user_model):
    from django.contrib.auth.models import Permission

    staff = django_user_model.objects.create_user("it", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_accessrequest"))
    client.force_login(staff)
    response = client.get("/admin/")
    page = response.content.decode()
    assert f'<script src="{static("governance/vendor/chartjs/chart.umd.min.js")}" defer></script>' in page
    assert f'<script src="{static("governance/dashboard-charts.js")}" defer></script>' in page
    assert finders.find("governance/vendor/chartjs/chart.umd.min.js") and finders.find("governance/dashboard-charts.js")
    # Every script is a file from this server or inert JSON: nothing inline for the CSP to refuse.
    assert all('src="/static/' in tag or 'type="application/json"' in tag for tag in re.findall(r"<script[^>]*>", page))
    assert "script-src 'self'" in response["Content-Security-Policy"]

    charts = chart_data(page)
    assert set(charts) == {
        f"chart-{name}" for name in ("volume", "approval", "provisioning", "steps", "stalls", "standing")
    }
    assert charts["chart-volume"]["labels"] == ["wiki"] and charts["chart-volume"]["series"][0]["values"] == [13]
    assert charts["chart-stalls"]["series"] == [{"label": "Requests waiting", "values": [1]}]
    assert [series["label"] for series in charts["chart-approval"]["series"]] == ["Median", "p90"]
    metrics = api.get(f"{BASE}/metrics/").json()
    trend = metrics["standing_privileged_access"]["trend"]
    assert charts["chart-standing"]["series"][0]["values"] == [point["grants"] for point in trend]
    # Each chart has its table, open for readers without JavaScript.
    assert page.count('<details class="gatehouse-numbers" open>') == 6
    assert page.count('class="gatehouse-chart" data-chart="chart-') == 6


def test_staff_who_may_not_see_requests_get_no_chart_data(client, work, django_user_model):
    client.force_login(django_user_model.objects.create_user("it", password="pw", is_staff=True))
    page = client.get("/admin/").content.decode()
    assert chart_data(page) == {} and "chart.umd.min.js" not in page
    client.logout()
    assert client.get("/admin/").status_code == 302
