"""A Jira issue for a request made outside Jira (Slack's `/access`), so Jira stays the record.

JIRA_REQUESTS names where: a Jira Service Management request (service desk id and request type
id, raised on behalf of the requester when their Atlassian account id is known) or an issue of a
type in a project. The creation is a row of the Jira outbox written with the request; once Jira
answers, the key is set on the request (so every later audit event is written back as a comment)
and, when asked, the requester is told the route with the issue link.
"""

from __future__ import annotations

from django.conf import settings

from catalog.durations import format_iso_duration
from governance.audit.services import Actor, record
from governance.jira.queue import plain_doc, queue_issue_creation, queue_service_desk_request
from governance.models import AccessRequest, JiraUpdate
from governance.notifications.services import notify_person
from governance.requests.summary import route_summary
from lib.errors import DeliveryError

JIRA = Actor.system("jira")


def configured() -> bool:
    """Whether requests made outside Jira get an issue (a service desk or a project is set)."""
    config = settings.JIRA_REQUESTS
    return bool((config["SERVICE_DESK_ID"] and config["REQUEST_TYPE_ID"]) or config["PROJECT"])


def _summary(request: AccessRequest) -> str:
    return f"Access request: {request.role} for {request.beneficiary.name}"


def _description(request: AccessRequest, source: str) -> str:
    duration = format_iso_duration(request.duration) if request.duration else "no end date"
    return "\n".join(
        [
            f"{request.requester.name} ({request.requester.email}) asked in {source} for "
            f"{request.role} for {request.beneficiary.name} ({request.beneficiary.email}).",
            f"Duration: {duration}.",
            f"Reason: {request.reason}",
            f"Gatehouse request #{request.pk}; decisions and changes are written here as comments.",
        ]
    )


def open_request_issue(request: AccessRequest, *, source: str, tell_requester: bool) -> JiraUpdate | None:
    """Queue the request's Jira issue in the caller's transaction; None when no issue is
    configured, Jira is off, or the request has one already. `tell_requester`: DM (or email) the
    requester the route with the issue link once Jira has answered (or that it could not)."""
    if request.jira_issue_key or not configured():
        return None
    config = settings.JIRA_REQUESTS
    extra = {"request": request.pk, "tell_requester": tell_requester}
    if config["SERVICE_DESK_ID"] and config["REQUEST_TYPE_ID"]:
        return queue_service_desk_request(
            service_desk_id=config["SERVICE_DESK_ID"],
            request_type_id=config["REQUEST_TYPE_ID"],
            summary=_summary(request),
            description=_description(request, source),
            raise_on_behalf_of=request.requester.atlassian_account_id,
            extra=extra,
        )
    return queue_issue_creation(
        project_key=config["PROJECT"],
        summary=_summary(request),
        description=plain_doc(_description(request, source)),
        issue_type=config["ISSUE_TYPE"],
        extra=extra,
    )


def _request_of(update: JiraUpdate) -> AccessRequest | None:
    return (
        AccessRequest.objects.select_related("requester", "beneficiary", "role__application")
        .filter(pk=update.payload.get("request"))
        .first()
    )


def issue_created(update: JiraUpdate) -> None:
    """Jira created the issue (the outbox's success hook, in its transaction): link it to the
    request, record it (its property and comment follow), and tell the requester."""
    request = _request_of(update)
    if request is None or not update.issue_key:
        return
    if not request.jira_issue_key:
        AccessRequest.objects.filter(pk=request.pk, jira_issue_key__isnull=True).update(jira_issue_key=update.issue_key)
        request.jira_issue_key = update.issue_key
        record(
            "request.jira_issue_opened",
            f"Jira issue {update.issue_key} opened for request #{request.pk}.",
            actor=JIRA,
            request=request,
            data={"issue": update.issue_key, "update": update.pk},
        )
    if update.payload.get("tell_requester"):
        notify_person(request.requester, subject=f"Request {request} received", body=route_summary(request))


def issue_not_created(update: JiraUpdate, error: DeliveryError) -> None:
    """Jira refused the issue for good: recorded, and the requester still hears the route."""
    request = _request_of(update)
    if request is None:
        return
    record(
        "request.jira_issue_failed",
        f"Jira could not open an issue for request #{request.pk}: {error}",
        actor=JIRA,
        request=request,
        data={"update": update.pk},
    )
    if update.payload.get("tell_requester"):
        body = route_summary(request) + "\nThe Jira issue could not be created; IT has been told."
        notify_person(request.requester, subject=f"Request {request} received", body=body)
