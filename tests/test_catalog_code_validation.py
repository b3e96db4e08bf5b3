"""Every validation problem of catalog files names the file, the line and the field; nothing is applied."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from catalog.models import Application, IdpGroup

WIKI = """slug: wiki
name: Wiki
owner: alice@example.com
status: approved
roles:
  - slug: reader
    name: Reader
    groups:
      - connector: local
        external_id: wiki-readers
"""


def problems(directory) -> str:
    with pytest.raises(CommandError) as raised:
        call_command("catalog", "plan", str(directory))
    return str(raised.value)


@pytest.fixture
def files(company, tmp_path):
    (tmp_path / "applications").mkdir()
    (tmp_path / "policies").mkdir()

    def write(relative: str, text: str):
        (tmp_path / relative).write_text(text)
        return tmp_path

    return write


CASES = [
    ("applications/wiki.yaml", "slug: wiki\nname: [unclosed\n", "applications/wiki.yaml:3: (file): not valid YAML"),
    (
        "applications/wiki.yaml",
        "slug: wiki\nname: Wiki\nname: Again\n",
        "applications/wiki.yaml:3: (file): not valid YAML",
    ),
    ("applications/wiki.yaml", "- just\n- a list\n", "applications/wiki.yaml:1: (file): must be a mapping"),
    ("applications/wiki.yaml", WIKI + "colour: blue\n", "applications/wiki.yaml:11: colour: unknown field"),
    ("applications/wiki.yaml", WIKI.replace("name: Wiki\n", ""), "applications/wiki.yaml:1: name: is required."),
    ("applications/wiki.yaml", WIKI.replace("status: approved", "status: live"), "wiki.yaml:4: status: must be one of"),
    ("applications/wiki.yaml", WIKI.replace("slug: wiki", "slug: notwiki"), "wiki.yaml:1: slug: is 'notwiki' but"),
    ("applications/wiki.yaml", WIKI.replace("slug: wiki", "slug: wi ki"), "wiki.yaml:1: slug: must be a slug"),
    ("applications/wiki.yaml", WIKI.replace("alice@", "nobody@"), "wiki.yaml:3: owner: unknown person 'nobody@"),
    (
        "applications/wiki.yaml",
        WIKI.replace("    name: Reader\n", "    name: Reader\n    requestable: maybe\n"),
        "wiki.yaml:8: roles[0].requestable: must be true or false.",
    ),
    (
        "applications/wiki.yaml",
        WIKI.replace("    name: Reader\n", "    name: Reader\n    max_duration: one week\n"),
        "wiki.yaml:8: roles[0].max_duration: must be a positive ISO-8601 duration",
    ),
    (
        "applications/wiki.yaml",
        WIKI.replace("    name: Reader\n", "    name: Reader\n    max_duration: PT1H\n    default_duration: P1D\n"),
        "wiki.yaml:9: roles[0].default_duration: The default exceeds the maximum.",
    ),
    (
        "applications/wiki.yaml",
        WIKI.replace("connector: local", "connector: ldap"),
        "wiki.yaml:9: roles[0].groups[0].connector: unknown connector 'ldap'.",
    ),
    (
        "applications/wiki.yaml",
        WIKI.replace("external_id: wiki-readers", "external_id: nope"),
        "wiki.yaml:10: roles[0].groups[0].external_id: no local group has the id 'nope'.",
    ),
    (
        "applications/wiki.yaml",
        WIKI + "  - slug: reader\n    name: Twice\n",
        "wiki.yaml:11: roles[1].slug: role 'reader' appears twice in this file.",
    ),
    (
        "applications/wiki.yaml",
        WIKI + "approval_policy:\n  name: P\n  steps:\n    - kind: coin_toss\n",
        "wiki.yaml:14: approval_policy.steps[0].kind: must be one of",
    ),
    (
        "applications/wiki.yaml",
        WIKI + "approval_policy:\n  name: P\n  steps: []\n",
        "wiki.yaml:13: approval_policy.steps: must be a list of at least one step.",
    ),
    (
        "applications/wiki.yaml",
        WIKI + "approval_policy:\n  name: P\n  steps:\n    - kind: named\n",
        "wiki.yaml:14: approval_policy.steps[0].approvers: is required for named-people steps.",
    ),
    (
        "applications/wiki.yaml",
        WIKI + "approval_policy:\n  name: P\n  steps:\n    - kind: named\n      approvers: [ghost@example.com]\n",
        "wiki.yaml:15: approval_policy.steps[0].approvers: unknown person 'ghost@example.com'",
    ),
    (
        "applications/wiki.yaml",
        WIKI + "approval_policy:\n  name: P\n  steps:\n    - kind: manager\n      approvers: [dana@example.com]\n",
        "wiki.yaml:15: approval_policy.steps[0].approvers: only named and named_all steps have approvers.",
    ),
    (
        "policies/approval.yaml",
        "risk_tiers:\n  extreme:\n    name: X\n    steps: [{kind: manager}]\n",
        "policies/approval.yaml:2: risk_tiers.extreme: unknown risk tier",
    ),
    (
        "policies/approval.yaml",
        "global:\n  name: G\n  fallback_approvers: [ghost@example.com]\n  steps: [{kind: manager}]\n",
        "policies/approval.yaml:3: global.fallback_approvers: unknown person",
    ),
    (
        "policies/auto-approval.yaml",
        "rules:\n  - name: R\n    application: nosuch\n    departments: [IT]\n",
        "policies/auto-approval.yaml:3: rules[0].application: unknown application 'nosuch'.",
    ),
    (
        "policies/auto-approval.yaml",
        "rules:\n  - name: R\n    application: wiki\n    role: nosuch\n    departments: [IT]\n",
        "policies/auto-approval.yaml:4: rules[0].role: wiki has no role 'nosuch'.",
    ),
    (
        "policies/auto-approval.yaml",
        "rules:\n  - name: R\n    application: wiki\n    departments: []\n",
        "policies/auto-approval.yaml:4: rules[0].departments: must name at least one department.",
    ),
    (
        "policies/reclaim.yaml",
        "policies:\n  - application: wiki\n    threshold_days: 0\n",
        "policies/reclaim.yaml:3: policies[0].threshold_days: must be a whole number of at least 1.",
    ),
    (
        "policies/reclaim.yaml",
        "policies:\n  - application: wiki\n    warning_text: 'Hello {nickname}'\n",
        "policies/reclaim.yaml:3: policies[0].warning_text: unknown placeholder",
    ),
    (
        "policies/auto-approval.yaml",
        "rules:\n  - name: R\n    application: wiki\n    departments: [IT]\n    grant_on_join: true\n",
        "policies/auto-approval.yaml:5: rules[0].grant_on_join: needs a role",
    ),
    ("policies/other.yaml", "x: 1\n", "policies/other.yaml:1: (file): no kind of catalog file lives here"),
]


@pytest.mark.parametrize(("relative", "text", "expected"), CASES, ids=[case[2][:60] for case in CASES])
def test_it_names_the_file_line_and_field(files, relative, text, expected):
    directory = files(relative, text)
    if relative != "applications/wiki.yaml":
        files("applications/wiki.yaml", WIKI)
    assert expected in problems(directory)


def test_it_lists_every_problem_at_once(files):
    directory = files("applications/wiki.yaml", WIKI.replace("alice@", "x@").replace("status: approved", "status: x"))
    message = problems(directory)
    assert "wiki.yaml:3: owner" in message and "wiki.yaml:4: status" in message


def test_a_newly_mapped_read_only_group_is_refused(files, company):
    IdpGroup.objects.create(connector="local", external_id="dynamic", name="Dynamic", writable=False)
    text = WIKI + "      - connector: local\n        external_id: dynamic\n"
    assert "roles[reader].groups: Dynamic cannot be changed by Gatehouse" in problems(
        files("applications/wiki.yaml", text)
    )


def test_a_removed_role_with_requests_is_refused(files, company):
    from tests import company as c

    c.submit()
    text = WIKI  # lists reader only: editor removed
    assert "roles[editor]: was removed but has requests or grants" in problems(files("applications/wiki.yaml", text))


def test_apply_of_invalid_files_changes_nothing(files, company):
    directory = files("applications/wiki.yaml", WIKI.replace("name: Wiki", "name: Renamed").replace("alice@", "x@"))
    with pytest.raises(CommandError, match="owner: unknown person"):
        call_command("catalog", "apply", str(directory))
    assert Application.objects.get(slug="wiki").name == "Wiki"
