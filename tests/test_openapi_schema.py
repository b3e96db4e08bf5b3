"""The OpenAPI schema builds without warnings, marks nullable fields, and names each operation's scope."""

from __future__ import annotations

import io

import yaml
from django.core.management import call_command

from governance.tokens.scopes import ALL_SCOPES


def build() -> dict:
    out = io.StringIO()
    call_command("spectacular", "--validate", "--fail-on-warn", stdout=out)
    return yaml.safe_load(out.getvalue())


def test_it_builds_without_warnings_and_names_every_operations_scope():
    schema = build()
    operations = [op for item in schema["paths"].values() for op in item.values() if isinstance(op, dict)]
    assert len(operations) >= 12
    for operation in operations:
        assert operation["x-required-scope"] in ALL_SCOPES, operation["operationId"]
        assert f"`{operation['x-required-scope']}`" in operation["description"]


def test_it_marks_nullable_fields_nullable():
    components = build()["components"]["schemas"]
    grant = components["GrantOutput"]["properties"]
    for field in ("expires_at", "ended_at", "removed_at", "duration", "request"):
        assert grant[field].get("nullable") is True, field
    assert components["RequestOutput"]["properties"]["closed_at"]["nullable"] is True
    assert components["PersonOutput"]["properties"]["manager"]["nullable"] is True
    assert grant["duration"]["format"] == "duration"
