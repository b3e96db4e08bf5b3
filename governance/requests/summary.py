"""Where a request stands, in a few lines a person reads (the requester's DM or email)."""

from __future__ import annotations

from django.conf import settings

from governance.models import AccessRequest


def jira_link(request: AccessRequest) -> str:
    """The request's Jira issue in the browser, or "" when it has none (or Jira is not set up)."""
    if not request.jira_issue_key or not settings.JIRA_BASE_URL:
        return ""
    return f"{settings.JIRA_BASE_URL.rstrip('/')}/browse/{request.jira_issue_key}"


def route_summary(request: AccessRequest) -> str:
    """The request's status, its Jira issue and each step of its route with its approvers."""
    lines = [f"{request.role} for {request.beneficiary.name}: {request.get_status_display()}."]
    link = jira_link(request)
    if link:
        lines.append(f"Jira: {link}")
    for step in request.steps.prefetch_related("approvers").order_by("order"):
        people = ", ".join(person.name for person in step.approvers.all()) or step.get_kind_display()
        lines.append(f"Step {step.order}: {people} ({step.get_status_display()})")
    return "\n".join(lines)
