"""Admin for review campaigns: set up, launch (with account lists), report (HTML and CSV). Thin: services act."""

from __future__ import annotations

from itertools import islice

from django import forms as django_forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from catalog.admin_permissions import requires
from governance.audit.services import Actor
from governance.errors import GovernanceError
from reviews.campaigns import report as campaign_report
from reviews.campaigns import services as campaigns
from reviews.campaigns.accounts_import import ImportRejected
from reviews.campaigns.forms import LaunchForm
from reviews.campaigns.snapshot import applications_without_groups
from reviews.models import CampaignAppOverride, ReviewCampaign, ReviewItem

HTML_REPORT_ROWS = 1000  # the CSV has every row
#: Who reviews and by which rules: the same sections on campaigns and on recurring reviews.
RULES_FIELDSETS = (
    ("Reviewers", {"fields": ("reviewer_strategy", "named_reviewer", "fallback_reviewer", "allow_self_review")}),
    ("Rules", {"fields": ("undecided_action", "inactivity_days", "reminder_every_days", "escalate_days_before_due")}),
)


class OverrideInline(admin.TabularInline):
    model = CampaignAppOverride
    extra = 0
    autocomplete_fields = ("application", "named_reviewer")


@admin.register(ReviewCampaign)
class ReviewCampaignAdmin(admin.ModelAdmin):
    list_display = ("name", "status", "due_at", "snapshot_size", "progress", "launched_at", "links")
    list_filter = ("status", "template")
    search_fields = ("name",)
    filter_horizontal = ("applications", "roles")
    autocomplete_fields = ("named_reviewer", "fallback_reviewer")
    readonly_fields = ("status", "launched_at", "closed_at", "snapshot_source", "snapshot_size", "template", "period")
    fieldsets = (
        (None, {"fields": ("name", "status")}),
        ("Scope", {"fields": ("applications", "roles", "person")}),
        ("When", {"fields": ("starts_at", "due_at")}),
        *RULES_FIELDSETS,
        ("Launch", {"fields": ("launched_at", "closed_at", "snapshot_source", "snapshot_size", "template", "period")}),
    )
    inlines = [OverrideInline]
    actions = ["close_now"]

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReviewCampaign]:
        return (
            super()
            .get_queryset(request)
            .annotate(
                total=Count("items"),
                done=Count("items", filter=~Q(items__decision=ReviewItem.Decision.UNDECIDED)),
            )
        )

    def get_readonly_fields(self, request: HttpRequest, obj: ReviewCampaign | None = None):
        if obj is not None and obj.status != ReviewCampaign.Status.DRAFT:
            # A launched campaign's scope and routing are part of its evidence.
            return [f.name for f in self.model._meta.fields if f.name != "id"] + ["applications", "roles"]
        return self.readonly_fields

    def get_inlines(self, request, obj):
        return [] if obj is not None and obj.status != ReviewCampaign.Status.DRAFT else self.inlines

    @admin.display(description="Decided")
    def progress(self, obj: ReviewCampaign) -> str:
        return f"{obj.done} / {obj.total}"

    @admin.display(description="")
    def links(self, obj: ReviewCampaign) -> str:
        if obj.status == ReviewCampaign.Status.DRAFT:
            return format_html('<a href="{}">Launch…</a>', reverse("admin:reviews_campaign_launch", args=[obj.pk]))
        return format_html(
            '<a href="{}">Report</a> · <a href="{}">CSV</a>',
            reverse("admin:reviews_campaign_report", args=[obj.pk]),
            reverse("admin:reviews_campaign_report_csv", args=[obj.pk]),
        )

    def get_urls(self):
        own = [
            path("<int:pk>/launch/", self.admin_site.admin_view(self.launch_view), name="reviews_campaign_launch"),
            path("<int:pk>/report/", self.admin_site.admin_view(self.report_view), name="reviews_campaign_report"),
            path(
                "<int:pk>/report.csv",
                self.admin_site.admin_view(self.report_csv_view),
                name="reviews_campaign_report_csv",
            ),
        ]
        return own + super().get_urls()

    def launch_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = get_object_or_404(ReviewCampaign, pk=pk)
        if not self.has_change_permission(request, campaign):
            raise PermissionDenied
        apps = applications_without_groups(campaign)
        form = LaunchForm(request.POST or None, request.FILES or None, applications=apps)
        errors: list[tuple[int, str]] = []
        if request.method == "POST" and form.is_valid():
            try:
                campaigns.launch_campaign(campaign=campaign, actor=Actor.of_admin(request.user), uploads=form.uploads())
            except ImportRejected as exc:
                errors = exc.errors
                form.add_error(None, exc.message.split(":")[0] + ": nothing was imported. Fix these rows:")
            except (GovernanceError, django_forms.ValidationError) as exc:
                form.add_error(None, getattr(exc, "message", str(exc)))
            else:
                self.message_user(request, f"Campaign {campaign.name!r} launched.", messages.SUCCESS)
                return redirect("admin:reviews_campaign_report", pk=campaign.pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Launch {campaign.name}",
            "campaign": campaign,
            "form": form,
            "row_errors": errors,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "reviews/admin_launch.html", context)

    def has_delete_permission(self, request: HttpRequest, obj: ReviewCampaign | None = None) -> bool:
        """A launched campaign is evidence: only drafts can be deleted."""
        if obj is not None and obj.status != ReviewCampaign.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request: HttpRequest):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # bulk delete would skip the draft-only rule
        return actions

    def _viewable(self, request: HttpRequest, pk: int) -> ReviewCampaign:
        campaign = get_object_or_404(ReviewCampaign, pk=pk)
        if not self.has_view_permission(request, campaign):
            raise PermissionDenied
        return campaign

    def report_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._viewable(request, pk)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Report: {campaign.name}",
            "campaign": campaign,
            "header": campaign_report.report_header(campaign),
            "columns": campaign_report.COLUMNS,
            "rows": [
                [row[c] for c in campaign_report.COLUMNS]
                for row in islice(campaign_report.report_rows(campaign), HTML_REPORT_ROWS)
            ],
            "shown": HTML_REPORT_ROWS,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "reviews/admin_report.html", context)

    def report_csv_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        campaign = self._viewable(request, pk)
        response = StreamingHttpResponse(campaign_report.report_csv_lines(campaign), content_type="text/csv")
        response["Content-Disposition"] = f'attachment; filename="campaign-{campaign.pk}-report.csv"'
        return response

    has_close_campaign_permission = requires("reviews.close_campaign")

    @admin.action(description="Close now (apply the undecided rule, execute revokes)", permissions=["close_campaign"])
    def close_now(self, request: HttpRequest, queryset: QuerySet[ReviewCampaign]) -> None:
        closed = sum(
            1 for c in queryset if campaigns.close_campaign(campaign_id=c.pk, actor=Actor.of_admin(request.user))
        )
        self.message_user(request, f"{closed} campaign(s) closed.", messages.SUCCESS)


