"""Catalog and policy edits in the admin write audit events with what changed, before and after.

The catalog's admin pages live in `catalog`, below governance, so they cannot write audit events
themselves; governance re-registers them (and its own policy and rule pages) with this mixin.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db import models, transaction
from django.forms.models import _get_foreign_key
from django.http import HttpRequest

from catalog.models import Application, IdpGroup, Person, Role
from governance.adminkit import register_with_mixin
from governance.audit.services import Actor, record_admin_change
from governance.models import ApprovalPolicy, AutoApprovalRule, Delegation

AUDITED_MODELS = (Person, Application, Role, IdpGroup, ApprovalPolicy, AutoApprovalRule, Delegation)


def _value(obj: models.Model, field: models.Field) -> Any:
    if field.many_to_many:
        return sorted(str(related) for related in getattr(obj, field.name).all()) if obj.pk else []
    if field.is_relation:
        related = getattr(obj, field.name)
        return str(related) if related is not None else None
    value = field.value_from_object(obj)
    return value if isinstance(value, str | int | float | bool | type(None) | list | dict) else str(value)


def snapshot(obj: models.Model, inlines: list[type[admin.options.InlineModelAdmin]]) -> dict[str, Any]:
    """Every editable field of `obj` and the rows of its inlines, as text a person can read."""
    state = {
        field.name: _value(obj, field)
        for field in obj._meta.get_fields()
        if getattr(field, "concrete", False) and not field.auto_created and field.editable
    }
    for inline in inlines:
        fk = _get_foreign_key(type(obj), inline.model, getattr(inline, "fk_name", None))
        rows = inline.model.objects.filter(**{fk.name: obj}).order_by("pk")
        state[str(inline.model._meta.verbose_name_plural)] = [str(row) for row in rows]
    return state


class AuditedChangesMixin:
    """Records one audit event per save or delete, naming the fields that changed."""

    def _audit_inlines(self) -> list:
        return list(getattr(self, "inlines", []))

    def get_object(self, request: HttpRequest, object_id: str, from_field: str | None = None):
        obj = super().get_object(request, object_id, from_field)
        if obj is not None:
            request._gatehouse_before = snapshot(obj, self._audit_inlines())
        return obj

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        after = snapshot(form.instance, self._audit_inlines())
        before = getattr(request, "_gatehouse_before", None) if change else None
        record_admin_change(actor=Actor.of_admin(request.user), obj=form.instance, before=before, after=after)

    def delete_model(self, request: HttpRequest, obj: models.Model) -> None:
        before = snapshot(obj, self._audit_inlines())
        with transaction.atomic():
            record_admin_change(actor=Actor.of_admin(request.user), obj=obj, before=before, after=None)
            super().delete_model(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset) -> None:
        with transaction.atomic():
            for obj in queryset:
                before = snapshot(obj, self._audit_inlines())
                record_admin_change(actor=Actor.of_admin(request.user), obj=obj, before=before, after=None)
            super().delete_queryset(request, queryset)


def audit_registered_admins(site: admin.AdminSite = admin.site) -> None:
    """Swap each audited model's admin for the same admin with the mixin (idempotent)."""
    register_with_mixin(site, AUDITED_MODELS, AuditedChangesMixin, __name__)
