"""A small Jira Cloud REST v3 client: one session, Basic auth (email:api_token), a timeout on every call.

Errors are typed: `JiraRetryableError` (429, 5xx, timeouts, connection errors; carrying Jira's
retry-after in seconds) versus `JiraPermanentError` (400/401/403/404, with Jira's
`errorMessages`/`errors` body rendered readably).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests
from django.conf import settings

from lib.errors import DeliveryError
from lib.http import TimeoutSession, parse_retry_after

API = "/rest/api/3"
SERVICE_DESK_API = "/rest/servicedeskapi"


class JiraError(DeliveryError):
    """A Jira call failed. `retryable` errors may succeed later (after `retry_after` seconds)."""

    retryable = False

    def __init__(self, message: str, *, status: int | None = None, retry_after: float | None = None):
        super().__init__(message, status=status, retry_after=retry_after)


class JiraRetryableError(JiraError):
    retryable = True


class JiraPermanentError(JiraError):
    retryable = False


class TransitionNotFound(JiraPermanentError):
    """The issue's workflow offers no transition of that name from its current status."""

    permanent_note = "not retried"

    def __init__(self, message: str, *, available: list[str]):
        super().__init__(message, status=None)
        self.available = available


@dataclass(frozen=True)
class JiraConfig:
    base_url: str
    email: str
    api_token: str
    timeout: float = 10.0

    def __repr__(self) -> str:  # never show the token
        return f"JiraConfig(base_url={self.base_url!r}, email={self.email!r}, timeout={self.timeout})"


def jira_config() -> JiraConfig | None:
    """The Jira connection settings, or None when write-back is off or incomplete."""
    if not getattr(settings, "JIRA_ENABLED", False):
        return None
    base_url, email, token = settings.JIRA_BASE_URL, settings.JIRA_EMAIL, settings.JIRA_API_TOKEN
    if not (base_url and email and token):
        return None
    return JiraConfig(base_url=base_url, email=email, api_token=token, timeout=settings.JIRA["TIMEOUT_SECONDS"])


def describe_error_body(response: requests.Response) -> str:
    """Jira's `{"errorMessages": [...], "errors": {field: message}}` as one readable line."""
    try:
        body = response.json()
    except ValueError:
        return (response.text or response.reason or "").strip()[:500]
    if not isinstance(body, dict):
        return str(body)[:500]
    parts = [str(m) for m in body.get("errorMessages") or []]
    parts += [f"{field}: {message}" for field, message in (body.get("errors") or {}).items()]
    return "; ".join(parts) or str(body)[:500]


