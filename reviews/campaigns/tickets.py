"""The Jira issue that documents each removal a review decided (who, what, why, campaign).

Opening queues a "create issue" call on Jira's outbound queue (governance.jira) in the caller's
transaction; `sync_removal_tickets` copies the new key back once Jira answered, and resolves the
issue (JIRA_TICKET_RESOLVE_TRANSITION) when the removal was confirmed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction

from governance.audit.services import Actor, record
from governance.jira.queue import plain_doc, queue_issue_creation, queue_transition
from governance.models import JiraUpdate
from reviews.models import ReviewItem

T = ReviewItem.TicketStatus


def removal_ticket_fields(item: ReviewItem) -> dict[str, str]:
    """What the Jira issue says: summary and description (plain text; rendered as ADF when queued)."""
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
    """Queue the Jira issue documenting this removal (call inside the caller's transaction)."""
    fields = removal_ticket_fields(item)
    event = record(
        "review.ticket_to_open",
        f"Jira issue to open for the removal of {item.account_email} from {item.application.name}.",
        actor=Actor.system("reviews"),
        grant=item.grant,
        subject=item.person,
        data={"item": item.pk, "campaign": item.campaign_id, **fields},
    )
    project = settings.JIRA_TICKETS["PROJECT"]
    item.ticket_update = (
        queue_issue_creation(
            project_key=project,
            summary=fields["summary"],
            description=plain_doc(fields["description"]),
            issue_type=settings.JIRA_TICKETS["ISSUE_TYPE"],
            event=event,
        )
        if project
        else None
    )
    item.ticket_status = T.TO_OPEN
    item.save(update_fields=["ticket_status", "ticket_update"])


def resolve_removal_ticket(item: ReviewItem) -> None:
    """The removal is confirmed: resolve the issue now, or as soon as Jira has created it."""
    event = record(
        "review.ticket_to_resolve",
        f"Jira issue {item.ticket_key or '(being opened)'} to resolve: removal of {item.account_email} confirmed.",
        actor=Actor.system("reviews"),
        grant=item.grant,
        subject=item.person,
        data={"item": item.pk, "campaign": item.campaign_id, "ticket": item.ticket_key},
    )
    if item.ticket_key:
        queue_transition(issue_key=item.ticket_key, transition=settings.JIRA_TICKETS["RESOLVE_TRANSITION"], event=event)
        item.ticket_status = T.RESOLVED
    else:
        item.ticket_status = T.TO_RESOLVE
    item.save(update_fields=["ticket_status"])


def sync_removal_tickets() -> int:
    """Copy the keys of created issues onto their items, resolving those already confirmed."""
    waiting = ReviewItem.objects.filter(
        ticket_status__in=[T.TO_OPEN, T.TO_RESOLVE], ticket_key="", ticket_update__status=JiraUpdate.Status.SENT
    ).select_related("ticket_update")
    updated = 0
    for item in waiting:
        with transaction.atomic():
            item.ticket_key = item.ticket_update.issue_key
            resolve = item.ticket_status == T.TO_RESOLVE
            item.ticket_status = T.OPEN
            item.save(update_fields=["ticket_key", "ticket_status"])
            if resolve:
                resolve_removal_ticket(item)
        updated += 1
    return updated
