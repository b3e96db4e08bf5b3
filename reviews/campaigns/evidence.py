"""The review campaigns' sheet of the evidence export: every decision and executed revocation."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.db.models import Q

from governance.evidence.export import CHUNK, Period, Sheet, register_sheet
from reviews.models import ReviewItem


def review_decision_rows(period: Period) -> Iterator[tuple[Any, ...]]:
    items = (
        ReviewItem.objects.select_related("campaign", "application", "role", "reviewer", "decided_by", "grant")
        .filter(
            Q(decided_at__gte=period.start, decided_at__lt=period.end)
            | Q(campaign__launched_at__gte=period.start, campaign__launched_at__lt=period.end)
        )
        .order_by("campaign_id", "id")
    )
    if period.application is not None:
        items = items.filter(application=period.application)
    for item in items.iterator(chunk_size=CHUNK):
        yield (
            item.campaign.name,
            item.campaign.launched_at,
            item.campaign.due_at,
            item.account_email,
            item.application.slug,
            item.role.slug if item.role else item.role_label,
            item.reviewer.email,
            item.recommendation,
            item.decision,
            item.decided_by.email if item.decided_by else None,
            item.decided_at,
            item.reason,
            item.executed_at,
            item.removal_confirmed_at,
            item.ticket_key,
        )


def register() -> None:
    register_sheet(
        Sheet(
            "review_decisions",
            "Access review campaigns: every item's decision and the revocations executed",
            "SOC 2 CC6.2, CC6.3; ISO 27001 A.5.18; SOX ITGC user access review",
            (
                "campaign", "launched_at", "due_at", "account", "application", "role", "reviewer", "recommendation",
                "decision", "decided_by", "decided_at", "reason", "revoke_executed_at", "removal_confirmed_at",
                "removal_ticket",
            ),
            review_decision_rows,
        )
    )  # fmt: skip
