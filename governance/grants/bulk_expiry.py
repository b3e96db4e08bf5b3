"""The expiry sweep: thousands of grants can expire in the same minute.

Each batch is one call of `ending.end_grants` (the same code that ends one grant), so the outcome
is the same as ending them one by one, in a fixed number of queries per batch.
"""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.audit.services import Actor
from governance.grants.ending import EXPIRED, end_grants
from governance.models import Grant

ACTOR = Actor.system("expiry")


def _due_ids(now: datetime, limit: int) -> list[int]:
    """Due grants, earliest first, that no other sweep is ending right now (locked until commit)."""
    due = Grant.objects.filter(status=Grant.Status.ACTIVE, expires_at__lte=now).order_by("expires_at", "id")
    return list(due.select_for_update(skip_locked=True, of=("self",)).values_list("id", flat=True)[:limit])


def expire_due_batch(*, limit: int = 500, now: datetime | None = None) -> int:
    """End up to `limit` due grants, earliest first, in one transaction. Returns how many ended."""
    now = now or timezone.now()
    with transaction.atomic():
        ids = _due_ids(now, limit)
        return len(end_grants(ids, outcome=EXPIRED, actor=ACTOR, now=now)) if ids else 0


def expire_due_grants(*, limit: int = 20000) -> int:
    """The expiry sweep: every active grant past its end, earliest first, in batches."""
    ended = 0
    while ended < limit and (count := expire_due_batch(limit=min(500, limit - ended))):
        ended += count
    return ended
