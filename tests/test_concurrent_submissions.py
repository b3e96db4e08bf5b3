"""Concurrent submissions, each thread on its own database connection (SQLite and PostgreSQL passes).

Identical deliveries of one Jira issue all answer 200/201 with the same request; different issue keys
for one person and role leave exactly one open request (a database constraint, not a check)."""

from __future__ import annotations

import threading

import pytest
from django.db import connection
from rest_framework.test import APIClient

from governance.models import AccessRequest, Grant
from governance.services import Actor, create_api_token

THREADS = 12
BODY = {"requester": "bob@example.com", "application": "wiki", "role": "reader", "reason": "reading the docs"}

pytestmark = pytest.mark.django_db(transaction=True)


def race(secret: str, bodies: list[dict]) -> list[tuple[int, dict]]:
    """POST each body at once from its own thread; (status, JSON) per body."""
    barrier = threading.Barrier(len(bodies))
    results: list[tuple[int, dict] | None] = [None] * len(bodies)

    def submit(index: int, body: dict) -> None:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        try:
            barrier.wait(timeout=30)
            response = client.post("/api/v1/access-requests/", body, format="json")
            results[index] = (response.status_code, response.json())
        finally:
            connection.close()

    threads = [threading.Thread(target=submit, args=(i, body)) for i, body in enumerate(bodies)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert all(result is not None for result in results), results
    return results  # type: ignore[return-value]


@pytest.fixture
def secret(company) -> str:
    return create_api_token(name="jira", scopes="all", actor=Actor.system("tests"))[1]


def test_identical_concurrent_submissions_all_answer_the_same_request(secret):
    results = race(secret, [{**BODY, "jira_issue_key": "IT-1"}] * THREADS)

    statuses = [status for status, _ in results]
    assert set(statuses) <= {200, 201}, results
    assert statuses.count(201) == 1
    assert {body["id"] for _, body in results} == {AccessRequest.objects.get().pk}


def test_concurrent_submissions_with_different_keys_open_one_request(secret):
    results = race(secret, [{**BODY, "jira_issue_key": f"IT-{n}"} for n in range(1, THREADS + 1)])

    statuses = sorted(status for status, _ in results)
    assert statuses == [201] + [409] * (THREADS - 1), results
    assert {body["error"]["code"] for status, body in results if status == 409} == {"duplicate_request"}
    assert AccessRequest.objects.filter(status__in=AccessRequest.OPEN).count() == 1
    assert Grant.objects.filter(status__in=Grant.LIVE).count() <= 1
