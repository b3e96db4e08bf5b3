"""Errors raised by governance services. The API maps each class to one HTTP status."""

from __future__ import annotations


class GovernanceError(Exception):
    """Base class: a readable message, optionally naming the input field at fault."""

    status_code = 400
    code = "invalid"

    def __init__(self, message: str, *, field: str | None = None, code: str | None = None, data: dict | None = None):
        super().__init__(message)
        self.message = message
        self.field = field
        self.data = data or {}
        if code:
            self.code = code

    def __str__(self) -> str:
        return self.message


class InvalidInput(GovernanceError):
    status_code = 400
    code = "invalid"


class NotFound(GovernanceError):
    status_code = 404
    code = "not_found"


class NotAllowed(GovernanceError):
    """The person may not do this (not an approver of the step, self-approval, …)."""

    status_code = 403
    code = "forbidden"


class Conflict(GovernanceError):
    """The request is fine but the record's state does not allow it (HTTP 409)."""

    status_code = 409
    code = "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"
