"""Ending grants: expiry and revocation, for one grant or thousands, in a fixed number of queries.

`end_grants` is the one implementation: `expire_grant` and `revoke_grant` are batches of one, the
expiry timer passes hundreds, the leaver path passes all of a person's grants. Every status change
goes through the transition table; every membership through the reference-count rule (release).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from governance.audit.services import Actor, audit_batch
from governance.grants import changes
from governance.grants.release import release_memberships
from governance.models import AccessRequest, Grant
from governance.transitions import move_grants, move_requests
from lib import readable
from provisioning.models import FulfilmentTask
from provisioning.outbox import services as provisioning

EXPIRED = Grant.Status.EXPIRED
REVOKED = Grant.Status.REVOKED
OUTCOMES = (EXPIRED, REVOKED)


ENDING_READS = ("person", "role__application", "request")


def lock_grants(grant_ids: Iterable[int], *, reading: tuple[str, ...] = ENDING_READS) -> list[Grant]:
    """The grants, locked for this transaction, with the related rows `reading` names loaded
    (by default what ending them reads)."""
    return list(
        Grant.objects.select_for_update(of=("self",))
        .select_related(*reading)
        .filter(id__in=list(grant_ids))
        .order_by("id")
    )


def _can_end(grant: Grant, outcome: str, now: datetime) -> bool:
    if outcome == EXPIRED:
        return grant.status == Grant.Status.ACTIVE and grant.expires_at is not None and grant.expires_at <= now
    return grant.status in Grant.LIVE


def end_grants(
    grant_ids: Iterable[int], *, outcome: str, actor: Actor, reason: str = "", now: datetime | None = None
) -> list[Grant]:
    """End every grant of `grant_ids` that can end so, in one transaction; returns those ended.

    `outcome` is "expired" (active grants whose end has come; the others are left alone) or "revoked"
    (pending or active grants; `reason` is recorded). Memberships are removed through
    the outbox unless another live grant or pre-existing access still explains them."""
    if outcome not in OUTCOMES:
        raise ValueError(f"outcome must be one of {OUTCOMES}, not {outcome!r}")
    now = now or timezone.now()
    with transaction.atomic(), audit_batch():  # the audit chain is locked only for the final write
        grants = [grant for grant in lock_grants(grant_ids) if _can_end(grant, outcome, now)]
        if not grants:
            return []
        if outcome == EXPIRED:
            _expire(grants, actor=actor, reason=reason, now=now)
            why = "expired"
        else:
            _revoke(grants, actor=actor, reason=reason, now=now)
            why = f"revoked by {actor.label}"
        release_memberships(grants, why=why, now=now)
    return grants


def _expire(grants: list[Grant], *, actor: Actor, reason: str, now: datetime) -> None:
    grants.sort(key=lambda grant: (grant.expires_at, grant.pk))
    move_grants(
        grants,
        EXPIRED,
        actor=actor,
        message=lambda grant: f"Grant #{grant.pk} expired (scheduled for {readable.moment(grant.expires_at)}).",
        ended_at=now,
        end_reason=reason or "expired",
    )


def _revoke(grants: list[Grant], *, actor: Actor, reason: str, now: datetime) -> None:
    move_grants(
        grants,
        REVOKED,
        actor=actor,
        message=f"Revoked by {actor.label}: {reason}",
        ended_at=now,
        ended_by=actor.person,
        end_reason=reason,
    )
    unfinished = [
        grant.request
        for grant in grants
        if grant.request and grant.request.status in (AccessRequest.Status.PROVISIONING, AccessRequest.Status.APPROVED)
    ]
    move_requests(
        unfinished,
        AccessRequest.Status.FAILED,
        actor=actor,
        message="Revoked before provisioning finished.",
        reason=f"revoked: {reason}",
    )
    unfinished_tasks = changes.tasks_of(grant.pk for grant in grants).filter(action=FulfilmentTask.Action.GRANT)
    provisioning.cancel_open_fulfilment_tasks(tasks=unfinished_tasks)
