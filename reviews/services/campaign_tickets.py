"""The Jira issue that documents each removal a review decided (who, what, why, campaign).

For now these only mark the item ("to_open" / "to_resolve") and write the audit event; the Jira
outbound queue picks them up once it is wired here. Call them inside the caller's transaction.
"""

from __future__ import annotations

from governance.services.audit import Actor, record
from reviews.models import ReviewItem

T = ReviewItem.TicketStatus


def removal_ticket_fields(item: ReviewItem) -> dict[str, str]:
    """What the Jira issue says: summary and description (plain text; the Jira client renders ADF)."""
    who = f"{item.account_name} <{item.account_email}>"
    what = f"{item.application.name} {item.role_label}".strip() + (
        f" ({item.groups_label})" if item.groups_label else ""
    )
    decided_by = item.decided_by.email if item.decided_by else "the campaign's undecided rule"
    return {
        "summary": f"Access review removal: {who} from {what}",
        "description": (
            f"Campaign: {item.campaign.name}\nPerson: {who}\nAccess: {what}\nSource: {item.get_source_display()}\n"
            f"Decided by: {decided_by} at {item.decided_at.isoformat() if item.decided_at else '-'}\n"
            f"Reason: {item.reason}\nRecommendation: {item.recommendation_reason}"
        ),
    }


def open_removal_ticket(item: ReviewItem) -> None:
    """Ask for the Jira issue documenting this removal (the Jira queue creates it and fills ticket_key)."""
    item.ticket_status = T.TO_OPEN
    item.save(update_fields=["ticket_status"])
    record(
        "review.ticket_to_open",
        f"Jira issue to open for the removal of {item.account_email} from {item.application.name}.",
        actor=Actor.system("reviews"),
        grant=item.grant,
        subject=item.person,
        data={"item": item.pk, "campaign": item.campaign_id, **removal_ticket_fields(item)},
    )


def resolve_removal_ticket(item: ReviewItem) -> None:
    """Ask for the Jira issue to be resolved: the removal is confirmed."""
    item.ticket_status = T.TO_RESOLVE
    item.save(update_fields=["ticket_status"])
    record(
        "review.ticket_to_resolve",
        f"Jira issue {item.ticket_key or '(being opened)'} to resolve: removal of {item.account_email} confirmed.",
        actor=Actor.system("reviews"),
        grant=item.grant,
        subject=item.person,
        data={"item": item.pk, "campaign": item.campaign_id, "ticket": item.ticket_key},
    )
