"""Every state change of governance goes through these functions (see DESIGN.md)."""

from governance.audit.services import Actor, record
from governance.grants.emergency import review_emergency
from governance.grants.extensions import extend_grant
from governance.grants.services import (
    activate_grant,
    expire_due_grants,
    expire_grant,
    fulfilment_task_done,
    may_revoke,
    membership_change_settled,
    remove_standing_membership,
    revoke_grant,
    start_grant,
)
from governance.notifications.services import notify_person
from governance.requests.services import (
    RequestInput,
    cancel_request,
    current_step,
    decide_step,
    find_person,
    submit_request,
    validate_duration,
)
from governance.tokens.services import (
    check_actor,
    create_api_token,
    revoke_api_token,
    rotate_api_token,
    verify_api_token,
)

__all__ = [
    "Actor",
    "RequestInput",
    "activate_grant",
    "cancel_request",
    "check_actor",
    "create_api_token",
    "current_step",
    "decide_step",
    "expire_due_grants",
    "expire_grant",
    "extend_grant",
    "find_person",
    "fulfilment_task_done",
    "may_revoke",
    "membership_change_settled",
    "notify_person",
    "record",
    "remove_standing_membership",
    "review_emergency",
    "revoke_api_token",
    "revoke_grant",
    "rotate_api_token",
    "start_grant",
    "submit_request",
    "validate_duration",
    "verify_api_token",
]
