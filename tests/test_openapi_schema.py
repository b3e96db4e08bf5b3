"""The OpenAPI schema builds without warnings, marks nullable fields, and names each operation's scope."""

from __future__ import annotations

import io
import re

import pytest
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


def _input_serializer(component: str):
    """The input serializer behind a request body component (`SubmitRequestInputRequest` …)."""
    from governance.api import serializers
    from governance.lifecycle import api as lifecycle_api

    name = component.rsplit("/", 1)[-1].removesuffix("Request")
    for module in (serializers, lifecycle_api):
        if hasattr(module, name):
            return getattr(module, name)
    raise AssertionError(f"no serializer for {component}")


@pytest.mark.django_db
def test_every_request_body_has_a_realistic_example_the_api_accepts():
    call_command("load_demo", stdout=io.StringIO())  # the examples name the demo's people and catalog
    schema = build()
    checked = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            content = operation.get("requestBody", {}).get("content", {}).get("application/json")
            if not content:
                continue
            assert content.get("examples"), f"{method.upper()} {path} has no example"
            serializer_class = _input_serializer(content["schema"]["$ref"])
            for name, example in content["examples"].items():
                serializer = serializer_class(data=example["value"])
                assert serializer.is_valid(), (path, name, serializer.errors)
                checked += 1
    assert checked >= 11  # every POST body, two for submit and for extend
    text = yaml.safe_dump(schema)
    assert "ITHELP-123" in text and not re.search(r"\bIT-\d+\b", text)


def test_path_parameters_say_what_to_send():
    schema = build()
    parameters = [
        parameter
        for item in schema["paths"].values()
        for operation in item.values()
        if isinstance(operation, dict)
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "path"
    ]
    assert parameters
    for parameter in parameters:
        assert "e.g." in parameter.get("description", ""), parameter
