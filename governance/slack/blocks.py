"""Block Kit for Gatehouse's Slack messages and modals, built with slack-sdk's models."""

from __future__ import annotations

from django.utils import timezone
from slack_sdk.models.blocks import (
    ActionsBlock,
    ButtonElement,
    ContextBlock,
    MarkdownTextObject,
    SectionBlock,
)

from catalog.durations import format_iso_duration
from governance.models import AccessRequest, ApprovalStep, Grant

APPROVE = "gatehouse_approve"
DENY = "gatehouse_deny"
EXTEND = "gatehouse_extend"
LINK = "gatehouse_link"  # a button that opens a page; Slack still sends the click, which is only acknowledged


def _current_access(request: AccessRequest) -> str:
    live = Grant.objects.filter(
        person_id=request.beneficiary_id, role__application_id=request.application_id, status__in=Grant.LIVE
    ).select_related("role")
    names = [grant.role.name for grant in live]
    return ", ".join(names) if names else "none"


def approval_text(step: ApprovalStep) -> str:
    """The plain-text summary (notification text and fallback for clients without blocks)."""
    request = step.request
    return f"{request.requester.name} asks for {request.role} for {request.beneficiary.name}."


def approval_blocks(step: ApprovalStep, *, title: str = "") -> list[dict]:
    """The approver's DM: the request, its route and context, and Approve / Deny."""
    request = step.request
    total = request.steps.count()
    duration = format_iso_duration(request.duration) if request.duration else "no end date"
    fields = [
        MarkdownTextObject(text=f"*Asked by*\n{request.requester.name}"),
        MarkdownTextObject(text=f"*For*\n{request.beneficiary.name} ({request.beneficiary.email})"),
        MarkdownTextObject(text=f"*Application*\n{request.application.name}"),
        MarkdownTextObject(text=f"*Role*\n{request.role.name}"),
        MarkdownTextObject(text=f"*Duration*\n{duration}"),
        MarkdownTextObject(text=f"*Risk tier*\n{request.application.get_risk_tier_display()}"),
        MarkdownTextObject(text=f"*Route*\nstep {step.order} of {total}"),
        MarkdownTextObject(text=f"*Current access to {request.application.name}*\n{_current_access(request)}"),
    ]
    value = str(step.pk)
    blocks = [
        SectionBlock(
            text=MarkdownTextObject(text=f"*{title or f'Approval needed: {request}'}*\n{approval_text(step)}")
        ),
        SectionBlock(fields=fields),
        SectionBlock(text=MarkdownTextObject(text=f"*Reason*\n{request.reason}")),
        ActionsBlock(
            block_id=f"decide-{step.pk}",
            elements=[
                ButtonElement(text="Approve", action_id=APPROVE, value=value, style="primary"),
                ButtonElement(text="Deny", action_id=DENY, value=value, style="danger"),
            ],
        ),
    ]
    return [block.to_dict() for block in blocks]


def outcome_line(step: ApprovalStep) -> str:
    """Who decided the step, when, and where (for the updated DM and stale clicks)."""
    who = step.decided_by.name if step.decided_by else (step.decided_by_user or "Gatehouse")
    when = timezone.localtime(step.decided_at).strftime("%Y-%m-%d %H:%M %Z") if step.decided_at else "earlier"
    verb = {"approved": "Approved", "denied": "Denied"}.get(step.status, step.get_status_display())
    where = f" via {step.channel.capitalize()}" if step.channel else ""
    return f"{verb} by {who}{where} at {when}."


def decided_blocks(step: ApprovalStep) -> list[dict]:
    """The approver's DM after the step is decided (from any channel): no buttons left."""
    request = step.request
    blocks = [
        SectionBlock(text=MarkdownTextObject(text=f"*{request}*\n{approval_text(step)}")),
        ContextBlock(elements=[MarkdownTextObject(text=outcome_line(step))]),
    ]
    return [block.to_dict() for block in blocks]


def notice_blocks(
    text: str, *, button: tuple[str, str, str] | None = None, link: tuple[str, str] | None = None
) -> list[dict]:
    """A plain notice, optionally with one button (label, action_id, value) and one link button
    (label, URL: Slack opens it in the browser)."""
    blocks: list = [SectionBlock(text=MarkdownTextObject(text=text[:2900]))]
    elements = []
    if button:
        label, action_id, value = button
        elements.append(ButtonElement(text=label, action_id=action_id, value=value, style="primary"))
    if link:
        label, url = link
        elements.append(ButtonElement(text=label, action_id=LINK, url=url))
    if elements:
        blocks.append(ActionsBlock(elements=elements))
    return [block.to_dict() for block in blocks]
