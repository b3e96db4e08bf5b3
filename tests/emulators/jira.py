"""A small stateful Jira Cloud REST v3 emulator: comments (ADF validated), comment properties,
issue properties, transitions, create issue, field-context options, Jira Service Management
approvals (paged with start/limit/isLastPage) and request creation, Basic auth, Jira's error
bodies and 429 headers."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.emulators.base import Emulator, Incoming, Reply, route
from tests.emulators.jira_options import FieldOptionsMixin

ISSUE = r"/rest/api/3/issue/(?P<key>[A-Za-z][A-Za-z0-9_]*-\d+)"
REQUEST = r"/rest/servicedeskapi/request/(?P<key>[A-Za-z][A-Za-z0-9_]*-\d+)"
APPROVAL_PAGE_MAX = 50  # the service desk API's default and maximum page size
NOT_FOUND = "Issue does not exist or you do not have permission to see it."
BLOCK_NODES = {
    "paragraph",
    "bulletList",
    "orderedList",
    "listItem",
    "heading",
    "rule",
    "codeBlock",
    "blockquote",
    "panel",
    "table",
    "tableRow",
    "tableHeader",
    "tableCell",
    "mediaSingle",
}
INLINE_NODES = {"text", "hardBreak", "mention", "emoji", "inlineCard", "date", "status"}
MARKS = {"strong", "em", "code", "link", "strike", "underline", "textColor", "subsup"}
PROPERTY_LIMIT = 32768


def jira_error(status: int, *messages: str, errors: dict[str, str] | None = None) -> Reply:
    return Reply(status, {"errorMessages": list(messages), "errors": errors or {}})


def adf_problem(node: Any, *, top: bool = True) -> str | None:
    """Why `node` is not a valid ADF document (the subset Gatehouse writes), or None."""
    if not isinstance(node, dict):
        return "not an object"
    if top:
        if node.get("type") != "doc" or node.get("version") != 1:
            return "the root must be {type: doc, version: 1}"
        if not isinstance(node.get("content"), list):
            return "doc.content must be a list"
        for child in node["content"]:
            if not isinstance(child, dict) or child.get("type") not in BLOCK_NODES:
                return f"unknown block node {child.get('type') if isinstance(child, dict) else child!r}"
            if problem := adf_problem(child, top=False):
                return problem
        return None
    kind = node.get("type")
    if kind == "text":
        if not isinstance(node.get("text"), str) or not node["text"]:
            return "text nodes need a non-empty text"
        for mark in node.get("marks") or []:
            if mark.get("type") not in MARKS:
                return f"unknown mark {mark.get('type')!r}"
            if mark["type"] == "link" and not (mark.get("attrs") or {}).get("href"):
                return "link marks need attrs.href"
        return None
    if kind not in BLOCK_NODES | INLINE_NODES:
        return f"unknown node {kind!r}"
    for child in node.get("content") or []:
        if problem := adf_problem(child, top=False):
            return problem
    return None


class JiraEmulator(FieldOptionsMixin, Emulator):
    def __init__(self, email: str = "gatehouse@example.com", api_token: str = "jira-token") -> None:
        super().__init__()
        self.email = email
        self.api_token = api_token
        self.issues: dict[str, dict[str, Any]] = {}
        self.contexts = {}  # field-context options (see jira_options)
        self.retry_after = 30
        self._next_id = 10000
        self.accept_then_fail_left = 0  # store the next comment(s) but answer 504 (response lost)
        self.service_desks: dict[str, tuple[str, set[str]]] = {}  # id -> (project key, request types)

    # -- test helpers -------------------------------------------------------------------
    def add_issue(self, key: str, *, status: str = "Open", transitions: list[str] | None = None) -> dict:
        names = transitions if transitions is not None else ["Approved", "Done", "Declined", "Cancelled"]
        issue = {
            "id": str(self._new_id()),
            "key": key,
            "status": status,
            "fields": {},
            "comments": [],
            "properties": {},
            "transitions": [{"id": str(11 * (i + 1)), "name": n, "to": {"name": n}} for i, n in enumerate(names)],
            "approvals": [],
        }
        self.issues[key] = issue
        return issue

    def add_approval(self, key: str, *approvers: tuple[str, str, str], name: str = "Approve the request") -> dict:
        """An approval on the issue; each approver is (email or "" when hidden, account id, decision)."""
        created = datetime.now(UTC)
        approval = {
            "id": str(self._new_id()),
            "name": name,
            "approvers": [
                {
                    "approver": {
                        "accountId": account,
                        "displayName": (email or account).split("@")[0],
                        **({"emailAddress": email} if email else {}),
                    },
                    "approverDecision": decision,
                }
                for email, account, decision in approvers
            ],
            "createdDate": {"iso8601": created.isoformat(), "epochMillis": int(created.timestamp() * 1000)},
        }
        self.issues[key]["approvals"].append(approval)
        return approval

    @staticmethod
    def _final(approval: dict) -> str:
        decisions = {a["approverDecision"] for a in approval["approvers"]}
        return "declined" if "declined" in decisions else "approved" if "approved" in decisions else "pending"

    def _shown(self, approval: dict, base: str) -> dict:
        final = self._final(approval)
        shown = {
            **approval,
            "finalDecision": final,
            "canAnswerApproval": final == "pending",
            "_links": {"self": f"{base}/rest/servicedeskapi/request/approval/{approval['id']}"},
        }
        if final != "pending":
            shown["completedDate"] = approval["createdDate"]
        return shown

    def comments(self, key: str) -> list[dict]:
        return self.issues[key]["comments"]

    def _new_id(self) -> int:
        self._next_id += 1
        return self._next_id

    # -- base hooks ---------------------------------------------------------------------
    def throttled_reply(self) -> Reply:
        reset = (datetime.now(UTC) + timedelta(seconds=self.retry_after)).isoformat(timespec="milliseconds")
        return Reply(
            429,
            {"errorMessages": ["Rate limit exceeded."], "errors": {}},
            {"Retry-After": str(self.retry_after), "X-RateLimit-Reset": reset.replace("+00:00", "Z")},
        )

    def error_reply(self, status: int, message: str) -> Reply:
        return jira_error(status, message)

    def before_request(self, incoming: Incoming) -> Reply | None:
        expected = base64.b64encode(f"{self.email}:{self.api_token}".encode()).decode()
        if incoming.headers.get("authorization") != f"Basic {expected}":
            return jira_error(401, "You are not authenticated. Authentication required to perform this operation.")
        return None

    def _issue(self, incoming: Incoming) -> dict | None:
        return self.issues.get(incoming.params["key"])

    @staticmethod
    def _body(incoming: Incoming) -> Any:
        try:
            return incoming.json()
        except ValueError:
            return None

    # -- comments -----------------------------------------------------------------------
    @route("POST", ISSUE + "/comment")
    def add_comment(self, incoming: Incoming) -> Reply:
        issue = self._issue(incoming)
        if issue is None:
            return jira_error(404, NOT_FOUND)
        body = self._body(incoming)
        if not isinstance(body, dict) or "body" not in body:
            return jira_error(400, errors={"comment": "Comment body can not be empty!"})
        if problem := adf_problem(body["body"]):
            return jira_error(400, "INVALID_INPUT", errors={"comment": f"Comment body is not valid ADF: {problem}"})
        comment_id = str(self._new_id())
        now = datetime.now(UTC).isoformat(timespec="milliseconds")
        comment = {
            "id": comment_id,
            "self": f"{self.base_url}/rest/api/3/issue/{issue['id']}/comment/{comment_id}",
            "author": {"emailAddress": self.email},
            "body": body["body"],
            "created": now,
            "updated": now,
            "properties": [{"key": p["key"], "value": p["value"]} for p in body.get("properties") or []],
        }
        issue["comments"].append(comment)
        if self.accept_then_fail_left > 0:
            self.accept_then_fail_left -= 1
            return jira_error(504, "Gateway timeout")
        return Reply(201, {k: v for k, v in comment.items() if k != "properties"})

    @route("GET", ISSUE + "/comment")
    def list_comments(self, incoming: Incoming) -> Reply:
        issue = self._issue(incoming)
        if issue is None:
            return jira_error(404, NOT_FOUND)
        start = int(incoming.arg("startAt", "0") or 0)
        size = min(int(incoming.arg("maxResults", "50") or 50), 100)
        expand = "properties" in (incoming.arg("expand", "") or "").split(",")
        page = issue["comments"][start : start + size]
        shown = [c if expand else {k: v for k, v in c.items() if k != "properties"} for c in page]
        return Reply(200, {"startAt": start, "maxResults": size, "total": len(issue["comments"]), "comments": shown})

    # -- service desk approvals ----------------------------------------------------------
    @route("GET", REQUEST + "/approval")
    def list_approvals(self, incoming: Incoming) -> Reply:
        issue = self._issue(incoming)
        if issue is None:
            return jira_error(404, NOT_FOUND)
        try:
            start = int(incoming.arg("start", "0") or 0)
            limit = min(int(incoming.arg("limit", str(APPROVAL_PAGE_MAX)) or APPROVAL_PAGE_MAX), APPROVAL_PAGE_MAX)
        except ValueError:
            return jira_error(400, "start and limit must be numbers.")
        values = issue["approvals"][start : start + limit]
        return Reply(
            200,
            {
                "_expands": [],
                "size": len(values),
                "start": start,
                "limit": limit,
                "isLastPage": start + len(values) >= len(issue["approvals"]),
                "_links": {"base": f"{self.base_url}/rest/servicedeskapi", "context": ""},
                "values": [self._shown(a, self.base_url) for a in values],
            },
        )

    # -- issue properties ----------------------------------------------------------------
    @route("PUT", ISSUE + r"/properties/(?P<prop>[^/]+)")
    def put_property(self, incoming: Incoming) -> Reply:
        issue = self._issue(incoming)
        if issue is None:
            return jira_error(404, NOT_FOUND)
        if not incoming.body:
            return jira_error(400, "The property value cannot be empty.")
        if len(incoming.body) > PROPERTY_LIMIT:
            return jira_error(400, "The property value is too long. The maximum allowed length is 32768 bytes.")
        value = self._body(incoming)
        if value is None:
            return jira_error(400, "The property value must be valid JSON.")
        created = incoming.params["prop"] not in issue["properties"]
        issue["properties"][incoming.params["prop"]] = value
        return Reply(201 if created else 200, None, content_type=None)

    @route("GET", ISSUE + r"/properties/(?P<prop>[^/]+)")
    def get_property(self, incoming: Incoming) -> Reply:
        issue = self._issue(incoming)
        if issue is None:
            return jira_error(404, NOT_FOUND)
        if incoming.params["prop"] not in issue["properties"]:
            return jira_error(404, f"The property with key '{incoming.params['prop']}' does not exist.")
        return Reply(200, {"key": incoming.params["prop"], "value": issue["properties"][incoming.params["prop"]]})

    # -- transitions ---------------------------------------------------------------------
    @route("GET", ISSUE + "/transitions")
    def list_transitions(self, incoming: Incoming) -> Reply:
        issue = self._issue(incoming)
        if issue is None:
            return jira_error(404, NOT_FOUND)
        return Reply(200, {"expand": "transitions", "transitions": issue["transitions"]})

    @route("POST", ISSUE + "/transitions")
    def do_transition(self, incoming: Incoming) -> Reply:
        issue = self._issue(incoming)
        if issue is None:
            return jira_error(404, NOT_FOUND)
        wanted = str(((self._body(incoming) or {}).get("transition") or {}).get("id", ""))
        match = next((t for t in issue["transitions"] if t["id"] == wanted), None)
        if match is None:
            return jira_error(400, f"Transition id '{wanted}' is not valid for this issue.")
        issue["status"] = match["to"]["name"]
        return Reply(204, None, content_type=None)

    # -- create issue --------------------------------------------------------------------
    @route("POST", r"/rest/api/3/issue")
    def create_issue(self, incoming: Incoming) -> Reply:
        body = self._body(incoming) or {}
        fields = body.get("fields") or {}
        errors = {}
        if not (fields.get("project") or {}).get("key"):
            errors["project"] = "Specify a valid project ID or key"
        if not fields.get("summary"):
            errors["summary"] = "You must specify a summary of the issue."
        if fields.get("description") is not None and (problem := adf_problem(fields["description"])):
            errors["description"] = f"Operation value must be an Atlassian Document: {problem}"
        if errors:
            return jira_error(400, errors=errors)
        project = fields["project"]["key"]
        number = sum(1 for k in self.issues if k.startswith(f"{project}-")) + 1
        issue = self.add_issue(f"{project}-{number}")
        issue["fields"] = fields
        issue["properties"] = {p["key"]: p["value"] for p in body.get("properties") or []}
        return Reply(
            201, {"id": issue["id"], "key": issue["key"], "self": f"{self.base_url}/rest/api/3/issue/{issue['id']}"}
        )

    # -- create a service desk request (Jira Service Management) ---------------------------
    def add_service_desk(self, desk_id: str, project: str, *request_types: str) -> None:
        """A service desk (its id, its project key) offering these request type ids."""
        self.service_desks[desk_id] = (project, set(request_types))

    @route("POST", r"/rest/servicedeskapi/request")
    def create_customer_request(self, incoming: Incoming) -> Reply:
        body = self._body(incoming) or {}
        desk = self.service_desks.get(str(body.get("serviceDeskId", "")))
        if desk is None:
            return jira_error(404, "The service desk does not exist or you do not have permission to see it.")
        project, types = desk
        if str(body.get("requestTypeId", "")) not in types:
            return jira_error(400, "The request type you specified does not exist in this service desk.")
        values = body.get("requestFieldValues") or {}
        if not values.get("summary"):
            return jira_error(400, errors={"summary": "You must specify a summary of the issue."})
        if "description" in values and not isinstance(values["description"], str):
            return jira_error(400, errors={"description": "The description must be text."})
        number = sum(1 for k in self.issues if k.startswith(f"{project}-")) + 1
        issue = self.add_issue(f"{project}-{number}")
        issue["fields"] = {"summary": values["summary"], "description": values.get("description")}
        issue["request"] = {
            "serviceDeskId": str(body["serviceDeskId"]),
            "requestTypeId": str(body["requestTypeId"]),
            "raiseOnBehalfOf": body.get("raiseOnBehalfOf"),
        }
        return Reply(
            201,
            {
                "issueId": issue["id"],
                "issueKey": issue["key"],
                "requestTypeId": str(body["requestTypeId"]),
                "serviceDeskId": str(body["serviceDeskId"]),
                "requestFieldValues": [
                    {"fieldId": "summary", "label": "Summary", "value": values["summary"]},
                    {"fieldId": "description", "label": "Description", "value": values.get("description")},
                ],
                "_links": {
                    "web": f"{self.base_url}/servicedesk/customer/portal/{body['serviceDeskId']}/{issue['key']}",
                    "self": f"{self.base_url}/rest/servicedeskapi/request/{issue['id']}",
                },
            },
        )
