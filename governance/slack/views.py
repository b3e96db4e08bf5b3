"""`POST /slack/events`: the one Request URL of the Slack app (events, interactivity, commands)."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_POST
from slack_bolt.adapter.django import SlackRequestHandler

from governance.slack.app import build_app
from governance.slack.config import api_url, enabled


@csrf_exempt  # Slack signs the request instead; bolt verifies the signature
@require_POST
def slack_events(request: HttpRequest) -> HttpResponse:
    if not enabled():
        return JsonResponse({"error": "Slack is not configured on this Gatehouse."}, status=404)
    timestamp = request.headers.get("X-Slack-Request-Timestamp", "")
    if not timestamp.isdigit():
        return JsonResponse({"error": "X-Slack-Request-Timestamp is missing or not a number."}, status=401)
    app = build_app(settings.SLACK_BOT_TOKEN, settings.SLACK_SIGNING_SECRET, api_url())
    return SlackRequestHandler(app).handle(request)
