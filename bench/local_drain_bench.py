"""How many membership changes per second does a task cluster confirm through the local connector?

Builds N grants waiting for their change (adds: pending grants that become active; removals:
ended grants whose memberships go), queues the N changes in one transaction through the service
that queues a grant's changes (so the outbox hands them to the broker on commit, as in
production), and runs a real `manage.py qcluster` (--workers) until every change is confirmed and
every grant moved on. Prints confirmed changes per second, from the commit to the last change
recorded, and the CPU time the workers, the database server and the broker spent on each change
(the cost that bounds the rate on a loaded machine). `--postgres` starts a throwaway PostgreSQL
and `--redis` a throwaway Redis as the django-q2 broker (both from Debian's packages); the
default is the embedded SQLite file with the ORM broker, as `run.sh` runs. It reports; it asserts nothing about time.

    .venv/bin/python bench/local_drain_bench.py [--changes 10000] [--action add|remove] [--postgres] [--redis]
"""

from __future__ import annotations

import argparse
import time
from contextlib import ExitStack
from datetime import timedelta

from _setup import ROOT, bench_role, django_up, task_cluster, tree_cpu_seconds


def build(n: int, action: str) -> list[tuple[object, object]]:
    """N people, grants and local memberships as the action needs; returns (change, grant) to queue."""
    from django.utils import timezone

    from catalog.models import GroupMembership, Person
    from governance.models import Grant
    from provisioning.models import LocalMembership, MembershipChange

    role, group = bench_role()
    people = Person.objects.bulk_create(
        [Person(email=f"p{i}@bench.example", name=f"P {i}") for i in range(n)], batch_size=2000
    )
    now = timezone.now()
    adding = action == "add"
    grants = Grant.objects.bulk_create(
        [
            Grant(
                person=person,
                role=role,
                status="pending" if adding else "revoked",
                duration=timedelta(days=7),
                ended_at=None if adding else now,
            )
            for person in people
        ],
        batch_size=2000,
    )
    if not adding:
        LocalMembership.objects.bulk_create([LocalMembership(person=p, group=group) for p in people], batch_size=2000)
        GroupMembership.objects.bulk_create(
            [GroupMembership(person=p, group=group, origin="gatehouse", since=now) for p in people], batch_size=2000
        )
    return [(MembershipChange(action=action, person_id=g.person_id, group=group), g) for g in grants]


def cpu_reading(pids: dict[str, int]) -> dict[str, float]:
    return {name: tree_cpu_seconds(pid) for name, pid in pids.items()}


def drain(planned: list, timeout: float, pids: dict[str, int]) -> dict:
    from django.db import transaction
    from django.db.models import Max

    from governance.grants import changes
    from provisioning.models import MembershipChange

    with transaction.atomic():
        changes.queue_grant_changes(planned)
    cpu_before = cpu_reading(pids)
    committed = time.monotonic()
    from django.utils import timezone

    committed_at = timezone.now()
    deadline = committed + timeout
    while MembershipChange.objects.filter(status__in=MembershipChange.OPEN).exists() and time.monotonic() < deadline:
        time.sleep(0.2)
    cpu_after = cpu_reading(pids)
    done = MembershipChange.objects.filter(status=MembershipChange.Status.SUCCEEDED)
    last = done.aggregate(last=Max("finished_at"))["last"]
    seconds = (last - committed_at).total_seconds() if last else float("nan")
    return {
        "confirmed": done.count(),
        "seconds": seconds,
        "open": MembershipChange.objects.filter(status__in=MembershipChange.OPEN).count(),
        "cpu": {name: cpu_after[name] - cpu_before[name] for name in pids},
    }


def grants_moved_on(action: str) -> int:
    from governance.models import Grant

    if action == "add":
        return Grant.objects.filter(status="active").count()
    return Grant.objects.filter(removed_at__isnull=False).count()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=10000)
    parser.add_argument("--action", choices=("add", "remove"), default="add")
    parser.add_argument("--workers", type=int, default=2, help="task cluster workers")
    parser.add_argument("--postgres", action="store_true", help="a throwaway PostgreSQL (default: SQLite)")
    parser.add_argument("--redis", action="store_true", help="a throwaway Redis as the broker (default: ORM)")
    parser.add_argument("--timeout", type=float, default=900)
    args = parser.parse_args()
    import os
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.servers import PostgresServer, RedisServer

    with ExitStack() as stack:
        url, pids = None, {}
        if args.postgres:
            postgres = PostgresServer()
            stack.callback(postgres.destroy)
            postgres.start()
            postgres.create_database()
            url = postgres.url
            pids["database"] = postgres.pid
        if args.redis:
            redis = RedisServer()
            stack.callback(redis.destroy)
            redis.start()
            os.environ["REDIS_URL"] = redis.url
            pids["broker"] = redis.process.pid
        url = django_up(url, inline_tasks=False)
        started = time.monotonic()
        planned = build(args.changes, args.action)
        broker = "Redis" if args.redis else "ORM"
        print(
            f"database: {url.split('://')[0]}  broker: {broker}  changes: {args.changes} ({args.action})  "
            f"workers: {args.workers}  built in {time.monotonic() - started:.1f}s"
        )
        with task_cluster(args.workers) as cluster:
            time.sleep(3)  # the cluster's workers are up before the clock starts
            result = drain(planned, args.timeout, {"workers": cluster.pid, **pids})
        rate = result["confirmed"] / result["seconds"] if result["seconds"] else 0.0
        print(
            f"confirmed {result['confirmed']}/{args.changes} ({result['open']} still open) in "
            f"{result['seconds']:.1f}s after the commit: {rate:.0f} changes/s; "
            f"grants moved on: {grants_moved_on(args.action)}"
        )
        confirmed = max(result["confirmed"], 1)
        spent = ", ".join(f"{name} {seconds / confirmed * 1000:.2f} ms" for name, seconds in result["cpu"].items())
        print(f"CPU per change: {spent}; total {sum(result['cpu'].values()) / confirmed * 1000:.2f} ms")


if __name__ == "__main__":
    main()
