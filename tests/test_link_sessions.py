"""Sessions opened by signed links are scoped to the link's object; link pages are no-store and CSP'd;
link tokens never reach a log line."""

from __future__ import annotations

import logging

import pytest
import time_machine

from accounts.access_log import RedactingGunicornLogger, RedactLinkTokens, redact
from governance import services
from governance.notifications.services import approval_link
from reviews.campaigns import services as campaigns
from tests.sso import provider, sign_in
from tests.test_reviews_campaigns import NOW, launch, make_campaign, world  # noqa: F401  (world: a fixture)


def path_of(url: str) -> str:
    return url.split("127.0.0.1:8000", 1)[-1]


@pytest.fixture
def two_campaigns(world):  # noqa: F811
    """alice reviews in both campaigns; her link opens only the first."""
    first = launch(make_campaign(world, name="First"))
    second = launch(make_campaign(world, name="Second"))
    return world, first, second


def test_a_review_link_opens_its_campaign_and_nothing_else(client, two_campaigns):
    w, first, second = two_campaigns
    with time_machine.travel(NOW, tick=False):
        opened = client.get(path_of(campaigns.review_link(first, w.alice)), follow=True)
        assert opened.status_code == 200 and "First" in opened.content.decode()
        assert client.get(f"/reviews/{first.pk}/").status_code == 200
        other = client.get(f"/reviews/{second.pk}/")
        assert other.status_code == 302 and other["Location"].startswith("/accounts/login/")
        assert client.post(f"/reviews/{second.pk}/submit/").status_code == 302
        assert client.get("/reviews/").status_code == 302  # the home page needs a login
        assert client.get("/admin/").status_code == 302
        assert "_auth_user_id" not in client.session


def test_review_pages_are_never_cached(client, two_campaigns):
    w, first, _ = two_campaigns
    with time_machine.travel(NOW, tick=False):
        link = client.get(path_of(campaigns.review_link(first, w.alice)))
        page = client.get(link["Location"])
    for response in (link, page):
        assert "no-store" in response["Cache-Control"]
        assert "default-src 'self'" in response["Content-Security-Policy"]


@pytest.fixture
def step(company):
    request = services.submit_request(
        data=services.RequestInput(
            jira_issue_key="IT-9", requester="bob@example.com", application="wiki", role="reader", reason="x"
        )
    )[0]
    other = services.submit_request(
        data=services.RequestInput(
            jira_issue_key="IT-10", requester="charlie@example.com", application="wiki", role="reader", reason="x"
        )
    )[0]
    return services.current_step(request), services.current_step(other)


def test_an_approval_link_is_exchanged_for_a_token_less_page(client, company, step):
    mine, _ = step
    response = client.get(path_of(approval_link(mine, company.alice)))
    assert response.status_code == 302 and response["Location"] == f"/approvals/step/{mine.pk}/"
    page = client.get(response["Location"])
    assert page.status_code == 200 and "IT-9" in page.content.decode()
    assert "no-store" in response["Cache-Control"] and "no-store" in page["Cache-Control"]
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    assert page["Referrer-Policy"] == "same-origin" and page["X-Frame-Options"] == "DENY"


def test_an_approval_link_session_opens_only_its_step(client, company, step):
    mine, other = step
    client.get(path_of(approval_link(mine, company.alice)))
    refused = client.get(f"/approvals/step/{other.pk}/")
    assert refused.status_code == 403 and "Open the link from your email" in refused.content.decode()
    assert client.post(f"/approvals/step/{other.pk}/", {"decision": "approve"}).status_code == 403
    other.refresh_from_db()
    assert other.status == "pending"
    assert client.get("/admin/").status_code == 302 and client.get("/reviews/").status_code == 302


def test_a_step_page_without_a_link_is_refused(client, company, step):
    mine, _ = step
    assert client.get(f"/approvals/step/{mine.pk}/").status_code == 403


@pytest.fixture
def sso_links(settings):
    with provider(settings) as idp:
        settings.GATEHOUSE = {**settings.GATEHOUSE, "APPROVAL_LINK_REQUIRES_SSO": True}
        yield idp


def test_a_link_that_requires_sso_asks_for_its_addressee(client, company, step, sso_links):
    mine, _ = step
    client.get(path_of(approval_link(mine, company.alice)))
    asked = client.get(f"/approvals/step/{mine.pk}/")
    assert asked.status_code == 302 and asked["Location"] == f"/oidc/login/?next=%2Fapprovals%2Fstep%2F{mine.pk}%2F"
    sso_links.add_user("alice", email="alice@example.com")
    sso_links.sign_in_as = "alice"
    back = sign_in(client, f"/approvals/step/{mine.pk}/")
    assert back["Location"] == f"/approvals/step/{mine.pk}/"
    assert client.get(back["Location"]).status_code == 200


def test_a_link_that_requires_sso_refuses_someone_else(client, company, step, sso_links):
    mine, _ = step
    sso_links.add_user("charlie", email="charlie@example.com")
    sso_links.sign_in_as = "charlie"
    sign_in(client, "/reviews/")
    client.get(path_of(approval_link(mine, company.alice)))
    page = client.get(f"/approvals/step/{mine.pk}/")
    assert page.status_code == 403 and "This link is for someone else" in page.content.decode()


TOKEN = "eyJzIjo1LCJwIjoyfQ:1tFoo:AbCdEf"


def test_link_tokens_are_redacted_from_log_lines():
    assert redact(f"GET /approvals/{TOKEN}/ HTTP/1.1") == "GET /approvals/[redacted]/ HTTP/1.1"
    assert redact(f"/reviews/link/{TOKEN}/") == "/reviews/link/[redacted]/"
    assert redact("/approvals/step/12/") == "/approvals/step/12/"
    record = logging.LogRecord(
        "django.request", logging.WARNING, "x", 1, "Forbidden: %s", (f"/approvals/{TOKEN}/",), None
    )
    RedactLinkTokens().filter(record)
    assert TOKEN not in record.getMessage()


def test_the_access_log_redacts_link_tokens():
    from types import SimpleNamespace

    from gunicorn.config import Config

    logger = RedactingGunicornLogger(Config())
    environ = {
        "REQUEST_METHOD": "GET",
        "RAW_URI": f"/approvals/{TOKEN}/",
        "PATH_INFO": f"/approvals/{TOKEN}/",
        "QUERY_STRING": "",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "HTTP_REFERER": f"https://gatehouse.example.com/reviews/link/{TOKEN}/",
    }
    response = SimpleNamespace(status="302 Found", headers=[], response_length=0, sent=0)
    request = SimpleNamespace(headers=[], peer_addr=("127.0.0.1", 1))
    atoms = logger.atoms(response, request, environ, __import__("datetime").timedelta(seconds=0.01))
    assert TOKEN not in repr(atoms) and atoms["r"] == "GET /approvals/[redacted]/ HTTP/1.1"


def test_a_signed_in_approver_opens_their_step_without_a_link(client, company, step, sso_links):
    mine, _ = step
    sso_links.add_user("alice", email="alice@example.com")
    sso_links.sign_in_as = "alice"
    sign_in(client, "/reviews/")
    assert client.get(f"/approvals/step/{mine.pk}/").status_code == 200


def test_a_signed_in_person_who_is_not_the_approver_sees_nothing(client, company, step, sso_links):
    mine, _ = step
    sso_links.add_user("charlie", email="charlie@example.com")
    sso_links.sign_in_as = "charlie"
    sign_in(client, "/reviews/")
    page = client.get(f"/approvals/step/{mine.pk}/")
    assert page.status_code == 403 and "IT-9" not in page.content.decode()
