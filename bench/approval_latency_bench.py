"""From approval to membership at Okta: how long when approvals arrive together?

    /work/main/.venv/bin/python bench/approval_latency_bench.py [--approvals 20] [--latency 0.1]

Builds N pending requests (one manager approval each) for a role mapped to an Okta group, starts
a real task cluster (`manage.py qcluster`, --workers, django-q2's ORM broker on a throwaway SQLite
file as `run.sh` runs it, or on --database-url) and has the manager approve all N at once from N threads, then one at
a time. The Okta emulator answers after --latency seconds; the lag measured is from the call to
`decide_step` to the membership `PUT` arriving at Okta (p50, p99, max). Reports; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import threading
import time

from _setup import ROOT, django_up, percentile, task_cluster

TOKEN = "approval-bench-token"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--approvals", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the emulator takes per request")
    parser.add_argument("--workers", type=int, default=2, help="task cluster workers")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
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
        requests.append((user_id, company.submit(None, requester=email, application=f"app-{prefix}", role="user")))
    return requests


DECIDED: list[float] = []  # how long each decide_step call took, approving together
COMMITTED: dict[str, float] = {}  # user id -> when its decide_step call returned (committed)


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

    threads = [threading.Thread(target=one, args=pair) for pair in requests]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return started


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

    okta = OktaEmulator(TOKEN).start()
    os.environ.update(OKTA_ORG_URL=okta.base_url, OKTA_API_TOKEN=TOKEN, OKTA_TESTING_TESTINGDISABLEHTTPSCHECK="true")
    url = django_up(args.database_url, inline_tasks=False)
    together = build(okta, args.approvals, "together")
    alone = build(okta, args.approvals + 2 * args.workers, "alone")
    okta.latency = args.latency
    with task_cluster(args.workers):
        # One at a time first, after a few to wait until every worker is up and has its client.
        warm = 2 * args.workers
        approve_alone(okta, alone[:warm], timeout=600)
        report("one at a time", approve_alone(okta, alone[warm:]))
        report("together", lags(okta, approve_together(together)))
        report("  of which the decide_step call", DECIDED)
        report("  decision committed -> membership", lags(okta, COMMITTED))
    okta.stop()
    database = url.split("://")[0]
    print(f"Okta latency {args.latency * 1000:.0f} ms, {args.workers} task workers, ORM broker, {database}")


if __name__ == "__main__":
    main()
