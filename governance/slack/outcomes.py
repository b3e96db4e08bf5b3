"""The requester hears every outcome in Slack: approved, provisioned (with the groups), denied
(with the comment), failed (with what IT will do), and the grant expired. Only with Slack on (and
first in GATEHOUSE_NOTIFY_CHANNELS): otherwise the requester's messages stay as they were."""

from __future__ import annotations

from collections.abc import Sequence

from django.conf import settings

from catalog.models import IdpGroup
from governance.models import AccessRequest, Grant, OutboundMessage
from governance.notifications.services import notify_people
from governance.slack.config import SLACK, enabled

RequestStatus = AccessRequest.Status
FAILED_NEXT = "IT has been told: they retry the change or make it by hand, and the Jira issue (if any) has the details."


def _groups(request: AccessRequest) -> str:
    from governance.grants.changes import added_groups  # the one place that knows the grant↔change link

    grant = Grant.objects.filter(request=request).only("id").first()
    ids = added_groups([grant.pk]).get(grant.pk, set()) if grant else set()
    names = sorted(IdpGroup.objects.filter(id__in=ids).values_list("name", flat=True))
    return ", ".join(names) or "none (IT gives this access by hand)"


def request_text(request: AccessRequest, to: str) -> tuple[str, str] | None:
    """(subject, body) of the requester's DM for a request entering status `to`, or None."""
    what = f"{request.role} for {request.beneficiary.name}"
    reason = request.status_reason
    if to == RequestStatus.APPROVED:
        return f"Request {request} approved", f"{what} is approved; the access is being set up."
    if to == RequestStatus.FULFILLED:
        return f"Request {request}: access ready", f"{what} is in place. Groups: {_groups(request)}."
    if to == RequestStatus.DENIED:
        return f"Request {request} denied", f"{what} was denied." + (f"\nComment: {reason}" if reason else "")
    if to == RequestStatus.FAILED:
        return f"Request {request} failed", f"{what} could not be set up: {reason}\n{FAILED_NEXT}"
    if to == RequestStatus.EXPIRED:
        return f"Request {request} expired", f"{what} was not decided in time."
    return None


def moved(kind: str, objects: Sequence[AccessRequest | Grant], to: str) -> None:
    """The transitions listener (bound in governance's AppConfig.ready())."""
    if kind == "request":
        requests_moved(objects, to)
    elif kind == "grant" and to == Grant.Status.EXPIRED:
        grants_expired(objects)


def _slack_first() -> bool:
    """These messages exist only where Slack is on and people are told in Slack first."""
    return enabled() and settings.GATEHOUSE_NOTIFY_CHANNELS[:1] == [SLACK]


def requests_moved(requests: Sequence[AccessRequest], to: str) -> list[OutboundMessage]:
    """Queue the requesters' DMs for requests that entered `to` (one INSERT)."""
    if not requests or not _slack_first():
        return []
    texts = [(request, request_text(request, to)) for request in requests]
    return _tell([(request.requester, *text) for request, text in texts if text is not None])


def grants_expired(grants: Sequence[Grant]) -> list[OutboundMessage]:
    """Queue the holders' DMs for grants that expired (one INSERT for a whole batch)."""
    if not grants or not _slack_first():
        return []
    return _tell(
        [
            (grant.person, f"Your {grant.role} access has expired", "The groups it gave are being removed.")
            for grant in grants
        ]
    )


def _tell(messages: list) -> list[OutboundMessage]:
    """Over each person's channel (Slack, email for someone not found there)."""
    return notify_people(messages) if messages else []
