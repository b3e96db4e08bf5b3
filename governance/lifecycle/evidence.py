"""Jira evidence of an offboarding: comments on the HR issue and a ticket for manual removals."""

from __future__ import annotations

from django.conf import settings

from governance.jira.adf import bullet_list, doc, paragraph, strong, when
from governance.jira.queue import plain_doc, queue_comment, queue_issue_creation
from governance.models import AuditEvent, JiraUpdate, Offboarding


def _ended_lines(offboarding: Offboarding) -> list[str]:
    ended = offboarding.ended or {}
    lines = [
        f"Grant #{g['id']}: {g['application']} / {g['role']}" + (f" ({g['request']})" if g.get("request") else "")
        for g in ended.get("grants", [])
    ]
    lines += [f"Request {key} cancelled" for key in ended.get("requests_cancelled", [])]
    for label, name in (
        ("approval steps re-routed", "steps_rerouted"),
        ("delegations ended", "delegations_ended"),
        ("review items moved to the fallback reviewer", "review_items_moved"),
    ):
        if ended.get(name):
            lines.append(f"{ended[name]} {label}")
    return lines


def _pending_lines(offboarding: Offboarding) -> list[str]:
    lines = [
        f"Manual removal in {t['application']} (task #{t['task']})" for t in offboarding.ended.get("manual_tasks", [])
    ]
    for entry in offboarding.unexplained:
        verb = "removal queued" if entry.get("change") else "no grant explains it: for IT"
        lines.append(f"{entry['group']} ({entry['connector']}): {verb}")
    return lines


def comment_started(offboarding: Offboarding, event: AuditEvent) -> JiraUpdate | None:
    """What the offboarding ended and what is pending, on the HR issue (when there is one)."""
    ended, pending = _ended_lines(offboarding), _pending_lines(offboarding)
    body = doc(
        paragraph(
            strong("Offboarding started"),
            f" for {offboarding.person.email} at {when(offboarding.started_at)} (offboarding #{offboarding.pk}).",
        ),
        paragraph(strong("Ended:")) if ended else paragraph("Nothing was held through Gatehouse."),
        bullet_list(*ended) if ended else None,
        paragraph(strong("Pending:")) if pending else None,
        bullet_list(*pending) if pending else None,
        paragraph("Gatehouse comments again when the identity provider has confirmed every removal."),
    )
    return queue_comment(issue_key=offboarding.jira_issue_key, body=body, event=event)


def comment_completed(offboarding: Offboarding, event: AuditEvent) -> JiraUpdate | None:
    body = doc(
        paragraph(
            strong("Offboarding complete"),
            f": every removal for {offboarding.person.email} is confirmed "
            f"(last at {when(offboarding.last_removal_confirmed_at)}).",
        ),
        bullet_list(*_ended_lines(offboarding)) if offboarding.ended.get("grants") else None,
        paragraph(f"Manual removals confirmed by {offboarding.manual_confirmed_by}.")
        if offboarding.manual_confirmed_by
        else None,
    )
    return queue_comment(issue_key=offboarding.jira_issue_key, body=body, event=event)


def open_manual_ticket(offboarding: Offboarding, event: AuditEvent) -> JiraUpdate | None:
    """A ticket in JIRA_TICKET_PROJECT for what IT must remove by hand; None when no project is set."""
    project = settings.JIRA_TICKETS["PROJECT"]
    if not project:
        return None
    person = offboarding.person
    lines = [f"{person.name} <{person.email}> left (offboarding #{offboarding.pk}); remove by hand:"]
    lines += [f"- {line}" for line in _pending_lines(offboarding)]
    lines.append("Then confirm in the Gatehouse admin: Offboardings → confirm manual removal.")
    return queue_issue_creation(
        project_key=project,
        summary=f"Offboarding: remove {person.email}'s remaining access by hand",
        description=plain_doc("\n".join(lines)),
        issue_type=settings.JIRA_TICKETS["ISSUE_TYPE"],
        event=event,
    )
