"""Realistic OpenAPI examples (the demo company's people and Jira keys such as ITHELP-123).

Each request example is also a valid body for its endpoint's input serializer (tests/test_openapi_schema.py
checks it), so the documentation cannot drift from what the API accepts."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiExample, OpenApiParameter

KEY = "ITHELP-123"

SUBMIT = {
    "jira_issue_key": KEY,
    "requester": "alan@northwind.example",
    "application": "github",
    "role": "maintainer",
    "duration": "P7D",
    "reason": "Release captain for 3.2",
}
SUBMIT_FROM_FORM = {
    "jira_issue_key": "ITHELP-124",
    "requester": "ada@northwind.example",
    "catalog_application": "GitHub",
    "catalog_role": "Member",
    "reason": "Joining the platform team",
}
APPROVE = {"approver": "margaret@northwind.example", "comment": "Approved for the release"}
DENY = {"approver": "margaret@northwind.example", "comment": "Use the release bot instead"}
CANCEL = {"by": "alan@northwind.example", "reason": "No longer needed: the release moved"}
REVOKE = {"by": "margaret@northwind.example", "reason": "Release 3.2 shipped"}
EXTEND = {"by": "alan@northwind.example", "duration": "P7D", "reason": "The 3.2 release slipped a week"}
EXTEND_NEW_ROUND = {**EXTEND, "duration": "P30D", "jira_issue_key": "ITHELP-131"}
EMERGENCY_REVIEW = {"approver": "whit@northwind.example", "decision": "confirm", "comment": "Incident INC-42"}
OFFBOARD = {
    "by": "frank@northwind.example",
    "reason": "Last day at Northwind",
    "jira_issue_key": "HR-7",
    "effective_at": "2026-12-31T17:00:00Z",
}
ACTIVITY = {
    "activity": [
        {"application": "salesforce", "person": "neil@northwind.example", "last_active_at": "2026-11-30T08:15:00Z"}
    ]
}

REQUEST_ANSWER = {
    "id": 42,
    "jira_issue_key": KEY,
    "status": "pending_approval",
    "status_reason": "",
    "requester": "alan@northwind.example",
    "beneficiary": "alan@northwind.example",
    "application": "github",
    "role": "maintainer",
    "duration": "P7D",
    "reason": "Release captain for 3.2",
    "emergency": False,
    "extends_grant": None,
    "policy": "Default: manager approval v1 (global default)",
    "created_at": "2026-11-23T09:02:11Z",
    "closed_at": None,
    "steps": [
        {
            "order": 1,
            "kind": "manager",
            "status": "pending",
            "approvers": ["margaret@northwind.example"],
            "route_note": "",
            "decided_by": None,
            "decided_at": None,
            "channel": "",
            "comment": "",
        }
    ],
    "grant": None,
}
GRANT_ANSWER = {
    "id": 7,
    "status": "active",
    "person": "alan@northwind.example",
    "application": "github",
    "role": "maintainer",
    "request": KEY,
    "duration": "P14D",
    "starts_at": "2026-11-23T09:05:40Z",
    "expires_at": "2026-12-07T09:05:40Z",
    "ended_at": None,
    "removed_at": None,
    "end_reason": "",
    "extensions": [
        {
            "added": "P7D",
            "previous_expires_at": "2026-11-30T09:05:40Z",
            "new_expires_at": "2026-12-07T09:05:40Z",
            "reason": "The 3.2 release slipped a week",
            "approved_without_round": True,
        }
    ],
    "changes": [
        {
            "id": 311,
            "action": "add",
            "group": "github-maintainers",
            "connector": "okta",
            "status": "succeeded",
            "result": "added",
            "attempts": 1,
            "error": "",
            "created_at": "2026-11-23T09:05:40Z",
            "finished_at": "2026-11-23T09:05:41Z",
        }
    ],
    "fulfilment_tasks": [],
}


def body(name: str, value: dict, summary: str = "") -> OpenApiExample:
    return OpenApiExample(name, value=value, summary=summary or name, request_only=True)


def answer(name: str, value: dict, status: str = "200") -> OpenApiExample:
    return OpenApiExample(name, value=value, response_only=True, status_codes=[status])


ISSUE_KEY_PARAMETER = OpenApiParameter(
    "key", str, OpenApiParameter.PATH, description=f"The request's Jira issue key, e.g. `{KEY}` (any case)."
)
GRANT_ID_PARAMETER = OpenApiParameter(
    "grant_id", int, OpenApiParameter.PATH, description="The grant's id (`grant.id` of its request), e.g. `7`."
)
EMAIL_PARAMETER = OpenApiParameter(
    "email", str, OpenApiParameter.PATH, description="The person's email, e.g. `alan@northwind.example`."
)