@admin.register(ReviewItem)
class ReviewItemAdmin(admin.ModelAdmin):
    list_display = (
        "account_email",
        "application",
        "role_label",
        "source",
        "reviewer",
        "recommendation",
        "decision",
        "executed_at",
        "removal_confirmed_at",
        "ticket_status",
    )
    list_filter = ("campaign", "source", "decision", "recommendation", "ticket_status")
    search_fields = ("account_email", "account_name", "reviewer__email")
    list_select_related = ("application", "reviewer")
    actions = ["confirm_manual_removal"]

    def get_readonly_fields(self, request, obj=None):
        return [f.name for f in self.model._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj=None) -> bool:
        return False

    has_confirm_removal_permission = requires("reviews.confirm_removal")

    @admin.action(
        description="Confirm manual removal (IT removed the account by hand)", permissions=["confirm_removal"]
    )
    def confirm_manual_removal(self, request: HttpRequest, queryset: QuerySet[ReviewItem]) -> None:
        done = 0
        for item in queryset:
            try:
                campaigns.confirm_manual_removal(item=item, actor=Actor.of_admin(request.user))
                done += 1
            except GovernanceError as exc:
                self.message_user(request, f"{item.account_email}: {exc.message}", messages.WARNING)
        self.message_user(request, f"{done} removal(s) confirmed.", messages.SUCCESS)
