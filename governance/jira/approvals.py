"""Decisions that can be verified: with JIRA_VERIFY_APPROVALS, an API decision on a request with a
Jira issue counts only when Jira Service Management's approval record says the same."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings

from catalog.models import Person
from governance.errors import Conflict, GovernanceError
from governance.jira.client import JiraClient, JiraError
from governance.jira.queue import jira_config
from governance.models import AccessRequest

DECISION = {True: "approved", False: "declined"}


class JiraUnavailable(GovernanceError):
    """Jira could not be asked; the decision is refused, never accepted unverified (retry later)."""

    status_code = 503
    code = "jira_unavailable"


@dataclass(frozen=True)
class Verification:
    approval_id: str
    approval_name: str

    @property
    def note(self) -> str:
        return f"verified against Jira approval {self.approval_id}"


def verification_required(request: AccessRequest, channel: str) -> bool:
    return bool(settings.JIRA_VERIFY_APPROVALS and channel == "api" and request.jira_issue_key)


def _is(person: Person, approver: dict) -> bool:
    email = str(approver.get("emailAddress") or "").strip().lower()
    account = str(approver.get("accountId") or "")
    if email and email == person.email.lower():
        return True
    return bool(person.atlassian_account_id and account == person.atlassian_account_id)


def _what_jira_says(approvals: list[dict], person: Person) -> str:
    if not approvals:
        return "Jira has no approval on this request"
    parts = []
    for approval in approvals:
        number = approval.get("id")
        mine = [a for a in approval.get("approvers") or [] if _is(person, a.get("approver") or {})]
        if mine:
            parts.append(f"approval {number} records {person.email} as {mine[0].get('approverDecision')}")
        else:
            parts.append(f"approval {number} ({approval.get('finalDecision')}) does not list {person.email}")
    return "; ".join(parts)


def verify_decision(request: AccessRequest, person: Person | None, approve: bool) -> Verification:
    """The Jira approval in which `person` made this decision; 409 `unverified_decision` when Jira
    says otherwise, 503 `jira_unavailable` when Jira cannot be asked."""
    wanted = DECISION[approve]
    if person is None:
        raise Conflict("Only a named person's decision can be verified against Jira.", code="unverified_decision")
    config = jira_config()
    if config is None:
        raise JiraUnavailable("JIRA_VERIFY_APPROVALS is on but Jira is not configured; the decision is refused.")
    try:
        with JiraClient(config) as client:
            approvals = client.list_approvals(request.jira_issue_key)
    except JiraError as error:
        if error.retryable:
            raise JiraUnavailable(
                f"Jira could not be asked about {request.jira_issue_key}'s approvals ({error}); try again later.",
                data={"retry_after": error.retry_after},
            ) from None
        raise Conflict(
            f"The decision cannot be verified: {error}", code="unverified_decision", data={"jira": str(error)}
        ) from None
    for approval in approvals:
        for entry in approval.get("approvers") or []:
            if _is(person, entry.get("approver") or {}) and entry.get("approverDecision") == wanted:
                return Verification(str(approval.get("id")), str(approval.get("name") or ""))
    says = _what_jira_says(approvals, person)
    raise Conflict(
        f"Jira does not record {person.email} as having {wanted} {request.jira_issue_key}: {says}.",
        code="unverified_decision",
        field="approver",
        data={"jira": says},
    )
