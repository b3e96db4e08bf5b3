"""The campaign's evidence: one row per item with its decision, recommendation and removal."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator

from lib.spreadsheet import defuse_formula
from reviews.models import ReviewCampaign, ReviewItem

COLUMNS = [
    "item",
    "person",
    "email",
    "application",
    "role",
    "groups",
    "source",
    "granted_via",
    "reviewer",
    "routing",
    "recommendation",
    "recommendation_reason",
    "decision",
    "decided_by",
    "decided_at",
    "reason",
    "submitted_at",
    "removal_executed_at",
    "removal_confirmed_at",
    "execution_note",
    "jira_key",
    "jira_status",
]


def _iso(value) -> str:
    return value.isoformat() if value else ""


def report_header(campaign: ReviewCampaign) -> dict[str, str]:
    """The population's provenance: source, snapshot time and size."""
    return {
        "campaign": campaign.name,
        "status": campaign.get_status_display(),
        "population_source": campaign.snapshot_source,
        "snapshot_at": _iso(campaign.launched_at),
        "snapshot_size": str(campaign.snapshot_size),
        "due_at": _iso(campaign.due_at),
        "closed_at": _iso(campaign.closed_at),
        "undecided_rule": campaign.get_undecided_action_display(),
    }


def report_rows(campaign: ReviewCampaign) -> Iterator[dict[str, str]]:
    items = (
        ReviewItem.objects.filter(campaign=campaign)
        .select_related("application", "reviewer", "decided_by")
        .order_by("application__name", "account_email", "id")
    )
    for item in items.iterator(chunk_size=2000):
        yield {
            "item": str(item.pk),
            "person": item.account_name,
            "email": item.account_email,
            "application": item.application.name,
            "role": item.role_label,
            "groups": item.groups_label,
            "source": item.get_source_display(),
            "granted_via": item.granted_via,
            "reviewer": item.reviewer.email,
            "routing": item.routing_note,
            "recommendation": item.recommendation,
            "recommendation_reason": item.recommendation_reason,
            "decision": item.decision,
            "decided_by": item.decided_by.email if item.decided_by else ("campaign rule" if item.decided_at else ""),
            "decided_at": _iso(item.decided_at),
            "reason": item.reason,
            "submitted_at": _iso(item.submitted_at),
            "removal_executed_at": _iso(item.executed_at),
            "removal_confirmed_at": _iso(item.removal_confirmed_at),
            "execution_note": item.execution_note,
            "jira_key": item.ticket_key,
            "jira_status": item.get_ticket_status_display() if item.ticket_status else "",
        }


def report_csv_lines(campaign: ReviewCampaign) -> Iterator[str]:
    """The report as CSV text, streamed: the header block as comment-free key/value rows, then the items."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)

    def flush() -> str:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)
        return text

    for key, value in report_header(campaign).items():
        writer.writerow([key, defuse_formula(value)])
    writer.writerow([])
    writer.writerow(COLUMNS)
    yield flush()
    for row in report_rows(campaign):
        writer.writerow([defuse_formula(row[c]) for c in COLUMNS])
        yield flush()
