"""The project's URLs plus the drift endpoint (until the lead adds it to governance/api_urls.py)."""

from django.urls import path

from governance import admin_drift  # noqa: F401  (registers the drift admin, as governance/admin.py will)
from governance.api_drift import DriftFindingCollection
from governance.urls import urlpatterns as project

urlpatterns = [
    path("api/v1/drift/", DriftFindingCollection.as_view(), name="drift-findings"),
    *project,
]