class JiraClient:
    """The calls Gatehouse makes to Jira. Create one per task run and `close()` it."""

    def __init__(self, config: JiraConfig):
        self.config = config
        self.base_url = config.base_url.rstrip("/")
        self.session = TimeoutSession(config.timeout)
        self.session.auth = (config.email, config.api_token)
        self.session.headers.update({"Accept": "application/json", "User-Agent": "gatehouse"})

    def close(self) -> None:
        self.session.close()

    def __enter__(self) -> JiraClient:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # -- transport -------------------------------------------------------------------------
    def _call(self, method: str, path: str, *, json: Any = None, params: dict | None = None) -> requests.Response:
        what = f"{method} {path}"
        try:
            response = self.session.request(method, f"{self.base_url}{path}", json=json, params=params)
        except requests.Timeout as error:
            raise JiraRetryableError(f"Jira did not answer {what} in time: {error}") from error
        except requests.ConnectionError as error:
            raise JiraRetryableError(f"Could not reach Jira for {what}: {error}") from error
        status = response.status_code
        if status < 400:
            return response
        detail = describe_error_body(response)
        message = f"Jira answered {status} to {what}: {detail}" if detail else f"Jira answered {status} to {what}"
        if status == 429 or status >= 500:
            raise JiraRetryableError(message, status=status, retry_after=parse_retry_after(response.headers))
        raise JiraPermanentError(message, status=status)

    @staticmethod
    def _json(response: requests.Response) -> Any:
        if not response.content:
            return None
        try:
            return response.json()
        except ValueError as error:
            raise JiraRetryableError(f"Jira sent a body that is not JSON: {response.text[:200]!r}") from error

    # -- calls -----------------------------------------------------------------------------
    def add_comment(self, issue_key: str, body: dict, *, properties: dict[str, Any] | None = None) -> dict:
        """POST a comment (ADF `body`), with optional comment properties; returns Jira's comment."""
        payload: dict[str, Any] = {"body": body}
        if properties:
            payload["properties"] = [{"key": key, "value": value} for key, value in properties.items()]
        return self._json(self._call("POST", f"{API}/issue/{issue_key}/comment", json=payload))

    def list_comments(self, issue_key: str, *, with_properties: bool = True, page_size: int = 100) -> list[dict]:
        """Every comment of the issue, oldest first (following startAt/total paging)."""
        comments: list[dict] = []
        start = 0
        while True:
            params: dict[str, Any] = {"startAt": start, "maxResults": page_size, "orderBy": "created"}
            if with_properties:
                params["expand"] = "properties"
            page = self._json(self._call("GET", f"{API}/issue/{issue_key}/comment", params=params)) or {}
            batch = page.get("comments") or []
            comments.extend(batch)
            start += len(batch)
            if not batch or start >= int(page.get("total", start)):
                return comments

    def list_approvals(self, issue_key: str, *, page_size: int = 50) -> list[dict]:
        """Every Jira Service Management approval of the request (following start/limit/isLastPage)."""
        approvals: list[dict] = []
        start = 0
        while True:
            params = {"start": start, "limit": page_size}
            path = f"{SERVICE_DESK_API}/request/{issue_key}/approval"
            page = self._json(self._call("GET", path, params=params)) or {}
            batch = page.get("values") or []
            approvals.extend(batch)
            start += len(batch)
            if not batch or page.get("isLastPage", True):
                return approvals

    def set_issue_property(self, issue_key: str, key: str, value: Any) -> bool:
        """PUT an issue property; True when Jira created it (201), False when it updated it (200)."""
        response = self._call("PUT", f"{API}/issue/{issue_key}/properties/{key}", json=value)
        return response.status_code == 201

    def get_issue_property(self, issue_key: str, key: str) -> Any:
        return (self._json(self._call("GET", f"{API}/issue/{issue_key}/properties/{key}")) or {}).get("value")

    def list_transitions(self, issue_key: str) -> list[dict]:
        """The transitions the issue's workflow offers from its current status."""
        body = self._json(self._call("GET", f"{API}/issue/{issue_key}/transitions")) or {}
        return list(body.get("transitions") or [])

    def transition(self, issue_key: str, name: str) -> dict:
        """Perform the transition called `name` (case-insensitive); TransitionNotFound if none is offered."""
        transitions = self.list_transitions(issue_key)
        match = next((t for t in transitions if str(t.get("name", "")).casefold() == name.casefold()), None)
        if match is None:
            available = [str(t.get("name")) for t in transitions]
            offered = ", ".join(available) or "none"
            raise TransitionNotFound(
                f"Issue {issue_key} offers no transition named {name!r} (offered: {offered}).", available=available
            )
        self._call("POST", f"{API}/issue/{issue_key}/transitions", json={"transition": {"id": str(match["id"])}})
        return match

    def create_issue(
        self,
        *,
        project_key: str,
        summary: str,
        description: dict | None = None,
        issue_type: str = "Task",
        properties: dict[str, Any] | None = None,
        fields: dict[str, Any] | None = None,
    ) -> dict:
        """Create an issue; returns Jira's `{id, key, self}`."""
        all_fields: dict[str, Any] = {
            "project": {"key": project_key},
            "issuetype": {"name": issue_type},
            "summary": summary[:255],
            **(fields or {}),
        }
        if description is not None:
            all_fields["description"] = description
        payload: dict[str, Any] = {"fields": all_fields}
        if properties:
            payload["properties"] = [{"key": key, "value": value} for key, value in properties.items()]
        return self._json(self._call("POST", f"{API}/issue", json=payload))

    def create_customer_request(
        self,
        *,
        service_desk_id: str,
        request_type_id: str,
        summary: str,
        description: str,
        raise_on_behalf_of: str = "",
    ) -> dict:
        """Create a Jira Service Management request; returns JSM's request (`issueId`, `issueKey`,
        `_links`). `raise_on_behalf_of` is the customer's Atlassian account id (else the caller)."""
        payload: dict[str, Any] = {
            "serviceDeskId": service_desk_id,
            "requestTypeId": request_type_id,
            "requestFieldValues": {"summary": summary[:255], "description": description},
        }
        if raise_on_behalf_of:
            payload["raiseOnBehalfOf"] = raise_on_behalf_of
        return self._json(self._call("POST", f"{SERVICE_DESK_API}/request", json=payload))

    # -- field-context options (the catalog's cascading select) -----------------------------
    def _options_path(self, field_id: str, context_id: str) -> str:
        return f"{API}/field/{field_id}/context/{context_id}/option"

    def list_field_options(self, field_id: str, context_id: str, *, page_size: int = 100) -> list[dict]:
        """Every option of the context (parents first, then children, in display order)."""
        options: list[dict] = []
        while True:
            params = {"startAt": len(options), "maxResults": page_size}
            page = self._json(self._call("GET", self._options_path(field_id, context_id), params=params)) or {}
            batch = page.get("values") or []
            options.extend(batch)
            if not batch or page.get("isLast", True):
                return options

    def create_field_options(self, field_id: str, context_id: str, options: list[dict]) -> list[dict]:
        """Create options (`value`, and `optionId` = the parent for a child); returns them with their ids."""
        body = {"options": options}
        return (self._json(self._call("POST", self._options_path(field_id, context_id), json=body)) or {}).get(
            "options"
        ) or []

    def update_field_options(self, field_id: str, context_id: str, options: list[dict]) -> None:
        """Rename, enable or disable options (each `{id, value?, disabled?}`)."""
        self._call("PUT", self._options_path(field_id, context_id), json={"options": options})

    def move_field_options(self, field_id: str, context_id: str, option_ids: list[str]) -> None:
        """Put these options (all parents, or children of one parent) first, in this order."""
        body = {"customFieldOptionIds": option_ids, "position": "First"}
        self._call("PUT", f"{self._options_path(field_id, context_id)}/move", json=body)
