"""Admin for Auto Reclaim: policies with their counts, open cases, and the history of closed cases.

Thin: saving a policy asks the service to close the open cases the change no longer justifies.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.utils import timezone

from governance.catalog_code.admin import files_owned_admins
from governance.services import Actor
from reviews.models import ClosedReclaimCase, OpenReclaimCase, ReclaimCase, ReclaimPolicy
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


class _CaseAdmin(admin.ModelAdmin):
    list_select_related = ("person", "application", "grant", "group")
    search_fields = ("person__email", "person__name", "application__slug")
    date_hierarchy = "opened_at"

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

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
