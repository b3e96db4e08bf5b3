"""Admin for recurring reviews (templates). Thin: after a save the schedule service sets the next run."""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.db.models import Count, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from governance.audit.admin_changes import AuditedChangesMixin
from governance.catalog_code.admin import files_owned_admins
from reviews.campaigns.admin import RULES_FIELDSETS
from reviews.campaigns.recurring import SCOPE_REQUIRED, schedule_template
from reviews.models import ReviewTemplate


class ReviewTemplateForm(forms.ModelForm):
    """The fields come from the admin's fieldsets; a template must review something."""

    def clean(self) -> dict:
        data = super().clean()
        if not (data.get("applications") or data.get("roles") or data.get("privileged_applications")):
            raise forms.ValidationError(SCOPE_REQUIRED)
        return data


@admin.register(ReviewTemplate)
class ReviewTemplateAdmin(AuditedChangesMixin, admin.ModelAdmin):
    form = ReviewTemplateForm
    list_display = ("name", "is_active", "recurrence", "next_run_at", "last_launched_at", "campaigns_link")
    list_filter = ("is_active", "recurrence")
    search_fields = ("name",)
    filter_horizontal = ("applications", "roles")
    autocomplete_fields = ("named_reviewer", "fallback_reviewer")
    readonly_fields = ("next_run_at", "last_launched_at")
    fieldsets = (
        (None, {"fields": ("name", "is_active")}),
        ("Scope", {"fields": ("applications", "roles", "privileged_applications")}),
        ("When", {"fields": ("recurrence", "starts_at", "duration_days", "next_run_at", "last_launched_at")}),
        *RULES_FIELDSETS,
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[ReviewTemplate]:
        return super().get_queryset(request).annotate(n_campaigns=Count("campaigns"))

    @admin.display(description="campaigns", ordering="n_campaigns")
    def campaigns_link(self, obj: ReviewTemplate) -> str:
        url = reverse("admin:reviews_reviewcampaign_changelist") + f"?template__id__exact={obj.pk}"
        return format_html('<a href="{}">{}</a>', url, obj.n_campaigns)

    def save_related(self, request: HttpRequest, form, formsets, change: bool) -> None:
        super().save_related(request, form, formsets, change)
        schedule_template(template=form.instance)


files_owned_admins((ReviewTemplate,))  # read-only when catalog files own the templates
