"""Drift: where the provider's memberships (as the last sync saw them) and the grants disagree.

Run after a directory sync. Two kinds:
- unexplained member: in a group a requestable role maps to, with no live grant for it and not put
  there by Gatehouse. Reported only; never removed automatically.
- missing membership: an active grant whose group membership is gone from the provider. Repaired:
  the add is queued again through the outbox, with its audit event, in one transaction.
A finding whose difference is no longer seen is resolved.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from catalog.models import Application, GroupMembership, IdpGroup, Person, RoleGroup
from governance.audit.services import Actor, record
from governance.grants.changes import queue_grant_change
from governance.models import DriftFinding, Grant
from provisioning.models import MembershipChange

K = DriftFinding.Kind
S = DriftFinding.Status
ACTOR = Actor.system("drift")
Pair = tuple[int, int]  # (person_id, group_id)


@dataclass
class DriftReport:
    unexplained: int = 0
    missing: int = 0
    repaired: int = 0
    resolved: int = 0


def detect_drift(*, connector: str | None = None) -> DriftReport:
    """Compare grants with memberships for every group of an approved application (or one connector's)."""
    groups = _watched_groups(connector)
    group_ids = list(groups)
    held = dict(
        ((m["person_id"], m["group_id"]), m["origin"])
        for m in GroupMembership.objects.filter(group_id__in=group_ids).values("person_id", "group_id", "origin")
    )
    live, active = _granted(group_ids)
    unexplained = {
        pair for pair, origin in held.items() if pair not in live and origin != GroupMembership.Origin.GATEHOUSE
    }
    missing = {pair: grant_id for pair, grant_id in active.items() if pair not in held}
    report = DriftReport(unexplained=len(unexplained), missing=len(missing))
    with transaction.atomic():
        current = {
            (f.kind, f.person_id, f.group_id): f
            for f in DriftFinding.objects.select_for_update().filter(group_id__in=group_ids, resolved_at__isnull=True)
        }
        report.resolved = _resolve_gone(current, unexplained, missing)
        _report_unexplained(unexplained - {(p, g) for k, p, g in current if k == K.UNEXPLAINED_MEMBER}, groups)
        new_missing = {pair: gid for pair, gid in missing.items() if (K.MISSING_MEMBERSHIP, *pair) not in current}
        report.repaired = _repair_missing(new_missing, groups)
    return report


def _watched_groups(connector: str | None) -> dict[int, IdpGroup]:
    """Groups mapped by a role of an approved, automatically provisioned application."""
    mappings = RoleGroup.objects.filter(
        role__application__status=Application.Status.APPROVED,
        role__application__provisioning_mode=Application.ProvisioningMode.AUTOMATIC,
    )
    if connector:
        mappings = mappings.filter(group__connector=connector)
    ids = set(mappings.values_list("group_id", flat=True))
    return {g.pk: g for g in IdpGroup.objects.filter(pk__in=ids)}


def _granted(group_ids: list[int]) -> tuple[set[Pair], dict[Pair, int]]:
    """Pairs some live grant explains, and pairs an active grant needs (with one such grant)."""
    rows = (
        Grant.objects.filter(status__in=Grant.LIVE, role__group_mappings__group_id__in=group_ids)
        .values_list(
            "id", "person_id", "role__group_mappings__group_id", "status", "role__application__provisioning_mode"
        )
        .order_by("id")
    )
    watched = set(group_ids)
    live: set[Pair] = set()
    active: dict[Pair, int] = {}
    for grant_id, person_id, group_id, status, mode in rows:
        if group_id not in watched:
            continue
        live.add((person_id, group_id))
        if status == Grant.Status.ACTIVE and mode == Application.ProvisioningMode.AUTOMATIC:
            active.setdefault((person_id, group_id), grant_id)
    return live, active


def _resolve_gone(current: dict, unexplained: set[Pair], missing: dict[Pair, int]) -> int:
    still = {(K.UNEXPLAINED_MEMBER, *p) for p in unexplained} | {(K.MISSING_MEMBERSHIP, *p) for p in missing}
    gone = [finding for key, finding in current.items() if key not in still]
    if not gone:
        return 0
    now = timezone.now()
    DriftFinding.objects.filter(pk__in=[f.pk for f in gone], status=S.OPEN).update(status=S.RESOLVED, resolved_at=now)
    DriftFinding.objects.filter(pk__in=[f.pk for f in gone]).exclude(status=S.OPEN).update(resolved_at=now)
    record(
        "drift.resolved",
        f"{len(gone)} drift finding(s) no longer seen after sync: resolved.",
        actor=ACTOR,
        data={"findings": [f.pk for f in gone]},
    )
    return len(gone)


def _report_unexplained(pairs: set[Pair], groups: dict[int, IdpGroup]) -> None:
    if not pairs:
        return
    now = timezone.now()
    people = Person.objects.in_bulk({p for p, _ in pairs})
    findings = DriftFinding.objects.bulk_create(
        [
            DriftFinding(
                kind=K.UNEXPLAINED_MEMBER,
                person_id=person_id,
                group_id=group_id,
                detected_at=now,
                detail=f"{people[person_id].email} is in {groups[group_id].name} with no grant for it; "
                "left in place for review.",
            )
            for person_id, group_id in sorted(pairs)
        ]
    )
    for finding in findings:
        record(
            "drift.unexplained_member",
            finding.detail,
            actor=ACTOR,
            subject=people[finding.person_id],
            data={"group": groups[finding.group_id].name, "finding": finding.pk},
        )


def _repair_missing(missing: dict[Pair, int], groups: dict[int, IdpGroup]) -> int:
    """Queue the add again (unless one is already under way) and say so in the audit log."""
    if not missing:
        return 0
    grants = Grant.objects.select_related("person", "request").in_bulk(set(missing.values()))
    pending = set(
        MembershipChange.objects.filter(
            group_id__in={g for _, g in missing},
            action=MembershipChange.Action.ADD,
            status__in=MembershipChange.OPEN,
        ).values_list("person_id", "group_id")
    )
    now = timezone.now()
    repaired = 0
    for (person_id, group_id), grant_id in sorted(missing.items()):
        grant, group = grants[grant_id], groups[group_id]
        repairable = grant.person.status == Person.Status.ACTIVE
        detail = f"Grant #{grant.pk} is active but {grant.person.email} is not in {group.name} at the provider."
        if not repairable:
            detail += f" Not repaired: the person is {grant.person.status}."
        finding = DriftFinding.objects.create(
            kind=K.MISSING_MEMBERSHIP,
            person_id=person_id,
            group_id=group_id,
            grant=grant,
            detected_at=now,
            status=S.REPAIRED if repairable else S.OPEN,
            detail=detail,
        )
        if repairable and (person_id, group_id) not in pending:
            queue_grant_change(grant, action=MembershipChange.Action.ADD, group=group)
        record(
            "drift.repair_queued" if repairable else "drift.missing_membership",
            detail + (" The add is queued again." if repairable else ""),
            actor=ACTOR,
            grant=grant,
            data={"group": group.name, "finding": finding.pk},
        )
        repaired += repairable
    return repaired


def list_findings(*, status: str | None = None, kind: str | None = None) -> QuerySet[DriftFinding]:
    """Findings for the API and admin, newest first."""
    findings = DriftFinding.objects.select_related("person", "group", "grant")
    if status:
        findings = findings.filter(status=status)
    if kind:
        findings = findings.filter(kind=kind)
    return findings
