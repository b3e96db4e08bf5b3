"""Gatehouse URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from accounts import views as account_views
from governance.requests import views
from governance.slack.views import slack_events
from provisioning.providers import providers_page

urlpatterns = [
    path("admin/login/", account_views.admin_login),
    path("admin/providers/", admin.site.admin_view(providers_page), name="admin-providers"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("governance.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("approvals/step/<int:step_id>/", views.approval_step, name="approval-step"),
    path("approvals/<str:token>/", views.approval_page, name="approval-page"),
    path("slack/events", slack_events, name="slack-events"),
    path("", include("accounts.urls")),
    path("", include("reviews.urls")),
    # The split view serves its start-up script from a URL of its own: no inline script for the CSP.
    path(
        "api/docs/",
        SpectacularSwaggerSplitView.as_view(url_name="api-schema", template_name="api/swagger_ui.html"),
        name="api-docs",
    ),
]

handler400 = "governance.api.errors.bad_request"
handler403 = "governance.api.errors.permission_denied"
handler404 = "governance.api.errors.page_not_found"
handler500 = "governance.api.errors.server_error"
