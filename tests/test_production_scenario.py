"""Production mode, tested: PostgreSQL, Redis as the task broker, gunicorn, the default and long
task clusters and the expiry timer, each a real process as `run.sh` starts them; a few hundred
membership changes driven through the HTTP API while one cluster is killed with SIGKILL (and
restarted), Redis is restarted (losing every queued task) and PostgreSQL is restarted.

Requests are submitted and approved with scoped API tokens, some grants expire during the run,
some are revoked; their groups are at the local connector and at the Okta emulator. At the end:
0 lost (every grant in its right state, every membership at the provider as the grants say),
0 duplicated (one change per grant and group and direction; the provider changed each
membership no more often than Gatehouse asked, crash retries aside), 0 stuck (no outbox row
open). The scenario runs its own PostgreSQL and Redis (it restarts them), so test.sh runs it as
a step of its own (GATEHOUSE_PRODUCTION_SCENARIO=1); elsewhere it is skipped.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from collections import Counter
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest
import requests

from governance.notifications.services import NOT_PENDING_MAYBE_SENT
from tests.emulators.okta import OktaEmulator
from tests.emulators.smtp import SmtpEmulator
from tests.servers import PostgresServer, RedisServer
from tests.test_cluster_kill import emulated_env, kill, scenario, start_cluster, wait_for

pytestmark = [
    pytest.mark.cluster,
    pytest.mark.skipif(
        os.environ.get("GATEHOUSE_PRODUCTION_SCENARIO") != "1",
        reason="runs as its own step of test.sh (GATEHOUSE_PRODUCTION_SCENARIO=1): it restarts its own servers",
    ),
]

ROOT = Path(__file__).resolve().parent.parent
OKTA_TOKEN = "scenario-okta-token"
REQUESTS = 120
MANAGERS = 6
ROLES = ["reader", "okta-user", "editor"]
SHORT = "PT20S"  # grants that expire during the run
KILL_AT, SYNC_AT, REDIS_AT, POSTGRES_AT = 30, 40, 60, 85
SETTLE_SECONDS = 180


def expiring(number: int) -> bool:
    return number % 5 == 0


def revoked(number: int) -> bool:
    return number % 7 == 3 and not expiring(number)


def product_env(database_url: str, redis_url: str, smtp: SmtpEmulator, okta: OktaEmulator) -> dict:
    env = emulated_env(database_url, smtp, okta)
    env.update(
        REDIS_URL=redis_url,
        # Short leases and pending windows, so that recovery happens within the run.
        GATEHOUSE_CHANGE_LEASE_SECONDS="10",
        GATEHOUSE_MESSAGE_LEASE_SECONDS="10",
        GATEHOUSE_OUTBOX_PENDING_SECONDS="8",
        GATEHOUSE_CHANGE_BACKOFF_SECONDS="1",
        GATEHOUSE_MESSAGE_BACKOFF_SECONDS="1",
    )
    return env


def step(env: dict, name: str) -> str:
    return scenario(env, name, module="tests.production_scenario")


def spawn(env: dict, *command: str, log: Path | None = None) -> subprocess.Popen:
    """A product process in its own process group (so SIGKILL reaches all its children)."""
    output = log.open("w") if log else subprocess.DEVNULL
    return subprocess.Popen(list(command), cwd=ROOT, env=env, stdout=output, stderr=output, start_new_session=True)


def stop(process: subprocess.Popen) -> None:
    """SIGTERM, then SIGKILL to the whole group after 10 s: nothing outlives the test."""
    if process.poll() is None:
        process.terminate()
        with suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
    with suppress(ProcessLookupError, PermissionError):  # the group is gone already
        kill(process)


def start_web(env: dict, log: Path, running: list[subprocess.Popen]) -> str:
    """gunicorn as serve.sh starts it, on a port the kernel picks (read back from its log)."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    web = spawn(env, gunicorn, "governance.wsgi", "--bind", "127.0.0.1:0", "--workers", "2", log=log)
    running.append(web)
    port: list[str] = []

    def listening() -> bool:
        port.extend(re.findall(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text()))
        return bool(port) or web.poll() is not None

    assert wait_for(listening, 60) and port, log.read_text()[-3000:]
    return f"http://127.0.0.1:{port[0]}"


