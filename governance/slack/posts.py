"""The approval DMs of a step, kept up to date: after a decision from any channel, each says who
decided, when and where."""

from __future__ import annotations

from django.utils import timezone

from governance.models import ApprovalStep, OutboundMessage, SlackPost
from governance.notifications.services import queue_slack
from governance.slack import config


def step_decided(step: ApprovalStep) -> int:
    """After a decision from any channel: every open approval DM of the step says who decided,
    when and where (its buttons go). Call inside the decision's transaction. Without Slack
    configured there is no DM to update (an update queued then could only fail)."""
    return refresh_posts(step) if config.enabled() else 0


def refresh_posts(step: ApprovalStep, *, only_open: bool = True, channel_id: str = "", ts: str = "") -> int:
    """Queue a chat.update for the step's DMs (the open ones, or the one at channel_id/ts)."""
    posts = SlackPost.objects.filter(step=step)
    if only_open:
        posts = posts.filter(closed_at__isnull=True)
    if channel_id and ts:
        posts = posts.filter(channel_id=channel_id, ts=ts)
    rows = list(posts.select_related("person"))
    for post in rows:
        queue_slack(OutboundMessage.Kind.SLACK_UPDATE, recipient=post.person.email, payload={"post": post.pk})
    SlackPost.objects.filter(pk__in=[post.pk for post in rows], closed_at__isnull=True).update(closed_at=timezone.now())
    return len(rows)
