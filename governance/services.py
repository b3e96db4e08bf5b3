"""Every state change of governance goes through these functions (see DESIGN.md)."""

from governance.audit.services import Actor, record, record_many
from governance.grants.bulk_expiry import expire_due_grants
from governance.grants.coverage import unexplained_memberships
from governance.grants.emergency import review_emergency
from governance.grants.ending import end_grants
from governance.grants.services import (
    activate_grant,
    expire_grant,
    fulfilment_task_done,
    may_revoke,
    membership_change_failed,
    membership_changes_succeeded,
    remove_standing_membership,
    revoke_grant,
    start_grant,
)
from governance.lifecycle.activity import ActivityRow, record_activity
from governance.notifications.services import notify_people, notify_person
from governance.requests.decisions import Verdict, can_decide, cancel_request, decide_step
from governance.requests.extend import extend_grant
from governance.requests.services import RequestInput, find_person, submit_request, validate_duration
from governance.requests.steps import current_step
from governance.tokens.services import (
    check_actor,
    create_api_token,
    revoke_api_token,
    rotate_api_token,
    verify_api_token,
)

__all__ = [
    "ActivityRow",
    "Actor",
    "RequestInput",
    "Verdict",
    "activate_grant",
    "can_decide",
    "cancel_request",
    "check_actor",
    "create_api_token",
    "current_step",
    "decide_step",
    "end_grants",
    "expire_due_grants",
    "expire_grant",
    "extend_grant",
    "find_person",
    "fulfilment_task_done",
    "may_revoke",
    "membership_change_failed",
    "membership_changes_succeeded",
    "notify_people",
    "notify_person",
    "record",
    "record_activity",
    "record_many",
    "remove_standing_membership",
    "review_emergency",
    "revoke_api_token",
    "revoke_grant",
    "rotate_api_token",
    "start_grant",
    "submit_request",
    "unexplained_memberships",
    "validate_duration",
    "verify_api_token",
]
