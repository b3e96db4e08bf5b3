from django.urls import path

from governance.api import views as api
from governance.drift import api as api_drift
from governance.evidence import api as evidence_api
from governance.lifecycle import api as api_lifecycle

urlpatterns = [
    path("access-requests/", api.AccessRequestCollection.as_view(), name="access-requests"),
    path("access-requests/<str:key>/", api.AccessRequestDetail.as_view(), name="access-request"),
    path("access-requests/<str:key>/approve/", api.ApproveAccessRequest.as_view(), name="access-request-approve"),
    path("access-requests/<str:key>/deny/", api.DenyAccessRequest.as_view(), name="access-request-deny"),
    path("access-requests/<str:key>/cancel/", api.CancelAccessRequest.as_view(), name="access-request-cancel"),
    path("access-requests/<str:key>/emergency-review/", api.ReviewEmergency.as_view(), name="access-request-emergency"),
    path("drift/", api_drift.DriftFindingCollection.as_view(), name="drift-findings"),
    path("applications/", api.ApplicationCollection.as_view(), name="applications"),
    path("people/<str:email>/", api.PersonDetail.as_view(), name="person"),
    path("people/<str:email>/offboard/", api_lifecycle.OffboardPerson.as_view(), name="person-offboard"),
    path("activity/", api_lifecycle.ActivityCollection.as_view(), name="activity"),
    path("grants/", evidence_api.GrantCollection.as_view(), name="grants"),
    path("trace/", evidence_api.Trace.as_view(), name="trace"),
    path("metrics/", evidence_api.Metrics.as_view(), name="metrics"),
    path("grants/<int:grant_id>/", api.GrantDetail.as_view(), name="grant"),
    path("grants/<int:grant_id>/revoke/", api.RevokeGrant.as_view(), name="grant-revoke"),
    path("grants/<int:grant_id>/extend/", api.ExtendGrant.as_view(), name="grant-extend"),
]
