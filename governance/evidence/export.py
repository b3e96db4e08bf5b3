"""Evidence export: the sheets auditors sample for SOC 2, ISO 27001 and SOX, for one period.

Each sheet is registered with the controls it evidences and a generator of rows, so apps above
governance (reviews) add theirs without governance importing them. Rows are streamed from the
database (`iterator`), and written as they come: memory stays bounded whatever the period's size.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from django.db.models import Prefetch, Q
from openpyxl import Workbook

from catalog.models import Application
from governance.audit.services import Actor, record
from governance.models import AccessRequest, ApprovalDecision, DriftFinding, Grant
from lib.spreadsheet import defuse_formula
from provisioning.models import MembershipChange

FORMATS = ("csv", "xlsx", "json")
CHUNK = 2000


@dataclass(frozen=True)
class Period:
    start: datetime
    end: datetime
    application: Application | None = None


@dataclass(frozen=True)
class Sheet:
    name: str
    title: str
    controls: str
    columns: tuple[str, ...]
    rows: Callable[[Period], Iterator[tuple[Any, ...]]]


_SHEETS: dict[str, Sheet] = {}


def register_sheet(sheet: Sheet) -> None:
    """Add a sheet to every export (apps register theirs when they are ready)."""
    _SHEETS[sheet.name] = sheet


def sheets() -> list[Sheet]:
    return list(_SHEETS.values())


def _text(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, str):
        return defuse_formula(value)
    return value


def _in_period(period: Period, *fields: str) -> Q:
    condition = Q()
    for field in fields:
        condition |= Q(**{f"{field}__gte": period.start, f"{field}__lt": period.end})
    return condition


def _decisions(request: AccessRequest) -> str:
    parts = []
    for step in request.steps.all():
        for decision in step.decisions.all():
            who = (
                decision.person.email
                if decision.person
                else f"admin:{decision.user.username if decision.user else '?'}"
            )
            verdict = "approved" if decision.approved else "denied"
            behalf = f" for {decision.on_behalf_of.email}" if decision.on_behalf_of else ""
            when = decision.decided_at.isoformat()
            parts.append(f"step {step.order} {verdict} by {who}{behalf} at {when} via {decision.channel}")
        if step.status == "approved" and not step.decisions.all():
            parts.append(f"step {step.order} approved by policy ({step.kind})")
    return "; ".join(parts)


def _changes(grant: Grant | None) -> str:
    if grant is None:
        return ""
    return "; ".join(
        f"{c.action} {c.group.name} ({c.group.connector}): {c.status}{' ' + c.result if c.result else ''}"
        f"{' at ' + c.finished_at.isoformat() if c.finished_at else ''}"
        for c in grant.membership_changes.all()
    )


def access_change_rows(period: Period) -> Iterator[tuple[Any, ...]]:
    decisions = ApprovalDecision.objects.select_related("person", "user", "on_behalf_of").order_by("decided_at", "id")
    changes = MembershipChange.objects.select_related("group").order_by("id")
    requests = (
        AccessRequest.objects.select_related("requester", "beneficiary", "application", "role", "grant")
        .prefetch_related(
            "steps", Prefetch("steps__decisions", queryset=decisions), Prefetch("grant__membership_changes", changes)
        )
        .filter(_in_period(period, "created_at", "grant__ended_at", "grant__removed_at"))
        .order_by("created_at", "id")
    )
    if period.application is not None:
        requests = requests.filter(application=period.application)
    for request in requests.iterator(chunk_size=CHUNK):
        grant = getattr(request, "grant", None)
        yield (
            request.jira_issue_key,
            request.created_at,
            request.requester.email,
            request.beneficiary.email,
            request.application.slug,
            request.role.slug,
            request.reason,
            request.policy_label,
            request.status,
            _decisions(request),
            grant.pk if grant else None,
            grant.status if grant else None,
            grant.starts_at if grant else None,
            _changes(grant),
            grant.expires_at if grant else None,
            grant.ended_at if grant else None,
            grant.end_reason if grant else None,
            grant.removed_at if grant else None,
        )


def privileged_grant_rows(period: Period) -> Iterator[tuple[Any, ...]]:
    privileged = (Application.RiskTier.HIGH, Application.RiskTier.PRIVILEGED)
    grants = (
        Grant.objects.select_related("person", "role__application", "request")
        .filter(role__application__risk_tier__in=privileged, created_at__lt=period.end)
        .filter(Q(ended_at__isnull=True) | Q(ended_at__gte=period.start))
        .order_by("created_at", "id")
    )
    if period.application is not None:
        grants = grants.filter(role__application=period.application)
    for grant in grants.iterator(chunk_size=CHUNK):
        duration = (grant.expires_at - grant.starts_at) if grant.expires_at and grant.starts_at else None
        yield (
            grant.pk,
            grant.person.email,
            grant.role.application.slug,
            grant.role.application.risk_tier,
            grant.role.slug,
            grant.request.jira_issue_key if grant.request else None,
            grant.status,
            grant.starts_at,
            grant.expires_at,
            str(duration) if duration else "no end date",
            grant.ended_at,
            grant.end_reason,
            grant.removed_at,
        )


def drift_rows(period: Period) -> Iterator[tuple[Any, ...]]:
    findings = (
        DriftFinding.objects.select_related("person", "group", "grant")
        .filter(_in_period(period, "detected_at", "resolved_at"))
        .order_by("detected_at", "id")
    )
    if period.application is not None:
        findings = findings.filter(group__roles__application=period.application).distinct()
    for finding in findings.iterator(chunk_size=CHUNK):
        yield (
            finding.pk,
            finding.kind,
            finding.person.email,
            finding.group.name,
            finding.group.connector,
            finding.status,
            finding.detail,
            finding.detected_at,
            finding.resolved_at,
        )


register_sheet(
    Sheet(
        "access_changes",
        "Access changes: request, approval, provisioning, removal",
        "SOC 2 CC6.1, CC6.2, CC6.3; ISO 27001 A.5.15, A.5.18; SOX ITGC access provisioning and de-provisioning",
        (
            "request", "submitted_at", "requester", "beneficiary", "application", "role", "reason", "policy",
            "request_status", "approvals", "grant", "grant_status", "provisioned_at", "group_changes", "expires_at",
            "ended_at", "end_reason", "removal_confirmed_at",
        ),
        access_change_rows,
    )
)  # fmt: skip
register_sheet(
    Sheet(
        "privileged_grants",
        "Privileged access held during the period, with its duration",
        "SOC 2 CC6.1, CC6.3; ISO 27001 A.8.2; SOX ITGC privileged access",
        (
            "grant", "person", "application", "risk_tier", "role", "request", "status", "starts_at", "expires_at",
            "duration", "ended_at", "end_reason", "removal_confirmed_at",
        ),
        privileged_grant_rows,
    )
)  # fmt: skip
register_sheet(
    Sheet(
        "drift",
        "Drift found and resolved: provider memberships no grant explains, grants with no membership",
        "SOC 2 CC6.1, CC6.2; ISO 27001 A.5.18",
        ("finding", "kind", "person", "group", "connector", "status", "detail", "detected_at", "resolved_at"),
        drift_rows,
    )
)


@dataclass(frozen=True)
class ExportResult:
    paths: list[Path]
    rows: dict[str, int]
    sha256: str


def _write_csv(target: Path, period: Period, chosen: list[Sheet]) -> tuple[list[Path], dict[str, int]]:
    target.mkdir(parents=True, exist_ok=True)
    paths, counts = [], {}
    about = target / "README.txt"
    about.write_text(_about(period, chosen))
    paths.append(about)
    for sheet in chosen:
        path = target / f"{sheet.name}.csv"
        with path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow([f"# {sheet.title} — evidences {sheet.controls}"])
            writer.writerow(sheet.columns)
            counts[sheet.name] = 0
            for row in sheet.rows(period):
                writer.writerow([_text(value) for value in row])
                counts[sheet.name] += 1
        paths.append(path)
    return paths, counts


def _write_xlsx(target: Path, period: Period, chosen: list[Sheet]) -> tuple[list[Path], dict[str, int]]:
    book = Workbook(write_only=True)
    about = book.create_sheet("about")
    for line in _about(period, chosen).splitlines():
        about.append([line])
    counts = {}
    for sheet in chosen:
        page = book.create_sheet(sheet.name[:31])
        page.append([f"{sheet.title} — evidences {sheet.controls}"])
        page.append(list(sheet.columns))
        counts[sheet.name] = 0
        for row in sheet.rows(period):
            page.append([_text(value) for value in row])
            counts[sheet.name] += 1
    book.save(target)
    return [target], counts


def _write_json(target: Path, period: Period, chosen: list[Sheet]) -> tuple[list[Path], dict[str, int]]:
    counts = {}
    with target.open("w", encoding="utf-8") as handle:
        handle.write(json.dumps({"period": _period_label(period)})[:-1] + ', "sheets": {')
        for index, sheet in enumerate(chosen):
            head = {"title": sheet.title, "controls": sheet.controls, "columns": list(sheet.columns)}
            handle.write(("," if index else "") + json.dumps(sheet.name) + ": " + json.dumps(head)[:-1] + ', "rows": [')
            counts[sheet.name] = 0
            for row in sheet.rows(period):
                handle.write(("," if counts[sheet.name] else "") + json.dumps([_json(value) for value in row]))
                counts[sheet.name] += 1
            handle.write("]}")
        handle.write("}}\n")
    return [target], counts


def _json(value: Any) -> Any:
    return value.isoformat() if isinstance(value, datetime) else value


def _period_label(period: Period) -> dict[str, str | None]:
    return {
        "from": period.start.isoformat(),
        "to": period.end.isoformat(),
        "application": period.application.slug if period.application else None,
    }


def _about(period: Period, chosen: list[Sheet]) -> str:
    label = _period_label(period)
    lines = [
        "Gatehouse evidence export",
        f"Period: {label['from']} to {label['to']} (end excluded)",
        f"Application: {label['application'] or 'all'}",
        "",
    ]
    lines += [f"{sheet.name}: {sheet.title}. Evidences {sheet.controls}." for sheet in chosen]
    return "\n".join(lines) + "\n"


WRITERS = {"csv": _write_csv, "xlsx": _write_xlsx, "json": _write_json}


def _digest(paths: list[Path]) -> str:
    digest = hashlib.sha256()
    for path in paths:
        with path.open("rb") as handle:
            for block in iter(lambda handle=handle: handle.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def export_evidence(*, period: Period, file_format: str, target: Path, actor: Actor) -> ExportResult:
    """Write every registered sheet for the period, then record the export in the audit log."""
    if file_format not in WRITERS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}")
    chosen = sheets()
    paths, counts = WRITERS[file_format](target, period, chosen)
    result = ExportResult(paths=paths, rows=counts, sha256=_digest(paths))
    record(
        "evidence.exported",
        f"Evidence exported ({file_format}) for {_period_label(period)['from']} to {_period_label(period)['to']}"
        + (f", application {period.application.slug}" if period.application else "")
        + f": {sum(counts.values())} rows.",
        actor=actor,
        application=period.application,
        data={**_period_label(period), "format": file_format, "rows": counts, "sha256": result.sha256},
    )
    return result
