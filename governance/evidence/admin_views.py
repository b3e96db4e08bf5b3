"""Admin pages of the evidence: the trace of a person × application, and the evidence export."""

from __future__ import annotations

import tempfile
from datetime import UTC, datetime, time, timedelta
from pathlib import Path

from django import forms
from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from rest_framework import serializers

from catalog.models import Application
from governance.audit.services import Actor
from governance.evidence.api import trace_body
from governance.evidence.export import FORMATS, Period, export_evidence


class TraceForm(forms.Form):
    person = forms.EmailField(required=False, help_text="Email of the person.")
    application = forms.ModelChoiceField(
        Application.objects.order_by("name"), required=False, to_field_name="slug", empty_label="(every application)"
    )
    after = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def clean(self):
        data = super().clean()
        if not data.get("person") and not data.get("application"):
            raise forms.ValidationError("Give a person, an application, or both.")
        return data


class ExportForm(forms.Form):
    start = forms.DateField(label="From", help_text="First day (YYYY-MM-DD).")
    end = forms.DateField(label="To", help_text="Last day, included.")
    application = forms.ModelChoiceField(
        Application.objects.order_by("name"), required=False, empty_label="(every application)"
    )
    file_format = forms.ChoiceField(label="Format", choices=[(f, f) for f in FORMATS if f != "csv"])

    def clean(self):
        data = super().clean()
        if data.get("start") and data.get("end") and data["end"] < data["start"]:
            raise forms.ValidationError("'To' must not be before 'From'.")
        return data


def trace_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("governance.view_auditevent"):
        raise PermissionDenied
    form = TraceForm(request.GET or None)
    body, error = None, ""
    if form.is_valid():
        query = {
            "person": form.cleaned_data["person"] or None,
            "application": form.cleaned_data["application"].slug if form.cleaned_data["application"] else None,
            "after": form.cleaned_data["after"],
            "limit": 200,
        }

        def next_link(seq: int) -> str:
            params = request.GET.copy()
            params["after"] = str(seq)
            return f"{reverse('admin:governance_trace')}?{params.urlencode()}"

        try:
            body = trace_body(query, next_link)
        except serializers.ValidationError as invalid:
            error = "; ".join(str(message) for messages in invalid.detail.values() for message in messages)
    context = {**admin.site.each_context(request), "title": "Trace a person × an application", "form": form}
    return TemplateResponse(request, "admin/governance/trace.html", {**context, "trace": body, "error": error})


def export_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("governance.export_evidence"):
        raise PermissionDenied
    form = ExportForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        start = datetime.combine(data["start"], time.min, tzinfo=UTC)
        end = datetime.combine(data["end"] + timedelta(days=1), time.min, tzinfo=UTC)
        target = Path(tempfile.mkdtemp(prefix="gatehouse-evidence-")) / f"evidence.{data['file_format']}"
        export_evidence(
            period=Period(start, end, data["application"]),
            file_format=data["file_format"],
            target=target,
            actor=Actor.of_admin(request.user),
        )
        name = f"gatehouse-evidence-{data['start']}-{data['end']}.{data['file_format']}"
        return FileResponse(target.open("rb"), as_attachment=True, filename=name)
    context = {**admin.site.each_context(request), "title": "Export evidence", "form": form}
    return TemplateResponse(request, "admin/governance/export.html", context)
