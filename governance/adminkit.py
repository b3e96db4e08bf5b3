"""Shared pieces of the admin: the reason form for actions, and running an action per row."""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from catalog.durations import parse_iso_duration
from governance.errors import GovernanceError


class ReadOnlyAdmin(admin.ModelAdmin):
    """Evidence: listed and shown, never added, changed or deleted by hand."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False


def ask_reason(
    modeladmin,
    request: HttpRequest,
    queryset: QuerySet,
    *,
    action: str,
    title: str,
    explanation: str,
    required: bool,
    submit_label: str,
    ask_duration: bool = False,
) -> str | HttpResponse:
    """An intermediate page asking for a reason (and a duration); returns the reason once confirmed."""
    reason = (request.POST.get("reason") or "").strip()
    duration_text = (request.POST.get("duration") or "").strip()
    duration_ok = not ask_duration or parse_iso_duration(duration_text) is not None
    if request.POST.get("confirm") == "yes" and (reason or not required) and duration_ok:
        return reason
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": title,
        "explanation": explanation,
        "queryset": queryset,
        "action": action,
        "reason": reason,
        "reason_required": required,
        "reason_label": "Reason" + (" (required)" if required else " (optional)"),
        "submit_label": submit_label,
        "ask_duration": ask_duration,
        "duration": duration_text,
        "error": (
            "A reason and a positive ISO-8601 duration are required." if ask_duration else "A reason is required."
        )
        if request.POST.get("confirm") == "yes"
        else "",
        "opts": modeladmin.model._meta,
    }
    return TemplateResponse(request, "admin/gatehouse_reason.html", context)


def run_each(modeladmin, request: HttpRequest, queryset: QuerySet, func, done: str) -> None:
    """Apply `func` to each selected object; report successes and readable failures."""
    ok = 0
    for obj in queryset:
        try:
            func(obj)
            ok += 1
        except GovernanceError as error:
            modeladmin.message_user(request, f"{obj}: {error.message}", messages.ERROR)
    if ok:
        modeladmin.message_user(request, f"{done}: {ok}.", messages.SUCCESS)


def register_with_mixin(site, models, mixin: type, module: str) -> None:
    """Re-register each model's current admin as the same admin with `mixin` first (idempotent)."""
    for model in models:
        current = site._registry.get(model)
        if current is None or isinstance(current, mixin):
            continue
        combined = type(type(current).__name__, (mixin, type(current)), {"__module__": module})
        site.unregister(model)
        site.register(model, combined)
