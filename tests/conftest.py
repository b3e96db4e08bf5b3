"""Shared fixtures: a small company (alice owns, bob is on her team, charlie has no access)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True, scope="session")
def _system_checks_pass():
    """The suite starts like the product does: a failing system check (e.g. nothing bound to
    provisioning's settled port) stops it."""
    from django.core import checks

    serious = [message for message in checks.run_checks() if message.is_serious()]
    if serious:
        pytest.exit("System checks failed: " + "; ".join(str(message) for message in serious), returncode=3)


@pytest.fixture
def company(db):
    """alice (engineering manager) owns the wiki; bob reports to alice; charlie has no access;
    dana is IT (the fallback approver)."""
    from types import SimpleNamespace

    from tests import company as c

    alice = c.person("alice@example.com", "Alice Owner", department="Engineering", title="Engineering Manager")
    bob = c.person("bob@example.com", "Bob Builder", manager=alice, department="Engineering", title="Engineer")
    charlie = c.person("charlie@example.com", "Charlie Outsider", department="Sales")
    dana = c.person("dana@example.com", "Dana IT", department="IT")
    wiki = c.app("wiki", owner=alice)
    editors = c.group("wiki-editors")
    readers = c.group("wiki-readers")
    editor = c.role(wiki, "editor", editors, readers, durations=["PT6H", "P1D", "P7D"])
    reader = c.role(wiki, "reader", readers)
    default = c.policy("Default", "manager", fallback=[dana])
    return SimpleNamespace(
        alice=alice,
        bob=bob,
        charlie=charlie,
        dana=dana,
        wiki=wiki,
        editors=editors,
        readers=readers,
        editor=editor,
        reader=reader,
        default_policy=default,
    )


@pytest.fixture
def it_admin(company):
    """dana (IT) signed in to the admin as a superuser, linked to her directory person."""
    from django.contrib.auth.models import User

    user = User.objects.create_superuser("dana", "dana@example.com", "pw")
    company.dana.user = user
    company.dana.save(update_fields=["user"])
    return user


@pytest.fixture
def it_admin_client(client, it_admin):
    """A test client signed in as `it_admin` (pytest-django's own `admin_client` is another user)."""
    client.force_login(it_admin)
    return client


@pytest.fixture
def tasks(django_capture_on_commit_callbacks):
    """`with tasks(): ...` runs what the block enqueues on commit (django-q2 runs inline), and
    fails the test if any task raised: the inline worker would otherwise swallow the error."""
    from contextlib import contextmanager

    from django_q.models import Failure

    @contextmanager
    def run():
        before = set(Failure.objects.values_list("id", flat=True))
        with django_capture_on_commit_callbacks(execute=True):
            yield
        failed = Failure.objects.exclude(id__in=before)
        assert not failed.exists(), [f"{t.func}: {t.result}" for t in failed]

    return run


@pytest.fixture
def api_secret(db) -> str:
    """The full secret of a live API token (as `manage.py create_api_token` would print it)."""
    from governance.services import Actor, create_api_token

    _, secret = create_api_token(name="jira-automation", scopes="all", actor=Actor.system("tests"))
    return secret


@pytest.fixture
def api(api_secret):
    """An API client holding a valid bearer token."""
    from rest_framework.test import APIClient

    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {api_secret}")
    return client


@pytest.fixture
def flaky(db):
    """A provider that fails on demand: see tests.connectors.FlakyProvider."""
    from provisioning.connectors import register
    from tests.connectors import FlakyConnector, FlakyProvider

    provider = FlakyProvider()
    register(FlakyConnector.name, lambda: FlakyConnector(provider))
    return provider


@pytest.fixture
def emu():
    """A Jira emulator on 127.0.0.1 holding issue IT-1."""
    from tests.emulators.jira import JiraEmulator

    with JiraEmulator() as emulator:
        emulator.add_issue("IT-1")
        yield emulator


@pytest.fixture
def jira_on(settings, emu):
    """Jira write-back configured against the emulator."""
    settings.JIRA_ENABLED = True
    settings.JIRA_BASE_URL = emu.base_url
    settings.JIRA_EMAIL = emu.email
    settings.JIRA_API_TOKEN = emu.api_token
    settings.JIRA_TRANSITIONS = {}
    settings.JIRA = {**settings.JIRA, "TIMEOUT_SECONDS": 2.0}
    return settings


@pytest.fixture
def live_records(company, tasks):
    """A real request IT-1 and its grant behind the API's sample URLs (so a 401/403 is not a 404)."""
    from tests import company as c

    with tasks():
        request = c.submit("IT-1")
        c.decide(request, company.alice)
    return request


@pytest.fixture
def jira(settings):
    """Jira write-back on, against the Jira wire emulator (issues IT-1, IT-9 and HR-7 exist)."""
    from tests.emulators.jira import JiraEmulator

    with JiraEmulator() as emulator:
        for key in ("IT-1", "IT-9", "HR-7"):
            emulator.add_issue(key)
        settings.JIRA_ENABLED = True
        settings.JIRA_BASE_URL = emulator.base_url
        settings.JIRA_EMAIL = emulator.email
        settings.JIRA_API_TOKEN = emulator.api_token
        settings.JIRA_TRANSITIONS = {}
        settings.JIRA = {**settings.JIRA, "TIMEOUT_SECONDS": 2.0}
        yield emulator


from tests.slack_fixtures import slack_emu, slack_modal, slack_on, slack_people  # noqa: E402, F401  (Slack fixtures)