class Api:
    """The HTTP API as an integration calls it; a failure while a server restarts is retried."""

    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.server_errors = 0

    def call(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        deadline = time.monotonic() + 60
        while True:
            try:
                response = self.session.request(method, self.base_url + path, json=body, timeout=30)
                if response.status_code < 500:
                    return response
                self.server_errors += 1
            except requests.ConnectionError:
                self.server_errors += 1
            assert time.monotonic() < deadline, f"{method} {path} kept failing"
            time.sleep(0.5)

    def grants(self) -> dict[str, dict]:
        """Every grant, by its request's issue key."""
        found, path = {}, "/api/v1/grants/?limit=200"
        while path:
            page = self.call("GET", path).json()
            found.update({grant["request"]: grant for grant in page["results"]})
            path = page["next"][len(self.base_url) :] if page["next"] else None
        return found


def submit_and_approve(submitter: Api, decider: Api, number: int, person: str, manager: str) -> None:
    key = f"PROD-{number}"
    body = {
        "jira_issue_key": key,
        "requester": person,
        "application": "scenario",
        "role": ROLES[number % len(ROLES)],
        "duration": SHORT if expiring(number) else "P7D",
        "reason": "production scenario",
    }
    submitted = submitter.call("POST", "/api/v1/access-requests/", body)
    assert submitted.status_code in (200, 201), submitted.text
    approved = decider.call("POST", f"/api/v1/access-requests/{key}/approve/", {"approver": manager})
    if approved.status_code == 409:  # a retry after the approval committed
        assert submitter.call("GET", f"/api/v1/access-requests/{key}/").json()["status"] != "pending_approval"
    else:
        assert approved.status_code == 200, approved.text


def revoke_active(decider: Api, todo: dict[str, str]) -> None:
    """Revoke the grants in `todo` (key -> manager) that are active; the rest wait for the next call."""
    for key, grant in decider.grants().items():
        if key in todo and grant["status"] == "active":
            done = decider.call("POST", f"/api/v1/grants/{grant['id']}/revoke/", {"by": todo[key], "reason": "done"})
            assert done.status_code in (200, 409), done.text
            del todo[key]


def wanted_status(number: int) -> str:
    return "expired" if expiring(number) else "revoked" if revoked(number) else "active"


def settled(decider: Api) -> bool:
    grants = decider.grants()
    return len(grants) == REQUESTS and all(
        grants[f"PROD-{n}"]["status"] == wanted_status(n)
        and (wanted_status(n) == "active") != bool(grants[f"PROD-{n}"]["removed_at"])
        for n in range(REQUESTS)
    )


def test_production_mode_loses_duplicates_and_strands_nothing_across_kills_and_restarts(tmp_path):
    with ExitStack() as cleanup:
        postgres, redis = PostgresServer(), RedisServer()
        cleanup.callback(postgres.destroy)
        cleanup.callback(redis.destroy)
        postgres.start()
        postgres.create_database()
        redis.start()
        smtp = cleanup.enter_context(SmtpEmulator())
        okta = OktaEmulator(OKTA_TOKEN).start()
        cleanup.callback(okta.stop)
        okta.latency = 0.01

        managers = [(f"boss{n}@example.com", f"Boss {n}") for n in range(MANAGERS)]
        people = [(f"person{n}@example.com", f"Person {n}") for n in range(REQUESTS)]
        manager_ids = [okta.add_user(email, *name.split()) for email, name in managers]
        person_ids = [
            okta.add_user(email, *name.split(), manager_id=manager_ids[n % MANAGERS])
            for n, (email, name) in enumerate(people)
        ]
        okta_group = okta.add_group("okta-users")
        env = product_env(postgres.url, redis.url, smtp, okta)
        env["SCENARIO"] = json.dumps(
            {
                "managers": [[e, name, i] for (e, name), i in zip(managers, manager_ids, strict=True)],
                "people": [
                    [e, name, i, n % MANAGERS] for n, ((e, name), i) in enumerate(zip(people, person_ids, strict=True))
                ],
                "groups": {
                    "local-readers": ["local", "local-readers"],
                    "local-editors": ["local", "local-editors"],
                    "okta-users": ["okta", okta_group],
                },
            }
        )
        started = time.monotonic()

        def say(what: str) -> None:
            print(f"[{time.monotonic() - started:6.1f}s] {what}", flush=True)

        subprocess.run(
            [sys.executable, "manage.py", "migrate", "--run-syncdb", "--no-input", "-v", "0"],
            cwd=ROOT,
            env=env,
            check=True,
            capture_output=True,
            timeout=180,
        )
        tokens = json.loads(step(env, "seed"))
        say("PostgreSQL, Redis, schema and catalog ready")

        running: list[subprocess.Popen] = []  # every process started, stopped whatever happens
        cleanup.callback(lambda: [stop(process) for process in running])
        base_url = start_web(env, tmp_path / "gunicorn.log", running)
        running.append(cluster := start_cluster(env))
        running.append(start_cluster({**env, "Q_CLUSTER_NAME": "long"}))
        running.append(spawn(env, sys.executable, "manage.py", "expiry_timer"))
        running.append(spawn(env, sys.executable, "-m", "tests.production_scenario", "sweeper"))
        names = ["web", "default cluster", "long cluster", "expiry timer", "sweeper"]
        processes = dict(zip(names, running, strict=True))
        say(f"gunicorn at {base_url}, default and long clusters, expiry timer, sweeper running")

        submitter, decider = Api(base_url, tokens["submit"]), Api(base_url, tokens["decide"])
        to_revoke = {f"PROD-{n}": managers[n % MANAGERS][0] for n in range(REQUESTS) if revoked(n)}
        for number in range(REQUESTS):
            submit_and_approve(submitter, decider, number, people[number][0], managers[number % MANAGERS][0])
            if number == KILL_AT:
                kill(cluster)
                running.append(cluster := start_cluster(env))
                processes["default cluster"] = cluster
                say(f"request {number}: default cluster killed with SIGKILL and restarted")
            elif number == SYNC_AT:
                step(env, "sync")
                say(f"request {number}: directory sync handed to the long cluster")
            elif number == REDIS_AT:
                redis.restart()
                say(f"request {number}: Redis restarted (every queued task lost)")
            elif number == POSTGRES_AT:
                postgres.restart()
                say(f"request {number}: PostgreSQL restarted")
            if number % 30 == 29:
                revoke_active(decider, to_revoke)
        say(f"{REQUESTS} requests submitted and approved through the API")
        assert wait_for(lambda: (revoke_active(decider, to_revoke), not to_revoke)[1], 90), to_revoke
        assert wait_for(lambda: settled(decider), SETTLE_SECONDS), "grants did not all reach their state"
        say("every grant in its state")
        assert wait_for(lambda: sum(json.loads(step(env, "report"))["open"].values()) == 0, 60)
        report = json.loads(step(env, "report"))
        dead = [name for name, process in processes.items() if process.poll() is not None]
        say(f"settled; {submitter.server_errors + decider.server_errors} API calls retried while servers restarted")

    assert not dead, f"{dead} exited during the run"
    check_outcome(report, okta, okta_group, people, person_ids, smtp)


def check_outcome(report: dict, okta: OktaEmulator, okta_group: str, people, person_ids, smtp) -> None:
    changes = report["changes"]
    # 0 stuck: no outbox row left open, none failed.
    assert report["open"] == {"MembershipChange": 0, "OutboundMessage": 0, "JiraUpdate": 0}
    assert {c["status"] for c in changes} == {"succeeded"}, {c["error"] for c in changes if c["error"]}
    assert {status for _, status, _ in report["messages"]} == {"sent"}
    assert [status for status, _ in report["syncs"]] == ["succeeded"], report["syncs"]
    # 0 duplicated: one change per grant, group and direction; removals only for ended grants.
    per_grant = Counter((c["grant"], c["connector"], c["group"], c["action"]) for c in changes)
    assert None not in {c["grant"] for c in changes}
    assert max(per_grant.values()) == 1, [key for key, count in per_grant.items() if count > 1]
    adds = sum(1 for c in changes if c["action"] == "add")
    removes = len(changes) - adds
    expected_adds = sum(2 if ROLES[n % 3] == "editor" else 1 for n in range(REQUESTS))
    expected_removes = sum(
        2 if ROLES[n % 3] == "editor" else 1 for n in range(REQUESTS) if wanted_status(n) != "active"
    )
    assert (adds, removes) == (expected_adds, expected_removes)
    # At Okta, each membership was written no more often than Gatehouse asked (a retry of a change
    # that may have gone through before a crash may write it once more).
    writes = Counter(
        (call.method, call.path.rsplit("/", 1)[-1])
        for call in okta.calls
        if call.method in ("PUT", "DELETE") and f"/groups/{okta_group}/users/" in call.path
    )
    okta_changes = [c for c in changes if c["connector"] == "okta"]
    asked = Counter(("PUT" if c["action"] == "add" else "DELETE", c["person"]) for c in okta_changes)
    retried = Counter(
        ("PUT" if c["action"] == "add" else "DELETE", c["person"]) for c in okta_changes if c["maybe_applied"]
    )
    by_email = dict(zip((email for email, _ in people), person_ids, strict=True))
    for (method, email), count in asked.items():
        assert writes[(method, by_email[email])] <= count + retried[(method, email)], (method, email)
    # 0 lost: the providers hold exactly the memberships of the live grants.
    live = [n for n in range(REQUESTS) if wanted_status(n) == "active"]
    assert set(okta.member_ids(okta_group)) == {person_ids[n] for n in live if ROLES[n % 3] != "reader"}
    expected_local = sorted(
        [people[n][0], "local-readers" if ROLES[n % 3] == "reader" else "local-editors"]
        for n in live
        if ROLES[n % 3] != "okta-user"
    )
    assert report["local_members"] == expected_local
    # Email: each message received; a re-send (same Message-ID) only for one in flight at a crash.
    received = smtp.by_message_id()
    # (An approval email whose step was decided before it went out is dropped, by design.)
    sent = {message_id for message_id, _, result in report["messages"] if result == "sent"}
    # An approval message whose worker died mid-send, and whose step was decided before the retry,
    # is recorded as maybe sent (not re-sent): the approver may or may not have it.
    maybe = {message_id for message_id, _, result in report["messages"] if result == NOT_PENDING_MAYBE_SENT}
    assert sent <= set(received) <= sent | maybe
    assert sum(count - 1 for count in received.values()) <= 2
    print(f"{len(changes)} membership changes ({adds} adds, {removes} removals), {len(okta.calls)} Okta calls")
