"""Atlassian Document Format: small builders and one comment renderer per story event."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from typing import Any

from governance.models import AccessRequest, AuditEvent, Grant, StepKind
from governance.requests.channels import jira_label
from lib import readable

Node = dict[str, Any]
Inline = Node | str | None

# -- builders -------------------------------------------------------------------------------


def text(value: str, *, strong: bool = False, href: str | None = None) -> Node:
    """A text node; marks for bold and links."""
    node: Node = {"type": "text", "text": value}
    marks = []
    if strong:
        marks.append({"type": "strong"})
    if href:
        marks.append({"type": "link", "attrs": {"href": href}})
    if marks:
        node["marks"] = marks
    return node


def strong(value: str) -> Node:
    return text(value, strong=True)


def link(value: str, href: str) -> Node:
    return text(value, href=href)


def _inlines(parts: Iterable[Inline]) -> list[Node]:
    """Strings become text nodes; empty parts are dropped (ADF refuses empty text)."""
    nodes = []
    for part in parts:
        if not part:
            continue
        if isinstance(part, str):
            nodes.append(text(part))
        elif part.get("type") != "text" or part.get("text"):
            nodes.append(part)
    return nodes


def paragraph(*parts: Inline) -> Node:
    return {"type": "paragraph", "content": _inlines(parts)}


def bullet_list(*items: Iterable[Inline] | str) -> Node:
    """Each item is a string or a sequence of inline parts (rendered as one paragraph)."""
    content = []
    for item in items:
        parts = [item] if isinstance(item, (str, dict)) else list(item)
        content.append({"type": "listItem", "content": [paragraph(*parts)]})
    return {"type": "bulletList", "content": content}


def doc(*blocks: Node | None) -> Node:
    return {"type": "doc", "version": 1, "content": [b for b in blocks if b and b.get("content", True)]}


def plain_text(node: Node) -> str:
    """What a person reads: paragraphs and list items on their own lines, list items with "- "."""
    kind = node.get("type")
    if kind == "text":
        return node.get("text", "")
    if kind == "hardBreak":
        return "\n"
    children = node.get("content") or []
    if kind == "paragraph":
        return "".join(plain_text(c) for c in children)
    if kind == "listItem":
        return "- " + "\n".join(plain_text(c) for c in children)
    return "\n".join(plain_text(c) for c in children)


# -- small wording helpers ------------------------------------------------------------------


def when(value: datetime | str | None) -> str:
    """2026-11-23 09:50 UTC (storage is UTC; Jira shows the comment's own time in local time)."""
    return readable.moment(value, missing="an unknown time")


def human_duration(duration: timedelta | None) -> str:
    return f"for {readable.duration_words(duration)}" if duration else "with no end date"


def _who(label: str) -> str:
    if label.startswith("system:"):
        return {"system:policy": "policy (automatic)", "system:expiry": "the expiry schedule"}.get(
            label, f"Gatehouse ({label.removeprefix('system:')})"
        )
    return label


def _channel(channel: str) -> str:
    return jira_label(channel)


def _access(request: AccessRequest) -> str:
    return f"{request.application.name} — {request.role.name}"


def _comment(comment: str) -> Node | None:
    return paragraph(strong("Comment: "), comment.strip()) if comment and comment.strip() else None


def _step_kind(kind: str) -> str:
    try:
        return StepKind(kind).label
    except ValueError:
        return kind


# -- one renderer per story event -----------------------------------------------------------


def render_submitted(event: AuditEvent) -> Node:
    request = event.request
    route = event.data.get("route") or []
    beneficiary = (
        "for themselves"
        if request.beneficiary_id == request.requester_id
        else f"for {request.beneficiary.name} <{request.beneficiary.email}>"
    )
    route_items = []
    for step in route:
        if step.get("kind") == StepKind.AUTOMATIC:
            who: list[Inline] = ["approved automatically by policy"]
        else:
            who = [", ".join(step.get("approvers") or []) or "nobody (see note)"]
        note = step.get("note") or ""
        route_items.append(
            [strong(f"Step {step.get('order')}"), f" — {_step_kind(step.get('kind', ''))}: ", *who]
            + ([f" ({note})"] if note else [])
        )
    policy = event.data.get("policy") or request.policy_label or "no policy"
    return doc(
        paragraph(strong("Access request received by Gatehouse.")),
        paragraph(
            f"{request.requester.name} <{request.requester.email}> asks for ",
            strong(_access(request)),
            f" {beneficiary}, {human_duration(request.duration)}.",
        ),
        paragraph(strong("Reason: "), request.reason),
        paragraph(f"Approval route, by policy {policy}, in this order:") if route_items else None,
        bullet_list(*route_items) if route_items else None,
    )


def _step_total(request: AccessRequest) -> int:
    return request.steps.count()


def render_step_approved(event: AuditEvent) -> Node:
    data = event.data
    request = event.request
    total = _step_total(request)
    step_label = f"Step {data.get('step')} of {total}" if total else f"Step {data.get('step')}"
    if event.actor == "system:policy":
        return doc(paragraph(strong(f"{step_label} approved automatically"), f" by policy at {when(event.at)}."))
    override = " (as an override)" if data.get("override") else ""
    return doc(
        paragraph(
            strong(f"{step_label} approved"),
            " by ",
            strong(event.actor),
            f" via {_channel(data.get('channel', ''))} at {when(event.at)}{override}.",
        ),
        _comment(data.get("comment", "")),
    )


def render_step_denied(event: AuditEvent) -> Node:
    data = event.data
    override = " (as an override)" if data.get("override") else ""
    return doc(
        paragraph(
            strong(f"Denied at step {data.get('step')}"),
            " by ",
            strong(event.actor),
            f" via {_channel(data.get('channel', ''))} at {when(event.at)}{override}.",
        ),
        _comment(data.get("comment", "")),
        paragraph("The request is closed; no access will be granted."),
    )


def _change_line(change) -> list[Inline]:
    result = change.get_result_display().lower() if change.result else change.status
    line: list[Inline] = [strong(change.group.name), f" in {change.group.connector}: {result}"]
    if change.result == "kept" and change.last_error:
        line.append(f" ({change.last_error})")
    return line


def render_fulfilled(event: AuditEvent) -> Node:
    request = event.request
    grant: Grant | None = getattr(request, "grant", None)
    person = request.beneficiary
    blocks: list[Node | None] = [
        paragraph(strong("Access is in place: "), f"{person.name} <{person.email}> now has ", strong(_access(request))),
    ]
    if grant is not None:
        changes = list(grant.membership_changes.filter(action="add").select_related("group").order_by("id"))
        if changes:
            blocks.append(paragraph("Identity-provider groups:"))
            blocks.append(bullet_list(*(_change_line(c) for c in changes)))
        done = grant.fulfilment_tasks.filter(action="grant", status="done").select_related("done_by").first()
        if done is not None:
            by = done.done_by.get_username() if done.done_by else "IT"
            blocks.append(paragraph(f"Fulfilled by hand by {by} at {when(done.done_at)}.", _note(done.note)))
        if grant.expires_at is None:
            blocks.append(paragraph("It has no end date."))
    return doc(*blocks)


def _note(note: str) -> str:
    return f" Note: {note}" if note else ""


def render_failed(event: AuditEvent) -> Node | None:
    request = event.request
    reason = request.status_reason or event.message
    if reason.startswith("revoked:"):
        return None  # the revocation comment tells this story
    if event.actor == "system:routing" or event.data.get("from") == AccessRequest.Status.PENDING_APPROVAL:
        return doc(
            paragraph(strong("Gatehouse could not route this request: "), reason),
            paragraph("Nothing was granted."),
            paragraph(
                strong("What IT should do: "),
                f"check the approval policy for {_access(request)} (its approvers may be missing or inactive, "
                "or a fallback approver is needed), then ask the requester to submit the request again.",
            ),
        )
    return doc(
        paragraph(strong("Provisioning failed: "), reason),
        paragraph("Nothing stays granted: any group already added for this request is being removed."),
        paragraph(
            strong("What IT should do: "),
            "read the error above and the membership changes of this request in the Gatehouse admin; fix the cause "
            "in the identity provider or in the role's group mapping, then ask the requester to submit again.",
        ),
    )


def render_fulfilment_opened(event: AuditEvent) -> Node | None:
    grant = event.grant
    task = grant.fulfilment_tasks.filter(status="open").order_by("-id").first() if grant else None
    if task is None:
        return None
    return doc(
        paragraph(strong("Manual step for IT: "), task.instructions),
        paragraph("Mark the task done in the Gatehouse admin (Provisioning → fulfilment tasks) when it is done."),
    )


def render_expiry_scheduled(event: AuditEvent) -> Node:
    grant = event.grant
    expires = event.data.get("expires_at") or (grant.expires_at if grant else None)
    return doc(
        paragraph(
            strong("Expiry scheduled: "),
            f"this access ends at {when(expires)}; Gatehouse removes it from the identity provider then, "
            "with no action needed.",
        )
    )


def render_expired(event: AuditEvent) -> Node:
    grant = event.grant
    return doc(
        paragraph(
            strong("Access expired"),
            f" at {when(event.at)} (scheduled end {when(grant.expires_at if grant else None)}).",
        ),
        paragraph(f"Gatehouse is removing {grant.person.email} from the groups this request gave." if grant else None),
    )


def render_revoked(event: AuditEvent) -> Node:
    grant = event.grant
    return doc(
        paragraph(strong("Access revoked"), " by ", strong(_who(event.actor)), f" at {when(event.at)}."),
        paragraph(strong("Reason: "), grant.end_reason) if grant and grant.end_reason else None,
        paragraph(f"Gatehouse is removing {grant.person.email} from the groups this request gave." if grant else None),
    )


def render_removal_confirmed(event: AuditEvent) -> Node:
    grant = event.grant
    changes = list(grant.membership_changes.filter(action="remove").select_related("group").order_by("id"))
    if not changes and grant.status == Grant.Status.FAILED:
        return None  # nothing was in place; the failure comment tells the story
    return doc(
        paragraph(strong("Removal confirmed"), f" at {when(event.at)}: the access of this request has ended."),
        bullet_list(*(_change_line(c) for c in changes)) if changes else None,
    )


def render_cancelled(event: AuditEvent) -> Node:
    request = event.request
    return doc(
        paragraph(strong("Request cancelled"), " by ", strong(_who(event.actor)), f" at {when(event.at)}."),
        paragraph(strong("Reason: "), request.status_reason) if request.status_reason else None,
        paragraph("No access was granted."),
    )


def _headline(title: str) -> Callable[[AuditEvent], Node]:
    """A renderer for events whose audit message already reads well: a bold title, then the message."""

    def render(event: AuditEvent) -> Node:
        comment = (event.data or {}).get("comment")
        return doc(
            paragraph(strong(title), f" ({when(event.at)})."),
            paragraph(event.message),
            paragraph(strong("Comment: "), comment) if comment else None,
        )

    return render


RENDERERS: dict[str, Callable[[AuditEvent], Node | None]] = {
    "step.partially_approved": _headline("Approval recorded; more approvers must decide"),
    "step.reminded": _headline("Approvers reminded"),
    "step.escalated": _headline("Approval escalated"),
    "request.expired": _headline("Request expired undecided"),
    "grant.extended": _headline("Access extended"),
    "grant.extension_requested": _headline("Extension needs approval"),
    "grant.expiry_warning": _headline("Access ends soon"),
    "emergency.review_opened": _headline("EMERGENCY access granted (break-glass): review required"),
    "emergency.confirmed": _headline("Emergency access confirmed"),
    "emergency.rejected": _headline("Emergency access rejected"),
    "emergency.reminded": _headline("Emergency access review: reviewers reminded"),
    "emergency.escalated": _headline("Emergency access review escalated"),
    "emergency.expired": _headline("Emergency access unreviewed past the deadline"),
    "step.rerouted": _headline("Approval re-routed"),
    "review.kept": _headline("Access review: kept"),
    "review.revoke_executed": _headline("Access review: revoked"),
    "review.removal_confirmed": _headline("Access review: removal confirmed"),
    "reclaim.warned": _headline("Unused access: removal warning (Auto Reclaim)"),
    "reclaim.removal_requested": _headline("Unused access removed (Auto Reclaim)"),
    "reclaim.kept_active_again": _headline("Auto Reclaim: active again, access kept"),
    "request.submitted": render_submitted,
    "step.approved": render_step_approved,
    "step.denied": render_step_denied,
    "request.fulfilled": render_fulfilled,
    "request.failed": render_failed,
    "request.cancelled": render_cancelled,
    "fulfilment.opened": render_fulfilment_opened,
    "grant.expiry_scheduled": render_expiry_scheduled,
    "grant.expired": render_expired,
    "grant.revoked": render_revoked,
    "grant.removal_confirmed": render_removal_confirmed,
}


def render_event(event: AuditEvent) -> Node | None:
    """The comment for `event`, or None when that event is not one a person needs to read."""
    renderer = RENDERERS.get(event.action)
    return renderer(event) if renderer else None
