"""The project's URLs plus the drift endpoint (until the lead adds it to governance/api_urls.py)."""

from django.urls import path

from governance.api_drift import DriftFindingCollection
from governance.urls import urlpatterns as project

urlpatterns = [
    path("api/v1/drift/", DriftFindingCollection.as_view(), name="drift-findings"),
    *project,
]
