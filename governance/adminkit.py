"""Shared pieces of the admin: the reason form for actions, and running an action per row."""

from __future__ import annotations

from django.contrib import admin, messages
from django.contrib.admin.utils import flatten_fieldsets, unquote
from django.core.exceptions import PermissionDenied
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


class ReadOnlyTabularInline(admin.TabularInline):
    """Rows shown as a plain table under their record: every field read-only, no add or delete, and no
    summary line repeating each row above it (the template leaves Django's "original" line out)."""

    template = "admin/edit_inline/readonly_tabular.html"
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def get_readonly_fields(self, request: HttpRequest, obj=None):
        return tuple(self.fields or ()) + tuple(self.readonly_fields)


def nothing_editable(model_admin: admin.ModelAdmin, request: HttpRequest, obj) -> bool:
    """Whether the change page of `obj` has no field and no inline row anyone could change."""
    fields = flatten_fieldsets(model_admin.get_fieldsets(request, obj))
    readonly = set(model_admin.get_readonly_fields(request, obj))
    if any(name not in readonly for name in fields):
        return False
    for inline in model_admin.get_inline_instances(request, obj):
        deletable = inline.can_delete and inline.has_delete_permission(request, obj)
        if deletable or inline.has_add_permission(request, obj):
            return False
        inline_fields = flatten_fieldsets(inline.get_fieldsets(request, obj))
        inline_readonly = set(inline.get_readonly_fields(request, obj))
        if inline.has_change_permission(request, obj) and any(name not in inline_readonly for name in inline_fields):
            return False
    return True


class NothingToSaveMixin:
    """A record nothing can edit is shown without Save, Save and continue, Save and add another or
    Delete (the page offers Close), and a POST to its change page is refused. Actions are unaffected."""

    def changeform_view(self, request: HttpRequest, object_id=None, form_url="", extra_context=None):
        obj = self.get_object(request, unquote(object_id)) if object_id else None
        if obj is not None and nothing_editable(self, request, obj):
            if request.method == "POST":
                raise PermissionDenied("Nothing on this page can be changed.")
            extra_context = {
                **(extra_context or {}),
                "show_save": False,
                "show_save_and_continue": False,
                "show_save_and_add_another": False,
                "show_delete": False,
            }
        return super().changeform_view(request, object_id, form_url, extra_context)


def read_only_records(site: admin.AdminSite = admin.site) -> None:
    """Give every registered admin the mixin (idempotent): whichever app registered it."""
    register_with_mixin(site, list(site._registry), NothingToSaveMixin, __name__)


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
    summaries: list[dict] | None = None,
) -> str | HttpResponse:
    """An intermediate page asking for a reason (and a duration); returns the reason once confirmed.

    `summaries` (one dict per selected object: request, requester, beneficiary, application, role,
    duration, reason, risk, decision) shows a table of what is being decided instead of a plain list."""
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
        "summaries": summaries,
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
