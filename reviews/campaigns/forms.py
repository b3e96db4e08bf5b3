"""Forms of the reviewer pages and the campaign launch (parsing only; services decide)."""

from __future__ import annotations

from django import forms
from django.db.models import Q, QuerySet

from reviews.campaigns.accounts_import import ImportRejected, check_size
from reviews.models import ReviewItem


class ItemFilterForm(forms.Form):
    """The reviewer's filter; the same fields travel with the bulk actions so they act on what is shown."""

    app = forms.IntegerField(required=False, label="Application", min_value=1, max_value=2**63 - 1)
    recommendation = forms.ChoiceField(
        required=False,
        choices=[("", "Any recommendation"), *ReviewItem.Recommendation.choices],
        widget=forms.Select(attrs={"id": "f-rec"}),
    )
    # Not "decision": the per-item form posts that name, and carries these filters along.
    state = forms.ChoiceField(
        required=False,
        label="Decision",
        choices=[("", "Any decision"), *ReviewItem.Decision.choices],
        widget=forms.Select(attrs={"id": "f-dec"}),
    )
    q = forms.CharField(required=False, max_length=100, label="Person")

    def apply(self, items: QuerySet[ReviewItem]) -> QuerySet[ReviewItem]:
        if not self.is_bound:
            return items
        if not self.is_valid():
            return items.none()  # the page shows the form's errors, never an unfiltered list
        data = self.cleaned_data
        if data.get("app"):
            items = items.filter(application_id=data["app"])
        if data.get("recommendation"):
            items = items.filter(recommendation=data["recommendation"])
        if data.get("state"):
            items = items.filter(decision=data["state"])
        if data.get("q"):
            text = data["q"].strip()
            items = items.filter(Q(account_name__icontains=text) | Q(account_email__icontains=text))
        return items

    def query_string(self) -> str:
        if not self.is_valid():
            return ""
        from urllib.parse import urlencode

        return urlencode({k: v for k, v in self.cleaned_data.items() if v not in (None, "")})


class DecisionForm(forms.Form):
    decision = forms.ChoiceField(choices=[("keep", "Keep"), ("revoke", "Revoke")])
    reason = forms.CharField(required=False, max_length=2000)


class BulkForm(ItemFilterForm):
    action = forms.ChoiceField(choices=[("accept", "Accept recommendations"), ("keep", "Keep all")])


class LaunchForm(forms.Form):
    """One file field per application that needs an account list (added by the admin view)."""

    def __init__(self, *args, applications=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.applications = list(applications)
        for app in self.applications:
            self.fields[f"upload_{app.pk}"] = forms.FileField(
                label=f"Account list of {app.name} (CSV or XLSX: name, email, role; optional status, department, "
                "title, last login)",
                required=True,
            )

    def uploads(self) -> dict[int, tuple[str, bytes]]:
        files = {}
        for app in self.applications:
            upload = self.cleaned_data[f"upload_{app.pk}"]
            if not upload.name.lower().endswith((".csv", ".xlsx")):
                raise forms.ValidationError(f"{upload.name}: upload a .csv or .xlsx file.")
            try:
                check_size(upload.name, upload.size)  # before reading it into memory
            except ImportRejected as error:
                raise forms.ValidationError(error.message) from None
            files[app.pk] = (upload.name, upload.read())
        return files
