"""Gatehouse URL configuration."""

from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from governance.requests import views
from provisioning.providers import providers_page

urlpatterns = [
    path("admin/providers/", admin.site.admin_view(providers_page), name="admin-providers"),
    path("admin/", admin.site.urls),
    path("api/v1/", include("governance.api.urls")),
    path("api/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("approvals/<str:token>/", views.approval_page, name="approval-page"),
    path("", include("reviews.urls")),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="api-schema"), name="api-docs"),
]
