"""The project's URLs plus the drift endpoint and the sync/drift admins (until the lead wires them in)."""

from django.contrib import admin
from django.urls import path

from governance import admin_drift  # noqa: F401  (registers the drift admin, as governance/admin.py will)
from governance.api_drift import DriftFindingCollection
from governance.urls import urlpatterns as project
from provisioning import admin_sync  # noqa: F401  (registers the sync-run admin, as provisioning/admin.py will)

urlpatterns = [
    path("admin/", admin.site.urls),  # built after the imports above registered their admins
    path("api/v1/drift/", DriftFindingCollection.as_view(), name="drift-findings"),
    *project,
]
