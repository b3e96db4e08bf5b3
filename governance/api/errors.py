"""One JSON error shape for the whole API:

{"error": {"code": "invalid", "message": "…", "fields": {"duration": ["…"]}}}
"""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponseBadRequest, JsonResponse
from django.views import defaults
from drf_spectacular.utils import OpenApiResponse, inline_serializer
from rest_framework import exceptions, serializers, status
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from governance.errors import GovernanceError


def _join(key: object, sub: object) -> str:
    """activity + 1.person -> activity[1].person; a nested non-field error belongs to the key itself.
    Keys may be list indexes (DRF reports a list field's errors as {index: [...]})."""
    key, sub = str(key), str(sub)
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
                out[str(key)] = [str(v) for v in (value if isinstance(value, list) else [value])]
        return out
    return {"non_field_errors": [str(v) for v in (detail if isinstance(detail, list) else [detail])]}


def error_body(code: str, message: str, fields: dict | None = None, **extra) -> dict:
    body = {"code": code, "message": message}
    if fields:
        body["fields"] = fields
    body.update(extra)
    return {"error": _printable(body)}


def _printable(value):
    """`value` with lone surrogates (which JSON output cannot encode) escaped: error messages may
    quote the input that was refused."""
    if isinstance(value, str):
        return value.encode("utf-8", "backslashreplace").decode("utf-8")
    if isinstance(value, dict):
        return {_printable(key): _printable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_printable(item) for item in value]
    return value


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
ERRORS = {code: OpenApiResponse(ERROR) for code in (400, 401, 403, 404, 409, 413)}


def is_api_path(path: str) -> bool:
    return path.startswith("/api/")


def json_error(status_code: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status_code)


def page_not_found(request: HttpRequest, exception=None):
    """Django's 404 for pages; the JSON error shape under /api/ (unknown paths, non-numeric ids)."""
    if is_api_path(request.path):
        return json_error(404, "not_found", f"No API endpoint at {request.path}.")
    return defaults.page_not_found(request, exception)


def bad_request(request: HttpRequest, exception=None):
    if is_api_path(request.path):
        if isinstance(exception, RequestDataTooBig):
            return json_error(413, "too_large", "The request body is too large.")
        return json_error(400, "bad_request", "The request could not be read.")
    return defaults.bad_request(request, exception)


def permission_denied(request: HttpRequest, exception=None):
    if is_api_path(request.path):
        return json_error(403, "forbidden", "Not allowed.")
    return defaults.permission_denied(request, exception)


def server_error(request: HttpRequest):
    if is_api_path(request.path):
        return json_error(500, "server_error", "Something went wrong on our side; it has been logged.")
    return defaults.server_error(request)


class UnstorableInputMiddleware:
    """Refuses a path or query string holding a NUL byte (no database can store one): a 400,
    in the JSON error shape under /api/."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest):
        query = request.META.get("QUERY_STRING", "")
        if "\x00" in request.path or "%00" in query or "\x00" in query:
            message = "The address holds a NUL character, which is not allowed."
            if is_api_path(request.path):
                return json_error(400, "invalid", message)
            return HttpResponseBadRequest(message, content_type="text/plain")
        return self.get_response(request)
