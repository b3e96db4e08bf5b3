"""docs/jira.md's Automation recipes to revoke and to extend from the request's own issue, run as
written: the URLs, methods and bodies are read from the document, their smart values filled in as
Jira Automation would, and sent to the API with a token of the scopes the document creates."""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
from rest_framework.test import APIClient

from catalog.durations import parse_iso_duration
from governance import services
from governance.jira.state import issue_property
from governance.models import AccessRequest, Grant

DOC = Path(__file__).resolve().parents[1] / "docs" / "jira.md"
SITE = "https://gatehouse.example.com"
SMART_VALUE = re.compile(r"\{\{([^{}#/]+)\}\}")


def section(title: str) -> str:
    text = DOC.read_text()
    start = text.index(f"### {title}")
    end = text.index("\n### ", start + 1)
    return text[start:end]


def documented_actions(title: str) -> list[dict[str, str]]:
    """Each "Send web request" of a recipe: its URL, method and (for POST) the JSON body below it."""
    text = section(title)
    urls = re.findall(r"URL: `([^`]+)`", text)
    methods = re.findall(r"Method: `([A-Z]+)`", text)
    bodies = re.findall(r"```json\n(.*?)\n```", text, re.S)
    if "exactly as in recipe 5" in text:  # the recipe reuses recipe 5's first action
        first = documented_actions("5. Revoke from the request's own issue")[0]
        urls, methods = [first["url"], *urls], [first["method"], *methods]
    actions, posted = [], iter(bodies)
    for url, method in zip(urls, methods, strict=True):
        actions.append({"url": url, "method": method, "body": next(posted) if method == "POST" else ""})
    return actions


def documented_token_scopes(name: str) -> str:
    for line in DOC.read_text().splitlines():
        if line.startswith(f"python manage.py create_api_token {name} "):
            return shlex.split(line)[shlex.split(line).index("--scopes") + 1]
    raise AssertionError(f"docs/jira.md creates no token {name}")


def lookup(path: str, context: dict[str, Any]) -> str:
    """A smart value as Automation renders it: dotted fields, `.first` of a list, `.jsonEncode`."""
    encode = path.endswith(".jsonEncode")
    value: Any = context
    for part in path.removesuffix(".jsonEncode").split("."):
        value = value[0] if part == "first" and isinstance(value, list) else value[part]
    if isinstance(value, list):
        value = ", ".join(map(str, value))
    text = str(value)
    return json.dumps(text)[1:-1] if encode else text


def render(template: str, context: dict[str, Any]) -> str:
    return SMART_VALUE.sub(lambda match: lookup(match.group(1).strip(), context), template)


def run_rule(client: APIClient, actions: list[dict[str, str]], context: dict[str, Any]) -> list:
    """Send each action in order; `webResponse` is the previous answer, as with the delay ticked."""
    answers = []
    for action in actions:
        url = render(action["url"], context).removeprefix(SITE)
        if action["method"] == "GET":
            response = client.get(url)
        else:
            body = json.loads(render(action["body"], context))  # the rendered body is valid JSON
            response = client.post(url, body, format="json")
        context["webResponse"] = {"status": response.status_code, "body": response.json()}
        answers.append(response)
    return answers


@pytest.fixture
def decisions_client(db) -> APIClient:
    _, secret = services.create_api_token(
        name="jira-decisions", scopes=documented_token_scopes("jira-decisions"), actor=services.Actor.system("tests")
    )
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
    return client


@pytest.fixture
def fulfilled(company, tasks) -> AccessRequest:
    """ITHELP-123: bob's six hours of wiki editor, approved by alice (his manager) and in place."""
    with tasks():
        request = services.submit_request(
            data=services.RequestInput(
                jira_issue_key="ITHELP-123",
                requester="bob@example.com",
                application="wiki",
                role="editor",
                duration=parse_iso_duration("PT6H"),
                reason="Release notes",
            )
        )[0]
        services.decide_step(request=request, actor=services.Actor.of_person(company.alice), approve=True)
    return request


