"""How late is removal when thousands of grants expire in the same minute?

Builds N active grants (one local group each, via bulk inserts) expiring evenly over one minute
starting a few seconds from now, then runs the expiry timer loop as `manage.py expiry_timer` does
(a process of its own, never a task-cluster worker) while a real task cluster (`manage.py qcluster`,
--workers) executes the removals, as in production. Prints the lags from `expires_at` to the grant
ending (removal queued) and to the removal confirmed by the provider (p50, p99, max), and the
timer's queries per expired grant (the cluster's queries are not counted here). --inline runs the
removals in the timer's process.

    .venv/bin/python bench/expiry_bench.py [--grants 10000] [--database-url postgres://…]
"""

from __future__ import annotations

import argparse
import time
from datetime import timedelta

from _setup import active_grants, bench_role, counting_queries, django_up, percentile, task_cluster


def build(n: int, lead_seconds: float) -> None:
    from django.db.models import F
    from django.utils import timezone

    from catalog.models import GroupMembership, Person
    from governance.models import Grant, GrantMembershipChange
    from provisioning.models import LocalMembership, MembershipChange

    role, group = bench_role()
    people = Person.objects.bulk_create(
        [Person(email=f"p{i}@bench.example", name=f"P {i}") for i in range(n)], batch_size=2000
    )
    now = timezone.now()
    # Built a day ahead, then moved to `lead_seconds` from the end of the build in one UPDATE: a slow
    # build (a loaded machine) must not leave grants overdue before the timer even starts.
    start = now + timedelta(days=1)
    grants = active_grants(role, people, first_expiry=start, spread_seconds=60)
    changes = MembershipChange.objects.bulk_create(
        [
            MembershipChange(
                action="add",
                person=g.person,
                group=group,
                status="succeeded",
                result="added",
                attempts=1,
                next_attempt_at=now,
                finished_at=now,
            )
            for g in grants
        ],
        batch_size=2000,
    )
    GrantMembershipChange.objects.bulk_create(
        [GrantMembershipChange(grant=g, change=c) for g, c in zip(grants, changes, strict=True)], batch_size=2000
    )
    LocalMembership.objects.bulk_create([LocalMembership(person=p, group=group) for p in people], batch_size=2000)
    GroupMembership.objects.bulk_create(
        [GroupMembership(person=p, group=group, origin="gatehouse", since=now) for p in people], batch_size=2000
    )
    shift = start - (timezone.now() + timedelta(seconds=lead_seconds))
    Grant.objects.update(expires_at=F("expires_at") - shift)


def run(n: int, timer_seconds: float, *, lane: bool) -> dict:
    import threading

    from governance.grants.expiry import RemovalLane, run_expiry_timer
    from governance.models import Grant

    timer_end = time.monotonic() + timer_seconds
    stop = threading.Event()
    removals = RemovalLane(stop) if lane else None  # the timer process's removal lane, as the command runs it
    with counting_queries() as counter:
        # The timer process's own loop, stopped once every grant is past its expiry.
        run_expiry_timer(
            should_stop=lambda: time.monotonic() > timer_end,
            wait=time.sleep,
            ended=removals.wake if removals else (lambda count: None),
        )
    deadline = time.monotonic() + 600
    while Grant.objects.filter(removed_at__isnull=True).exists() and time.monotonic() < deadline:
        time.sleep(1)  # the lane and the cluster are still confirming removals
    stop.set()
    lane_removed = removals.join() if removals else 0
    rows = list(Grant.objects.values_list("expires_at", "ended_at", "removed_at"))
    ended = [(e - x).total_seconds() for x, e, _ in rows if e is not None]
    lags = [(r - x).total_seconds() for x, _, r in rows if r is not None]
    return {"ended": ended, "lags": lags, "queries": counter.count, "confirmed": len(lags), "lane": lane_removed}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grants", type=int, default=10000)
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    parser.add_argument("--workers", type=int, default=2, help="task cluster workers")
    parser.add_argument("--inline", action="store_true", help="no cluster: removals run in the timer's process")
    parser.add_argument(
        "--no-removal-lane", action="store_true", help="as `expiry_timer --no-removal-lane`: the cluster removes alone"
    )
    args = parser.parse_args()
    url = django_up(args.database_url, inline_tasks=args.inline)
    started = time.monotonic()
    lead = max(5.0, args.grants / 2000)
    build(args.grants, lead_seconds=lead)
    mode = "inline" if args.inline else f"cluster of {args.workers} workers"
    print(
        f"database: {url.split('@')[-1]}  grants: {args.grants}  removals: {mode}  "
        f"built in {time.monotonic() - started:.1f}s"
    )
    timer_seconds = lead + 60 + 2  # until the last grant is due (counted from the end of the build), and a little more
    if args.inline:
        result = run(args.grants, timer_seconds, lane=False)
    else:
        with task_cluster(args.workers):
            result = run(args.grants, timer_seconds, lane=not args.no_removal_lane)
    lags, ended = result["lags"], result["ended"]
    print(
        f"removals confirmed: {result['confirmed']}/{args.grants} (made by the timer's removal lane: {result['lane']})"
    )
    print(
        f"lag expires_at -> grant ended, removal queued: p50 {percentile(ended, 50):.2f}s  "
        f"p99 {percentile(ended, 99):.2f}s  max {max(ended, default=0):.2f}s"
    )
    print(
        f"lag expires_at -> removal confirmed: p50 {percentile(lags, 50):.2f}s  p99 {percentile(lags, 99):.2f}s  "
        f"max {max(lags, default=0):.2f}s"
    )
    per = result["queries"] / max(1, result["confirmed"])
    print(f"timer queries: {result['queries']}  per expired grant: {per:.1f}")


if __name__ == "__main__":
    main()
