"""Admin for Auto Reclaim: policies with their counts, open cases, and the history of closed cases.

Thin: saving a policy asks the service to close the open cases the change no longer justifies.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.response import TemplateResponse
from django.urls import path
from django.utils import timezone

from governance.adminkit import ReadOnlyAdmin
from governance.catalog_code.admin import files_owned_admins
from governance.errors import GovernanceError
from governance.lifecycle.activity import record_activity
from governance.services import Actor
from reviews.campaigns.accounts_import import ImportRejected
from reviews.models import ClosedReclaimCase, OpenReclaimCase, ReclaimCase, ReclaimPolicy
from reviews.reclaim.activity_import import parse_activity_file
from reviews.reclaim.services import apply_policy_change

Outcome = ReclaimCase.Outcome


def _month_start():
    return timezone.now().replace(day=1, hour=0, minute=0, second=0, microsecond=0)


@admin.register(ReclaimPolicy)
class ReclaimPolicyAdmin(admin.ModelAdmin):
    list_display = (
        "application",
        "is_active",
        "mode",
        "threshold_days",
        "grace_days",
        "activity_source",
        "open_cases",
        "warned",
        "reclaimed",
        "kept_active",
        "excluded",
        "reclaimed_this_month",
    )
    list_filter = ("is_active", "mode", "activity_source")
    list_select_related = ("application",)
    autocomplete_fields = ("excluded_people",)
    filter_horizontal = ("excluded_groups",)
    fieldsets = (
        (None, {"fields": ("application", "is_active", "mode", "activity_source")}),
        ("When", {"fields": ("threshold_days", "grace_days")}),
        ("Warning", {"fields": ("warn", "warning_text")}),
        ("Exclusions", {"fields": ("excluded_groups", "excluded_people")}),
    )

    change_list_template = "reviews/admin_reclaim_policies.html"

    def get_urls(self):
        own = [
            path(
                "import-activity/",
                self.admin_site.admin_view(self.import_activity_view),
                name="reviews_reclaim_import_activity",
            )
        ]
        return own + super().get_urls()

    def import_activity_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a CSV/XLSX of application activity (thin: parse, then one service call)."""
        if not request.user.has_perm("catalog.add_appactivity") or not request.user.has_perm(
            "catalog.change_appactivity"
        ):
            raise PermissionDenied
        error, row_errors = "", []
        upload = request.FILES.get("file") if request.method == "POST" else None
        if request.method == "POST" and upload is None:
            error = "Choose a CSV or XLSX file."
        elif upload is not None:
            try:
                rows = parse_activity_file(upload.name, upload.read())
                result = record_activity(
                    rows=rows, source=f"import:{upload.name}"[:40], actor=Actor.of_admin(request.user), label="file"
                )
            except ImportRejected as exc:
                error, row_errors = exc.message.split(":")[0] + ": nothing was imported. Fix these rows:", exc.errors
            except GovernanceError as exc:
                error = f"Nothing was imported: {exc.message}"
            else:
                self.message_user(
                    request,
                    f"{result.received} rows imported: {result.created} new, {result.updated} newer, "
                    f"{result.unchanged} unchanged.",
                    messages.SUCCESS,
                )
                return redirect("admin:reviews_reclaimpolicy_changelist")
        context = {
            **self.admin_site.each_context(request),
            "title": "Import application activity",
            "error": error,
            "row_errors": row_errors,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "reviews/admin_activity_import.html", context)

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        def outcome(value: str) -> Count:
            return Count("cases", filter=Q(cases__outcome=value), distinct=True)

        return (
            super()
            .get_queryset(request)
            .annotate(
                n_open=Count("cases", filter=Q(cases__status__in=ReclaimCase.OPEN_STATUSES), distinct=True),
                n_warned=Count("cases", filter=Q(cases__warned_at__isnull=False), distinct=True),
                n_reclaimed=outcome(Outcome.RECLAIMED),
                n_kept=outcome(Outcome.KEPT_ACTIVE_AGAIN),
                n_excluded=outcome(Outcome.EXCLUDED),
                n_month=Count(
                    "cases__person",
                    filter=Q(cases__outcome=Outcome.RECLAIMED, cases__closed_at__gte=_month_start()),
                    distinct=True,
                ),
            )
        )

    @admin.display(description="open", ordering="n_open")
    def open_cases(self, obj: ReclaimPolicy) -> int:
        return obj.n_open

    @admin.display(description="warned", ordering="n_warned")
    def warned(self, obj: ReclaimPolicy) -> int:
        return obj.n_warned

    @admin.display(description="reclaimed", ordering="n_reclaimed")
    def reclaimed(self, obj: ReclaimPolicy) -> int:
        return obj.n_reclaimed

    @admin.display(description="kept (active again)", ordering="n_kept")
    def kept_active(self, obj: ReclaimPolicy) -> int:
        return obj.n_kept

    @admin.display(description="excluded", ordering="n_excluded")
    def excluded(self, obj: ReclaimPolicy) -> int:
        return obj.n_excluded

    @admin.display(description="licences reclaimed this month", ordering="n_month")
    def reclaimed_this_month(self, obj: ReclaimPolicy) -> int:
        return obj.n_month

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        if change:
            closed = apply_policy_change(policy=form.instance, actor=Actor.of_admin(request.user))
            if closed:
                self.message_user(request, f"{closed} open reclaim cases closed by this change.", messages.INFO)


class _CaseAdmin(ReadOnlyAdmin):
    list_select_related = ("person", "application", "grant", "group")
    search_fields = ("person__email", "person__name", "application__slug")
    date_hierarchy = "opened_at"

    @admin.display(description="access")
    def access(self, case: ReclaimCase) -> str:
        if case.grant_id:
            return f"grant #{case.grant_id}"
        return f"{case.group.name} (found in the provider)"


@admin.register(OpenReclaimCase)
class OpenReclaimCaseAdmin(_CaseAdmin):
    list_display = (
        "person",
        "application",
        "access",
        "status",
        "last_activity_at",
        "warned_at",
        "revoke_after",
        "ticket_status",
    )
    list_filter = ("application", "status")
    ordering = ("revoke_after", "id")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(status__in=ReclaimCase.OPEN_STATUSES)


@admin.register(ClosedReclaimCase)
class ClosedReclaimCaseAdmin(_CaseAdmin):
    list_display = (
        "person",
        "application",
        "access",
        "outcome",
        "closed_at",
        "last_activity_at",
        "warned_at",
        "removal_detail",
    )
    list_filter = ("outcome", "application", "closed_at")
    ordering = ("-closed_at", "-id")

    def get_queryset(self, request: HttpRequest) -> QuerySet:
        return super().get_queryset(request).filter(status=ReclaimCase.Status.CLOSED)


files_owned_admins((ReclaimPolicy,))  # read-only when catalog files own the policies
