"""Schemathesis over the OpenAPI schema, against the WSGI app: 0 server errors, responses as documented.

Bounded (a few examples per operation) so it runs in the normal suite, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest
import schemathesis
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from governance.services import Actor, create_api_token
from tests import company as c

CHECKS = [not_a_server_error, response_schema_conformance, status_code_conformance, content_type_conformance]


@pytest.fixture
def keep_connection():
    """The WSGI handler closes the database connection after each request (the test client
    does not); keep it open, as the test's transaction lives on it."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


@pytest.fixture
def api_schema(company, tasks, keep_connection):
    with tasks():
        request = c.submit("IT-1")
        c.decide(request, company.alice)
    c.submit("IT-2", role="reader")
    return schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application())


@pytest.fixture
def bearer(api_schema) -> dict[str, str]:
    _, secret = create_api_token(name="schemathesis", scopes="all", actor=Actor.system("tests"))
    return {"Authorization": f"Bearer {secret}"}


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=12,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.filter_too_much],
)
def test_the_api_never_answers_a_server_error_and_matches_its_schema(case, bearer):
    case.call_and_validate(headers=bearer, checks=CHECKS)
