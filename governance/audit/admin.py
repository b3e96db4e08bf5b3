"""Admin for the audit log (read-only)."""

from __future__ import annotations

from django.contrib import admin, messages
from django.http import HttpRequest, HttpResponse
from django.urls import path, reverse
from django.utils.html import format_html

from governance.adminkit import ReadOnlyTabularInline
from governance.models import AuditChain, AuditEvent
from lib import readable


class AuditEventInline(ReadOnlyTabularInline):
    model = AuditEvent
    fk_name = "request"
    fields = ("at", "action", "actor", "message")
    ordering = ("at", "id")


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("at", "action", "actor", "subject", "request", "message")
    list_filter = ("action",)
    search_fields = ("message", "actor", "subject__email", "request__jira_issue_key")
    list_select_related = ("subject", "request")
    date_hierarchy = "at"
    ordering = ("-at", "-id")

    def get_urls(self):
        from governance.evidence.admin_views import export_view, trace_view

        extra = [
            path("trace/", self.admin_site.admin_view(trace_view), name="governance_trace"),
            path("export/", self.admin_site.admin_view(export_view), name="governance_export_evidence"),
        ]
        return extra + super().get_urls()

    def changelist_view(self, request: HttpRequest, extra_context: dict | None = None) -> HttpResponse:
        messages.add_message(request, *self._chain_status())
        links = format_html(
            '<a href="{}">Trace a person × an application</a> · <a href="{}">Export evidence for a period</a>',
            reverse("admin:governance_trace"),
            reverse("admin:governance_export_evidence"),
        )
        messages.info(request, links)
        return super().changelist_view(request, extra_context)

    @staticmethod
    def _chain_status() -> tuple[int, str]:
        head = AuditChain.objects.filter(pk=1).first()
        if head is None or head.verified_at is None:
            return messages.WARNING, "The audit hash chain has not been verified yet (manage.py verify_audit)."
        when = readable.moment(head.verified_at)
        if head.verified_ok:
            return (
                messages.INFO,
                f"Audit hash chain verified intact through event {head.verified_through_seq} at {when}.",
            )
        return messages.ERROR, f"Audit hash chain BROKEN (checked {when}): {head.verified_problem}"

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
