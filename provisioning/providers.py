"""The admin's "Identity providers" page: which connectors are configured, with their settings
(secret values masked, never sent to the browser)."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from provisioning.connectors import ConnectorDeclaration, configured_values, declarations

#: who may see the page: whoever may see the identity-provider groups
VIEW_PERMISSION = "catalog.view_idpgroup"


@dataclass(frozen=True)
class ProviderRow:
    declaration: ConnectorDeclaration
    configured: bool
    problem: str
    settings: list[tuple[str, str, str, bool]]  # environment variable, shown value, help, sensitive


def provider_rows() -> list[ProviderRow]:
    rows = []
    for declaration in declarations():
        values = configured_values(declaration)
        status = declaration.status(values)
        rows.append(
            ProviderRow(
                declaration=declaration,
                configured=status.configured,
                problem=declaration.problem(values) if status.half_configured else "",
                settings=[(s.env, text, s.help, s.sensitive) for s, text in declaration.shown(values)],
            )
        )
    return rows


def providers_page(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied
    context = {**admin.site.each_context(request), "title": "Identity providers", "providers": provider_rows()}
    return TemplateResponse(request, "admin/gatehouse_providers.html", context)
