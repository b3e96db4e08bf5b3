"""From approval to membership at Okta: how long when approvals arrive together?

    /work/main/.venv/bin/python bench/approval_latency_bench.py [--approvals 20] [--latency 0.1]

Builds N pending requests (one manager approval each) for a role mapped to an Okta group, starts
a real task cluster (`manage.py qcluster`, --workers, django-q2's ORM broker, or a throwaway Redis
with --redis, as production runs it, on a throwaway SQLite
file as `run.sh` runs it, or on --database-url) and has the manager approve all N at once from N threads, then one at
a time. The Okta emulator answers after --latency seconds; the lag measured is from the call to
`decide_step` to the membership `PUT` arriving at Okta (p50, p99, max). Reports; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from contextlib import ExitStack, contextmanager

from _setup import ROOT, django_up, percentile, task_cluster, tree_cpu_seconds

TOKEN = "approval-bench-token"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--approvals", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the emulator takes per request")
    parser.add_argument("--workers", type=int, default=2, help="task cluster workers")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--redis", action="store_true", help="a throwaway Redis as the broker (default: ORM)")
    parser.add_argument(
        "--kept-results",
        type=int,
        default=0,
        metavar="N",
        help="successful task results already stored before the run, as a cluster keeps them in production "
        "(it keeps up to GATEHOUSE_TASK_RESULTS_KEPT, 1,000 by default); default 0, a fresh database",
    )
    parser.add_argument(
        "--http",
        type=int,
        default=0,
        metavar="WORKERS",
        help="approve through the API (`POST /api/v1/access-requests/{key}/approve/`) served by gunicorn with "
        "this many workers, as production runs it, instead of calling decide_step in this process",
    )
    return parser.parse_args()


def build(okta, count: int, prefix: str) -> list:
    from catalog.models import Person
    from tests import company

    manager = Person.objects.filter(email="manager@bench.example").first() or company.person("manager@bench.example")
    if not Person.objects.filter(email=f"owner-{prefix}@bench.example").exists():
        app = company.app(f"app-{prefix}", owner=company.person(f"owner-{prefix}@bench.example"))
        group_id = okta.add_group(f"group-{prefix}")
        company.role(app, "user", company.group(group_id, connector="okta"))
        company.policy(f"policy-{prefix}", "manager", application=app)
    requests = []
    for number in range(count):
        email = f"{prefix}{number}@bench.example"
        user_id = okta.add_user(email)
        company.person(email, manager=manager, directory="okta", external_id=user_id)
        key = f"{prefix.upper()}-{number + 1}"
        requests.append((user_id, company.submit(key, requester=email, application=f"app-{prefix}", role="user")))
    return requests


def keep_results(count: int) -> None:
    """`count` successful task results in the cluster's table, as a running deployment has them."""
    from uuid import uuid4

    from django.utils import timezone
    from django_q.models import Task

    now = timezone.now()
    Task.objects.bulk_create(
        Task(
            id=uuid4().hex,
            name=f"earlier task {number}",
            func="provisioning.tasks.execute_membership_changes",
            args=([number],),
            kwargs={},
            started=now,
            stopped=now,
            result=1,
            success=True,
        )
        for number in range(count)
    )


DECIDED: list[float] = []  # how long each decide_step call took, approving together
COMMITTED: dict[str, float] = {}  # user id -> when its decide_step call returned (committed)