def transition_by(person, **fields) -> dict[str, Any]:
    issue = {"key": "ITHELP-123", **fields}
    return {"issue": issue, "initiator": {"emailAddress": person.email, "displayName": 'Alice "Al" Owner'}}


def test_the_revoke_recipe_revokes_the_issues_grant(decisions_client, company, fulfilled, tasks):
    actions = documented_actions("5. Revoke from the request's own issue")
    assert [a["method"] for a in actions] == ["GET", "POST"]
    with tasks():
        lookup_answer, revoke_answer = run_rule(decisions_client, actions, transition_by(company.alice))
    assert lookup_answer.status_code == 200
    assert revoke_answer.status_code == 200, revoke_answer.json()
    grant = Grant.objects.get(request=fulfilled)
    assert grant.status == Grant.Status.REVOKED and grant.removed_at is not None
    assert grant.end_reason == 'Revoked from ITHELP-123 by Alice "Al" Owner'
    assert revoke_answer.json()["status"] == "revoked"


def test_the_revoke_recipe_refuses_someone_who_may_not_revoke(decisions_client, company, fulfilled):
    actions = documented_actions("5. Revoke from the request's own issue")
    _, refused = run_rule(decisions_client, actions, transition_by(company.charlie))
    assert refused.status_code == 403 and "by" in refused.json()["error"]["fields"]
    assert Grant.objects.get(request=fulfilled).status == Grant.Status.ACTIVE


def test_the_one_action_revoke_with_the_issue_property_works_too(decisions_client, company, fulfilled, tasks):
    text = section("5. Revoke from the request's own issue")
    url = re.search(r"posting\nto `([^`]+)`", text).group(1)
    body = documented_actions("5. Revoke from the request's own issue")[1]["body"]
    context = transition_by(company.alice, properties={"gatehouse": issue_property(fulfilled)})
    with tasks():
        (answer,) = run_rule(decisions_client, [{"url": url, "method": "POST", "body": body}], context)
    assert answer.status_code == 200 and answer.json()["status"] == "revoked"


def test_the_extend_recipe_extends_at_once_within_the_roles_policy(decisions_client, company, fulfilled):
    actions = documented_actions("6. Extend from the request's own issue")
    assert [a["method"] for a in actions] == ["GET", "POST"]
    before = Grant.objects.get(request=fulfilled).expires_at
    fields = {"customfield_10053": {"value": "P1D"}, "customfield_10054": 'The "3.2" release slipped\nby a day'}
    _, extended = run_rule(decisions_client, actions, transition_by(company.alice, **fields))
    assert extended.status_code == 200, extended.json()
    grant = Grant.objects.get(request=fulfilled)
    assert (grant.expires_at - before).days == 1
    assert grant.extensions.get().reason == 'The "3.2" release slipped\nby a day'


def test_the_extend_recipe_opens_an_approval_outside_the_policy_and_its_comment_renders(
    decisions_client, company, fulfilled
):
    actions = documented_actions("6. Extend from the request's own issue")
    fields = {"customfield_10053": {"value": "P30D"}, "customfield_10054": "Quarter-long project"}
    context = transition_by(company.bob, **fields)
    _, routed = run_rule(decisions_client, actions, context)
    assert routed.status_code == 202, routed.json()
    body = routed.json()
    assert body["extends_grant"] == Grant.objects.get(request=fulfilled).pk and body["status"] == "pending_approval"
    comment = re.search(r'\*\*Comment on work item:\*\* "(.*?)"', section("6. Extend"), re.S).group(1)
    rendered = render(" ".join(comment.split()), context)
    assert f"request #{body['id']}" in rendered and "alice@example.com" in rendered


def test_a_documented_body_with_a_bad_duration_is_a_400_naming_it(decisions_client, company, fulfilled):
    actions = documented_actions("6. Extend from the request's own issue")
    fields = {"customfield_10053": {"value": "a week"}, "customfield_10054": "More time"}
    _, refused = run_rule(decisions_client, actions, transition_by(company.alice, **fields))
    assert refused.status_code == 400 and "duration" in refused.json()["error"]["fields"]
