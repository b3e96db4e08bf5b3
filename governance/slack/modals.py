"""The `/access` request modal and the Deny modal (Block Kit views via slack-sdk's models), and
reading what was typed into them."""

from __future__ import annotations

import json
from typing import Any

from slack_sdk.models.blocks import (
    ExternalDataSelectElement,
    InputBlock,
    Option,
    PlainTextInputElement,
    SectionBlock,
    StaticSelectElement,
    UserSelectElement,
)
from slack_sdk.models.views import View

from catalog.models import Application, Role

REQUEST_CALLBACK = "gatehouse_access"
DENY_CALLBACK = "gatehouse_deny_comment"
APPLICATION = "gatehouse_application"
ROLE = "gatehouse_role"
DURATION = "gatehouse_duration"
REASON = "gatehouse_reason"
BENEFICIARY = "gatehouse_beneficiary"
COMMENT = "gatehouse_comment"
OPTIONS_LIMIT = 100  # Slack shows at most 100 options


def requestable_applications(query: str = "") -> list[dict]:
    """external_select options: requestable applications whose name or slug contains `query`."""
    apps = Application.objects.filter(status=Application.Status.APPROVED, roles__requestable=True).distinct()
    if query.strip():
        apps = apps.filter(name__icontains=query.strip()) | apps.filter(slug__icontains=query.strip())
    return [
        Option(value=app.slug, text=app.name[:75]).to_dict()
        for app in apps.order_by("name").only("slug", "name")[:OPTIONS_LIMIT]
    ]


def request_view(*, application: Application | None = None, role: Role | None = None) -> dict:
    """The request modal, as far as the requester got: roles appear once an application is chosen,
    durations once a role with allowed durations is."""
    chosen = Option(value=application.slug, text=application.name[:75]) if application else None
    items: list = [
        InputBlock(
            block_id=APPLICATION,
            label="Application",
            dispatch_action=True,
            element=ExternalDataSelectElement(
                action_id=APPLICATION, placeholder="Search the catalog", min_query_length=0, initial_option=chosen
            ),
        )
    ]
    if application is not None:
        roles = application.roles.filter(requestable=True).order_by("name")
        items.append(
            InputBlock(
                block_id=ROLE,
                label="Role",
                dispatch_action=True,
                element=StaticSelectElement(
                    action_id=ROLE,
                    placeholder="Choose a role",
                    options=[Option(value=r.slug, text=r.name[:75]) for r in roles],
                    initial_option=Option(value=role.slug, text=role.name[:75]) if role else None,
                ),
            )
        )
    if role is not None and role.allowed_durations:
        items.append(
            InputBlock(
                block_id=DURATION,
                label="Duration",
                optional=not role.requires_duration,
                element=StaticSelectElement(
                    action_id=DURATION,
                    placeholder="How long",
                    options=[Option(value=d, text=d) for d in role.allowed_durations],
                ),
            )
        )
    elif role is not None and role.requires_duration:
        items.append(
            InputBlock(
                block_id=DURATION,
                label="Duration (ISO 8601, e.g. P7D)",
                element=PlainTextInputElement(action_id=DURATION, placeholder="P7D"),
            )
        )
    items += [
        InputBlock(block_id=REASON, label="Reason", element=PlainTextInputElement(action_id=REASON, multiline=True)),
        InputBlock(
            block_id=BENEFICIARY,
            label="For someone else (optional)",
            optional=True,
            element=UserSelectElement(action_id=BENEFICIARY, placeholder="Yourself"),
        ),
    ]
    metadata = {"application": application.slug if application else "", "role": role.slug if role else ""}
    view = View(
        type="modal",
        callback_id=REQUEST_CALLBACK,
        title="Request access",
        submit="Request",
        close="Cancel",
        private_metadata=json.dumps(metadata),
        blocks=items,
    )
    return view.to_dict()


def deny_view(*, step_id: int, channel_id: str, ts: str, summary: str) -> dict:
    """Deny asks for a comment (required) before anything is recorded."""
    view = View(
        type="modal",
        callback_id=DENY_CALLBACK,
        title="Deny request",
        submit="Deny",
        close="Cancel",
        private_metadata=json.dumps({"step": step_id, "channel": channel_id, "ts": ts}),
        blocks=[
            SectionBlock(text=summary[:2900]),
            InputBlock(
                block_id=COMMENT,
                label="Why? (the requester sees this)",
                element=PlainTextInputElement(action_id=COMMENT, multiline=True),
            ),
        ],
    )
    return view.to_dict()


def state_value(view: dict[str, Any], block_id: str) -> str:
    """What was typed or chosen in a block of a submitted (or updated) view; "" when nothing."""
    element = (view.get("state", {}).get("values", {}).get(block_id) or {}).values()
    for value in element:
        if value.get("selected_option"):
            return value["selected_option"].get("value", "")
        if value.get("selected_user"):
            return value["selected_user"]
        return (value.get("value") or "").strip()
    return ""


def metadata(view: dict[str, Any]) -> dict[str, Any]:
    try:
        data = json.loads(view.get("private_metadata") or "{}")
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}
