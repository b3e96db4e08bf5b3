"""One JSON error shape for the whole API:

{"error": {"code": "invalid", "message": "…", "fields": {"duration": ["…"]}}}
"""

from __future__ import annotations

from django.http import Http404
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from governance.errors import GovernanceError


def _join(key: str, sub: str) -> str:
    """activity + 1.person -> activity[1].person; a nested non-field error belongs to the key itself."""
    if sub == "non_field_errors":
        return key
    head, _, rest = sub.partition(".")
    if head.isdigit():
        return f"{key}[{head}]" + (f".{rest}" if rest else "")
    return f"{key}.{sub}"


def _flatten(detail) -> dict[str, list[str]]:
    if isinstance(detail, dict):
        out: dict[str, list[str]] = {}
        for key, value in detail.items():
            if isinstance(value, dict):
                for sub, messages in _flatten(value).items():
                    out[_join(key, sub)] = messages
            elif isinstance(value, list) and any(isinstance(v, dict) for v in value):
                for index, item in enumerate(value):  # a list of objects: name the row, e.g. activity[2].person
                    for sub, messages in (_flatten(item) if item else {}).items():
                        out[_join(f"{key}[{index}]", sub)] = messages
            else:
                out[key] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    return {"non_field_errors": [str(v) for v in (detail if isinstance(detail, list) else [detail])]}


def error_body(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    body.update(extra)
    return {"error": body}


def exception_handler(exc, context):
    if isinstance(exc, GovernanceError):
        fields = {exc.field: [exc.message]} if exc.field else None
        return Response(error_body(exc.code, exc.message, fields, **exc.data), status=exc.status_code)
    if isinstance(exc, exceptions.ValidationError):
        fields = _flatten(exc.detail)
        first = next(iter(fields.items()))
        message = f"{first[0]}: {first[1][0]}" if first[0] != "non_field_errors" else first[1][0]
        return Response(error_body("invalid", message, fields), status=status.HTTP_400_BAD_REQUEST)
    if isinstance(exc, Http404):
        return Response(error_body("not_found", str(exc) or "Not found."), status=status.HTTP_404_NOT_FOUND)
    response = drf_exception_handler(exc, context)
    if response is not None:
        detail = getattr(exc, "detail", str(exc))
        code = getattr(exc, "default_code", "error")
        response.data = error_body(code, str(detail))
    return response


# The error shape in the OpenAPI schema.
ERROR = inline_serializer(
    "Error",
    {
        "error": inline_serializer(
            "ErrorBody",
            {
                "code": serializers.CharField(),
                "message": serializers.CharField(),
                "fields": serializers.DictField(
                    child=serializers.ListField(child=serializers.CharField()), required=False
                ),
            },
        )
    },
)
ERRORS = {code: OpenApiResponse(ERROR) for code in (400, 401, 403, 404, 409)}
