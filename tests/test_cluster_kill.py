"""Kill the task cluster mid-delivery (SIGKILL), restart it, and check that every email, Jira
update and membership change was delivered exactly once, with the database broker and with Redis.

The cluster is a real `manage.py qcluster` (two workers) against a SQLite file; providers are the
local emulators. Exactly-once for email means once per Message-ID: a crash between the SMTP
server's accept and our commit can send a message again, with the same Message-ID, so receivers
drop it; at most one message per worker can be in that window.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from tests.emulators.jira import JiraEmulator
from tests.emulators.okta import OktaEmulator
from tests.emulators.smtp import SmtpEmulator

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        bool(os.environ.get("TEST_DATABASE_URL")), reason="runs its own SQLite file: once, in the SQLite pass"
    ),
]

ROOT = Path(__file__).resolve().parent.parent
WORKERS = 2
EMAILS, JIRA, CHANGES = 150, 30, 40
ISSUES = ["KILL-1", "KILL-2", "KILL-3"]
OKTA_TOKEN = "kill-test-token"


def emulated_env(database_url: str, smtp: SmtpEmulator, okta: OktaEmulator) -> dict:
    """The product's environment for its own processes: this database, mail and Okta emulated on
    loopback, two workers, the tasks run by the cluster (the production scenario uses it too)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith(("DJANGO_", "REDIS_URL"))}
    env.update(
        DJANGO_SETTINGS_MODULE="tests.cluster_settings",
        GATEHOUSE_DEV_DEFAULTS="true",
        DATABASE_URL=database_url,
        EMAIL_URL=smtp.url,
        OKTA_ORG_URL=okta.base_url,
        OKTA_API_TOKEN=okta.token,
        OKTA_RATE_LIMIT_MAX_RETRIES="0",
        OKTA_TESTING_TESTINGDISABLEHTTPSCHECK="true",  # the emulator speaks http on loopback
        Q_WORKERS=str(WORKERS),
        Q_SYNC="false",
        LOG_LEVEL="WARNING",
    )
    return env


def product_env(database: Path, smtp: SmtpEmulator, jira: JiraEmulator, okta: OktaEmulator, group: str) -> dict:
    env = emulated_env(f"sqlite:///{database}", smtp, okta)
    env.update(
        JIRA_ENABLED="true",
        JIRA_BASE_URL=jira.base_url,
        JIRA_EMAIL=jira.email,
        JIRA_API_TOKEN=jira.api_token,
        # Short leases and pending windows, so recovery happens within the test.
        GATEHOUSE_CHANGE_LEASE_SECONDS="12",
        JIRA_LEASE_SECONDS="12",
        GATEHOUSE_MESSAGE_LEASE_SECONDS="12",
        GATEHOUSE_OUTBOX_PENDING_SECONDS="4",
        GATEHOUSE_MESSAGE_BATCH_SIZE="10",
        SCENARIO=json.dumps(
            {"emails": EMAILS, "jira": JIRA, "changes": CHANGES, "issues": ISSUES, "okta_group": group}
        ),
    )
    return env


def manage(env: dict, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "manage.py", *args], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120, check=True
    )


def scenario(env: dict, step: str, module: str = "tests.cluster_scenario") -> str:
    """Run one step of the product side (`python -m <module> <step>`); its output."""
    done = subprocess.run(
        [sys.executable, "-m", module, step],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=150,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def start_cluster(env: dict) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "manage.py", "qcluster"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: SIGKILL reaches every worker at once
    )


def kill(cluster: subprocess.Popen) -> None:
    os.killpg(cluster.pid, signal.SIGKILL)
    cluster.wait(timeout=10)


def wait_for(condition, timeout: float = 30.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.05)
    return False


@pytest.fixture(scope="module")
def migrated(tmp_path_factory) -> Path:
    """One migrated SQLite file, copied for each broker (migrating is the slow part)."""
    database = tmp_path_factory.mktemp("cluster") / "template.sqlite3"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.cluster_settings", "GATEHOUSE_DEV_DEFAULTS": "true"}
    env["DATABASE_URL"] = f"sqlite:///{database}"
    env.pop("REDIS_URL", None)
    manage(env, "migrate", "--run-syncdb", "--no-input")
    return database


def brokers() -> list:
    redis_url = os.environ.get("GATEHOUSE_TEST_REDIS_URL")
    skip = pytest.mark.skip(reason="GATEHOUSE_TEST_REDIS_URL is not set (test.sh starts Redis and sets it)")
    return [pytest.param("", id="orm"), pytest.param(redis_url or "", id="redis", marks=() if redis_url else skip)]


@pytest.mark.parametrize("redis_url", brokers())
def test_every_delivery_happens_exactly_once_across_a_sigkill(migrated, tmp_path, redis_url):
    database = tmp_path / "gatehouse.sqlite3"
    shutil.copy(migrated, database)
    with SmtpEmulator() as smtp, JiraEmulator() as jira, OktaEmulator(OKTA_TOKEN) as okta:
        smtp.delay = 0.01
        jira.latency = okta.latency = 0.01
        for key in ISSUES:
            jira.add_issue(key)
        group = okta.add_group("kill-test")
        users = [okta.add_user(f"person{number}@example.com") for number in range(CHANGES)]
        env = product_env(database, smtp, jira, okta, group)
        if redis_url:
            env["REDIS_URL"] = redis_url
            subprocess.run(["redis-cli", "-u", redis_url, "flushdb"], check=True, capture_output=True)
        started = time.monotonic()
        scenario(env, "seed")
        print(f"seeded in {time.monotonic() - started:.1f}s")

        cluster = start_cluster(env)
        try:
            assert wait_for(lambda: len(smtp.messages) >= EMAILS // 4), "the cluster delivered nothing"
            kill(cluster)  # mid-delivery
            delivered_before_kill = len(smtp.messages)
            cluster = start_cluster(env)
            print(f"killed at {time.monotonic() - started:.1f}s")
            report = json.loads(scenario(env, "drain"))
            print(f"drained at {time.monotonic() - started:.1f}s")
        finally:
            if cluster.poll() is None:
                kill(cluster)

        assert report["open"] == 0, report["errors"]
        print(f"delivered before the kill: {delivered_before_kill}; {report['abandoned']} rows retried after it")
        assert 0 < delivered_before_kill < EMAILS
        # Email: every row sent, each Message-ID received; a re-send only for a message in flight.
        assert {status for _, status in report["messages"]} == {"sent"}
        received = smtp.by_message_id()
        assert set(received) == {message_id for message_id, _ in report["messages"]}
        assert sum(count - 1 for count in received.values()) <= WORKERS
        # Jira: every update sent, each comment exactly once (found by its marker when retried).
        assert {status for _, status in report["jira"]} == {"sent"}
        markers = Counter(
            prop["value"]["update"]
            for key in ISSUES
            for comment in jira.comments(key)
            for prop in comment.get("properties") or []
            if prop.get("key") == "gatehouse"
        )
        assert markers == Counter({update_id: 1 for update_id, _ in report["jira"]})
        assert not any("Okta" in error for error in report["errors"]), report["errors"]
        # Membership changes: each recorded once, and the provider holds every membership.
        assert [(status, result in ("added", "already_member")) for _, status, result in report["changes"]] == [
            ("succeeded", True)
        ] * CHANGES
        assert set(okta.member_ids(group)) == set(users)