def at_once(target, calls: list) -> None:
    """`target(*args)` for every args of `calls`, each on a thread of its own, all started together."""
    threads = [threading.Thread(target=target, args=args) for args in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def approve_together(requests: list) -> dict[str, float]:
    """Every approval at once from its own thread; user id -> when its approval was called."""
    from django.db import connection

    from catalog.models import Person
    from tests import company

    manager = Person.objects.get(email="manager@bench.example")
    started: dict[str, float] = {}
    gate = threading.Barrier(len(requests))

    def one(user_id: str, request) -> None:
        gate.wait()
        started[user_id] = time.time()
        company.decide(request, manager)
        COMMITTED[user_id] = time.time()
        DECIDED.append(COMMITTED[user_id] - started[user_id])
        connection.close()

    at_once(one, requests)
    return started


def approve_over_http(base_url: str, token: str, requests: list) -> dict[str, float]:
    """Every approval at once, each an API call from its own thread; user id -> when it was sent."""
    import requests as http

    started: dict[str, float] = {}
    gate = threading.Barrier(len(requests))

    def one(user_id: str, request) -> None:
        session = http.Session()
        gate.wait()
        started[user_id] = time.time()
        answer = session.post(
            f"{base_url}/api/v1/access-requests/{request.jira_issue_key}/approve/",
            json={"approver": "manager@bench.example"},
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        )
        COMMITTED[user_id] = time.time()
        DECIDED.append(COMMITTED[user_id] - started[user_id])
        if answer.status_code != 200:
            raise SystemExit(f"approve {request.jira_issue_key}: {answer.status_code} {answer.text[:300]}")

    at_once(one, requests)
    return started


@contextmanager
def web(workers: int):
    """gunicorn serving this database on a port the kernel picks; stopped on exit."""
    import re
    import subprocess
    import sys
    import tempfile
    from pathlib import Path

    log = Path(tempfile.mkdtemp(prefix="gatehouse-bench-web-")) / "gunicorn.log"
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    with log.open("w") as output:
        process = subprocess.Popen(
            [gunicorn, "governance.wsgi", "--bind", "127.0.0.1:0", "--workers", str(workers)],
            cwd=ROOT,
            env={**os.environ, "LOG_LEVEL": "WARNING"},
            stdout=output,
            stderr=output,
        )
    try:
        deadline = time.time() + 60
        while not (found := re.findall(r"Listening at: http://127\.0\.0\.1:(\d+)", log.read_text())):
            if time.time() > deadline or process.poll() is not None:
                raise SystemExit(f"gunicorn did not start: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        time.sleep(2)  # every worker booted
        yield f"http://127.0.0.1:{found[0]}", process.pid
    finally:
        process.terminate()
        process.wait(timeout=30)


def database_server() -> dict[str, int]:
    """{"database": the PostgreSQL server's process id} when it runs on this machine (its backends
    are its children), else {} (SQLite works inside the processes measured already)."""
    from django.db import connection

    if connection.vendor != "postgresql":
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        backend = cursor.fetchone()[0]
    try:
        with open(f"/proc/{backend}/stat") as f:
            return {"database": int(f.read().rsplit(")", 1)[1].split()[1])}
    except OSError:  # a server on another machine
        return {}


def decide_token() -> str:
    from governance.audit.services import Actor
    from governance.tokens.services import create_api_token

    _, secret = create_api_token(
        name="bench-decide", scopes=["requests:decide", "requests:read"], actor=Actor.system("bench")
    )
    return secret


def warm_up(base_url: str, token: str, requests: list, workers: int) -> None:
    """Reads from every gunicorn worker first: a worker's first request loads the whole application."""
    import requests as http

    def read(request) -> None:
        http.get(
            f"{base_url}/api/v1/access-requests/{request.jira_issue_key}/",
            headers={"Authorization": f"Bearer {token}"},
            timeout=60,
        ).raise_for_status()

    for _ in range(3):
        at_once(read, [(request,) for _, request in requests[: 2 * workers]])


def approve_alone(okta, requests: list, timeout: float = 300) -> list[float]:
    """One approval, then wait for its membership at Okta, then the next: the lags."""
    from catalog.models import Person
    from tests import company

    manager = Person.objects.get(email="manager@bench.example")
    measured = []
    for user_id, request in requests:
        started = time.time()
        company.decide(request, manager)
        measured.extend(lags(okta, {user_id: started}, timeout))
    return measured


def lags(okta, started: dict[str, float], timeout: float = 300) -> list[float]:
    deadline = time.time() + timeout
    while time.time() < deadline:
        arrived = {
            call.path.rsplit("/", 1)[-1]: call.at
            for call in okta.calls_to("PUT", r"/api/v1/groups/[^/]+/users/")
            if call.status == 204
        }
        if set(started) <= set(arrived):
            return [arrived[user_id] - at for user_id, at in started.items()]
        time.sleep(0.1)
    raise SystemExit(f"only {len(set(started) & set(arrived))} of {len(started)} memberships reached Okta")


def report(name: str, values: list[float]) -> None:
    print(
        f"{name}: p50 {percentile(values, 50):.2f} s, p99 {percentile(values, 99):.2f} s, max {max(values):.2f} s "
        f"({len(values)} approvals)"
    )


def main() -> None:
    args = parse_args()
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.emulators.okta import OktaEmulator
    from tests.servers import RedisServer

    redis = RedisServer() if args.redis else None
    if redis is not None:
        redis.start()
        os.environ["REDIS_URL"] = redis.url  # read by the settings, and by the cluster and gunicorn
    okta = OktaEmulator(TOKEN).start()
    os.environ.update(OKTA_ORG_URL=okta.base_url, OKTA_API_TOKEN=TOKEN, OKTA_TESTING_TESTINGDISABLEHTTPSCHECK="true")
    url = django_up(args.database_url, inline_tasks=False)
    keep_results(args.kept_results)
    together = build(okta, args.approvals, "together")
    first_posts = build(okta, 2 * args.http, "warm") if args.http else []
    alone = build(okta, args.approvals + 2 * args.workers, "alone")
    okta.latency = args.latency
    with task_cluster(args.workers) as cluster, ExitStack() as stack:
        # One at a time first, after a few to wait until every worker is up and has its client.
        warm = 2 * args.workers
        approve_alone(okta, alone[:warm], timeout=600)
        report("one at a time", approve_alone(okta, alone[warm:]))
        if args.http:
            (base_url, web_pid), token = stack.enter_context(web(args.http)), decide_token()
            warm_up(base_url, token, together, args.http)
            approve_over_http(base_url, token, first_posts)  # each worker's first approval loads its code
            lags(okta, {user_id: 0.0 for user_id, _ in first_posts})
            DECIDED.clear()
            COMMITTED.clear()
            processes = {"web": web_pid, "task workers": cluster.pid, **database_server()}
            before = {name: tree_cpu_seconds(pid) for name, pid in processes.items()}
            started = approve_over_http(base_url, token, together)
            report(f"together, over HTTP ({args.http} gunicorn workers)", lags(okta, started))
            spent = {name: tree_cpu_seconds(pid) - before[name] for name, pid in processes.items()}
            report("  of which the API call", DECIDED)
            print(
                "  CPU per approval: "
                + ", ".join(f"{name} {seconds / len(together) * 1000:.0f} ms" for name, seconds in spent.items())
            )
        else:
            report("together", lags(okta, approve_together(together)))
            report("  of which the decide_step call", DECIDED)
        answered = "API call answered" if args.http else "decision committed"
        report(f"  {answered} -> membership", lags(okta, COMMITTED))
    okta.stop()
    if redis is not None:
        redis.destroy()
    database, broker = url.split("://")[0], "Redis" if redis else "ORM"
    print(f"Okta latency {args.latency * 1000:.0f} ms, {args.workers} task workers, {broker} broker, {database}")


if __name__ == "__main__":
    main()
