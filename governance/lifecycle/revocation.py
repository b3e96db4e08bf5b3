"""Ending many grants of lifecycle events at once: the one place lifecycle revokes.

Same outcome as `revoke_grant` one by one (statuses, audit events, reference-counted removals,
kept pre-existing memberships, removal tasks for manual applications) in a fixed number of queries
per batch: the removal plan is the bulk expiry's.
"""

from __future__ import annotations

from datetime import datetime

from django.utils import timezone

from catalog.models import Application
from governance.audit.services import Actor, record_many
from governance.grants import bulk_expiry
from governance.grants import services as one_by_one
from governance.grants.changes import queue_grant_changes
from governance.models import Grant
from provisioning.models import FulfilmentTask
from provisioning.outbox import services as provisioning

G = Grant.Status
BATCH = 500


def revoke_grants(grants: list[Grant], *, actor: Actor, reason: str, now: datetime | None = None) -> list[int]:
    """Revoke these live grants (loaded with person, role__application, request) inside the caller's
    transaction; returns the ids revoked. Grants no longer live are skipped."""
    now = now or timezone.now()
    revoked: list[int] = []
    for start in range(0, len(grants), BATCH):
        revoked += _revoke_batch(grants[start : start + BATCH], actor=actor, reason=reason, now=now)
    return revoked


def _revoke_batch(batch: list[Grant], *, actor: Actor, reason: str, now: datetime) -> list[int]:
    bulk_expiry.lock_people({g.person_id for g in batch})
    ids = list(
        Grant.objects.select_for_update(of=("self",))
        .filter(id__in=[g.pk for g in batch], status__in=Grant.LIVE)
        .values_list("id", flat=True)
    )
    batch = [g for g in batch if g.pk in set(ids)]
    if not batch:
        return []
    Grant.objects.filter(id__in=ids).update(status=G.REVOKED, ended_at=now, ended_by=actor.person, end_reason=reason)
    previous = {g.pk: g.status for g in batch}
    for grant in batch:
        grant.status, grant.ended_at, grant.ended_by, grant.end_reason = G.REVOKED, now, actor.person, reason
    record_many(
        [
            {
                "action": "grant.revoked",
                "grant": g,
                "data": {"from": previous[g.pk]},
                "message": f"Revoked by {actor.label}: {reason}",
            }
            for g in batch
        ],
        actor=actor,
    )
    for grant in batch:  # rare: grants still being provisioned
        one_by_one.fail_unfinished_request(grant, actor=actor, reason=reason)
    provisioning.cancel_open_fulfilment_tasks(
        tasks=FulfilmentTask.objects.filter(grant_link__grant_id__in=ids, action=FulfilmentTask.Action.GRANT)
    )
    why = f"revoked by {actor.label}"
    manual = [g for g in batch if g.role.application.provisioning_mode == Application.ProvisioningMode.MANUAL]
    for grant in manual:  # a removal task for IT each, as when ending one grant
        one_by_one._remove_memberships(grant, why=why)
    automatic = [g for g in batch if g not in manual]
    changes, audits, done = bulk_expiry._plan(automatic, now, why=why)
    queue_grant_changes(changes)
    Grant.objects.filter(id__in=done).update(removed_at=now)
    audits += [
        {"action": "grant.removal_confirmed", "grant": g, "message": f"Every membership of grant #{g.pk} is removed."}
        for g in automatic
        if g.pk in done
    ]
    record_many(audits, actor=Actor.system("provisioning"))
    return ids
