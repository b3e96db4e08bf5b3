"""Manual touches: a person's decision on a request's step, or a fulfilment task IT does by hand for its
grant. Each request keeps its count (`AccessRequest.manual_touches`), written by the services that
record a touch, in their transaction, so the metrics count automation without reading those rows."""

from __future__ import annotations

from django.db.models import F

from governance.models import AccessRequest


def add_manual_touch(request_id: int | None) -> None:
    """Count one more manual touch on the request (nothing for access given without a request)."""
    if request_id is not None:
        AccessRequest.objects.filter(pk=request_id).update(manual_touches=F("manual_touches") + 1)
