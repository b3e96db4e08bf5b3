"""Asking for access from Slack: the `/access` modal step by step, then a request through the
same service as the API (source `slack`) with its Jira issue (JIRA_REQUESTS), answered in a DM
with the route and the issue link."""

from __future__ import annotations

from typing import Any

from django.db import transaction

from catalog.durations import parse_iso_duration
from catalog.models import Application, Role
from governance.errors import GovernanceError
from governance.jira.request_issues import open_request_issue
from governance.models import AccessRequest, OutboundMessage
from governance.notifications.services import notify_person, queue_slack
from governance.requests.services import RequestInput, submit_request
from governance.requests.summary import route_summary
from governance.slack import modals
from governance.slack.config import SLACK
from governance.slack.services import identify

Kind = OutboundMessage.Kind


def open_request_modal(*, trigger_id: str, user_id: str) -> OutboundMessage:
    """views.open with the request modal (the trigger is valid for 3 seconds)."""
    arguments = {"trigger_id": trigger_id, "view": modals.request_view()}
    return queue_slack(Kind.SLACK_VIEW, recipient=user_id, payload={"method": "views.open", "arguments": arguments})


def _chosen(view: dict[str, Any]) -> tuple[Application | None, Role | None]:
    slug = modals.state_value(view, modals.APPLICATION) or modals.metadata(view).get("application", "")
    application = Application.objects.filter(slug=slug, status=Application.Status.APPROVED).first() if slug else None
    if application is None:
        return None, None
    role_slug = modals.state_value(view, modals.ROLE)
    role = application.roles.filter(slug=role_slug, requestable=True).first() if role_slug else None
    return application, role


def update_request_modal(*, view: dict[str, Any], user_id: str) -> OutboundMessage:
    """views.update after an application or role was picked: show its roles, then durations."""
    application, role = _chosen(view)
    arguments = {
        "view_id": view["id"],
        "hash": view.get("hash"),
        "view": modals.request_view(application=application, role=role),
    }
    return queue_slack(Kind.SLACK_VIEW, recipient=user_id, payload={"method": "views.update", "arguments": arguments})


def check_request(view: dict[str, Any]) -> dict[str, str]:
    """The modal's errors by block id, answered with the acknowledgement (empty: accepted)."""
    application, role = _chosen(view)
    errors = {}
    if application is None:
        errors[modals.APPLICATION] = "Choose a requestable application."
    elif role is None:
        errors[modals.ROLE] = "Choose a role of this application."
    duration = modals.state_value(view, modals.DURATION)
    if role is not None and role.requires_duration and not duration:
        errors[modals.DURATION] = "This role needs a duration."
    if duration and parse_iso_duration(duration) is None:
        errors[modals.DURATION] = "Use an ISO 8601 duration such as PT6H or P7D."
    if not modals.state_value(view, modals.REASON):
        errors[modals.REASON] = "Say why you need it."
    return errors


def submit_from_slack(*, user_id: str, view: dict[str, Any]) -> AccessRequest | None:
    """Create the request as the Slack user, and its Jira issue when one is configured; DM them
    the route (after Jira answered, with the issue link), or why it was not created."""
    requester = identify(user_id)
    if requester is None:
        return None
    application, role = _chosen(view)
    other = modals.state_value(view, modals.BENEFICIARY)
    beneficiary = identify(other) if other and other != user_id else requester
    duration = modals.state_value(view, modals.DURATION)
    try:
        if beneficiary is None:
            raise GovernanceError("The person you chose is not in Gatehouse's directory.", field="beneficiary")
        if application is None or role is None:
            raise GovernanceError("Choose an application and a role.", field="role")
        with transaction.atomic():
            request, _ = submit_request(
                data=RequestInput(
                    requester=requester.email,
                    application=application.slug,
                    role=role.slug,
                    reason=modals.state_value(view, modals.REASON),
                    beneficiary=beneficiary.email if beneficiary != requester else None,
                    duration=parse_iso_duration(duration) if duration else None,
                ),
                source=SLACK,
            )
            if open_request_issue(request, source="Slack", tell_requester=True) is None:
                notify_person(requester, subject=f"Request {request} received", body=route_summary(request))
    except GovernanceError as error:
        notify_person(requester, subject="Your access request was not created", body=error.message)
        return None
    return request
