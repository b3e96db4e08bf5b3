"""The project's URLs plus the reviewer pages, until governance/urls.py includes reviews.urls."""

from django.urls import include, path

from governance.urls import urlpatterns as project_urlpatterns

urlpatterns = [*project_urlpatterns, path("", include("reviews.urls"))]
