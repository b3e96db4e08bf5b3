"""What was asked and decided. Each topic package holds its own models; Django finds them here."""

from governance.audit.models import AuditChain, AuditEvent
from governance.drift.models import DriftFinding
from governance.grants.models import (
    EmergencyReview,
    ExpiryWarning,
    Grant,
    GrantExtension,
    GrantFulfilmentTask,
    GrantMembershipChange,
)
from governance.jira.models import JiraCatalogOption, JiraUpdate
from governance.lifecycle.models import LifecycleEvent, Offboarding, PersonState
from governance.notifications.models import OutboundMessage
from governance.requests.models import (
    AccessRequest,
    ApprovalDecision,
    ApprovalPolicy,
    ApprovalStep,
    AutoApprovalRule,
    Delegation,
    PolicyStep,
    StepKind,
    validate_departments,
)
from governance.slack.models import SlackInbound, SlackPost
from governance.tokens.models import ApiToken

__all__ = [
    "AccessRequest",
    "ApiToken",
    "ApprovalDecision",
    "ApprovalPolicy",
    "ApprovalStep",
    "AuditChain",
    "AuditEvent",
    "AutoApprovalRule",
    "Delegation",
    "DriftFinding",
    "EmergencyReview",
    "ExpiryWarning",
    "Grant",
    "GrantExtension",
    "GrantFulfilmentTask",
    "GrantMembershipChange",
    "JiraCatalogOption",
    "JiraUpdate",
    "LifecycleEvent",
    "Offboarding",
    "OutboundMessage",
    "PersonState",
    "PolicyStep",
    "SlackInbound",
    "SlackPost",
    "StepKind",
    "validate_departments",
]
