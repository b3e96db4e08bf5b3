"""Whether Slack is on, and the one Web API client (slack-sdk) every outbound call uses."""

from __future__ import annotations

from django.conf import settings
from slack_sdk import WebClient

from governance.requests.channels import SLACK  # the channel name in messages, decisions and audit events

__all__ = ["SLACK", "api_url", "enabled", "web_client"]


def enabled() -> bool:
    """Slack is on only when both the bot token and the signing secret are set."""
    return bool(settings.SLACK_BOT_TOKEN and settings.SLACK_SIGNING_SECRET)


def api_url() -> str:
    url = settings.SLACK_API_URL or "https://slack.com/api/"
    return url if url.endswith("/") else url + "/"


def web_client() -> WebClient:
    """A Web API client for the bot. In-process retries stay the SDK's (one retry of a dropped
    connection); throttling and outages are retried later by the outbox."""
    return WebClient(
        token=settings.SLACK_BOT_TOKEN,
        base_url=api_url(),
        timeout=int(settings.SLACK["TIMEOUT_SECONDS"]),
    )
