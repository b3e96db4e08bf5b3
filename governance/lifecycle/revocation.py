"""Ending many grants of lifecycle events at once: the one place lifecycle revokes.

Revocation is `end_grants` (statuses, audit events, reference-counted removals, kept pre-existing
memberships, removal tasks for manual applications, unfinished requests failed), in batches so
each stays a fixed number of queries.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from governance.audit.services import Actor
from governance.grants.ending import REVOKED, end_grants
from governance.models import Grant

BATCH = 500


def revoke_grants(grants: list[Grant], *, actor: Actor, reason: str, now: datetime | None = None) -> list[int]:
    """Revoke these live grants inside the caller's transaction; returns the ids revoked. Grants no
    longer live are skipped. Memberships are released as "revoked by <actor>"."""
    now = now or timezone.now()
    revoked: list[int] = []
    for start in range(0, len(grants), BATCH):
        ids = [grant.pk for grant in grants[start : start + BATCH]]
        revoked += [grant.pk for grant in end_grants(ids, outcome=REVOKED, actor=actor, reason=reason, now=now)]
    return revoked
