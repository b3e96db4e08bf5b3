"""Are expiries on time at the provider while a backlog of grants drains through the same bucket?

Builds G grants (default 500) of people in an Okta group, expiring evenly over two minutes, and
queues a backlog of B membership adds (default 2,000) to other Okta groups just before the first
expiry. The Okta emulator answers after --latency seconds and counts membership writes against
the `/api/v1/groups` bucket (--bucket-per-minute, answering 429 beyond it, as Okta does). The
expiry timer runs here as `manage.py expiry_timer` runs it (with its removal lane), beside a real
task cluster (`manage.py qcluster`, --workers, ORM broker). Prints the lag from `expires_at` to the
grant ending and to the membership `DELETE` reaching Okta (p50, p99, max), when the backlog
finished, and the writes Okta served per calendar minute. It reports; it asserts nothing.

The physical limit: the bucket serves N writes a minute to adds and removals together. Removals are
taken first, but a removal queued after the backlog has spent the current minute's budget waits for
the next window (Okta's buckets reset each minute), so with a saturating backlog its lag at Okta is
up to a minute plus the time to its window's turn.

    .venv/bin/python bench/expiry_backlog_bench.py [--grants 500] [--backlog 2000] [--database-url …]
"""

from __future__ import annotations

import argparse
import os
import threading
import time
from collections import Counter
from datetime import timedelta

from _setup import ROOT, active_grants, bench_role, django_up, percentile, task_cluster

TOKEN = "expiry-backlog-bench-token"
WRITES = "/api/v1/groups"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--grants", type=int, default=500)
    parser.add_argument("--backlog", type=int, default=2000, help="membership adds queued as the expiries start")
    parser.add_argument("--spread", type=float, default=120, help="seconds the expiries are spread over")
    parser.add_argument("--bucket-per-minute", type=int, default=600)
    parser.add_argument("--latency", type=float, default=0.1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    return parser.parse_args()


def people(okta, prefix: str, count: int) -> list:
    from catalog.models import Person

    ids = [okta.add_user(f"{prefix}{n}@bench.example", prefix, str(n)) for n in range(count)]
    return Person.objects.bulk_create(
        [
            Person(email=f"{prefix}{n}@bench.example", name=f"{prefix} {n}", directory="okta", external_id=ids[n])
            for n in range(count)
        ],
        batch_size=2000,
    )


def build_expiring(okta, count: int, start_in: float, spread: float) -> None:
    """`count` active grants whose membership Okta holds, ending evenly from `start_in` seconds."""
    from django.utils import timezone

    from catalog.models import GroupMembership
    from governance.models import GrantMembershipChange
    from provisioning.models import MembershipChange

    group_id = okta.add_group("bench-users")
    role, group = bench_role(group_id, connector="okta")
    holders = people(okta, "holder", count)
    for person in holders:
        okta.add_member(group_id, person.external_id)
    now = timezone.now()
    first = now + timedelta(seconds=start_in)
    grants = active_grants(role, holders, first_expiry=first, spread_seconds=spread)
    adds = MembershipChange.objects.bulk_create(
        [
            MembershipChange(
                action="add", person=g.person, group=group, status="succeeded", result="added", next_attempt_at=now
            )
            for g in grants
        ]
    )
    GrantMembershipChange.objects.bulk_create(
        [GrantMembershipChange(grant=g, change=c) for g, c in zip(grants, adds, strict=True)]
    )
    GroupMembership.objects.bulk_create(
        [GroupMembership(person=p, group=group, origin="gatehouse", since=now) for p in holders]
    )


def queue_backlog(okta, count: int) -> None:
    from django.db import transaction

    from catalog.models import IdpGroup
    from provisioning.models import MembershipChange
    from provisioning.outbox import services

    groups = IdpGroup.objects.bulk_create(
        [IdpGroup(connector="okta", external_id=okta.add_group(f"backlog-{n}"), name=f"backlog-{n}") for n in range(20)]
    )
    joiners = people(okta, "joiner", count)
    with transaction.atomic():
        services.queue_changes(
            [MembershipChange(action="add", person=p, group=groups[n % len(groups)]) for n, p in enumerate(joiners)]
        )


def run_timer(seconds: float) -> None:
    from governance.grants.expiry import RemovalLane, run_expiry_timer
    from governance.models import Grant
    from provisioning.models import MembershipChange

    stop = threading.Event()
    lane = RemovalLane(stop)
    end = time.monotonic() + seconds
    run_expiry_timer(should_stop=lambda: time.monotonic() > end, wait=time.sleep, ended=lane.wake)
    deadline = time.monotonic() + 900
    while time.monotonic() < deadline and (
        Grant.objects.filter(removed_at__isnull=True).exists()
        or MembershipChange.objects.filter(status__in=MembershipChange.OPEN).exists()  # the backlog
    ):
        time.sleep(1)
    stop.set()
    lane.join()


def report(okta, backlog_started: float) -> None:
    from django.db.models import Max

    from governance.models import Grant
    from provisioning.models import MembershipChange

    rows = list(Grant.objects.values_list("person__external_id", "expires_at", "ended_at"))
    ended = [(e - x).total_seconds() for _, x, e in rows if e]
    gone_at = {
        call.path.rsplit("/", 1)[-1]: call.at
        for call in okta.calls_to("DELETE", r"/api/v1/groups/[^/]+/users/")
        if call.status == 204
    }
    gone = [gone_at[user] - x.timestamp() for user, x, _ in rows if user in gone_at]
    backlog = MembershipChange.objects.filter(person__email__startswith="joiner")
    done = backlog.filter(status="succeeded").count()
    last = backlog.aggregate(last=Max("finished_at"))["last"]
    writes = [c for c in okta.calls if c.method in ("PUT", "DELETE") and c.path.startswith(WRITES) and c.status < 300]
    per_minute = Counter(int(c.at // 60) for c in writes)
    print(
        f"grant ended after expires_at: p50 {percentile(ended, 50):.2f} s, p99 {percentile(ended, 99):.2f} s, "
        f"max {max(ended, default=0):.2f} s ({len(ended)} grants)"
    )
    print(
        f"membership gone at Okta after expires_at: p50 {percentile(gone, 50):.1f} s, "
        f"p99 {percentile(gone, 99):.1f} s, max {max(gone, default=0):.1f} s ({len(gone)} of {len(rows)})"
    )
    took = last.timestamp() - backlog_started if last else float("nan")
    print(f"backlog: {done} adds succeeded, the last {took:.0f} s after it was queued")
    print(
        f"writes served per calendar minute: {[per_minute[m] for m in sorted(per_minute)]}; 429s: {okta.rate_limited}"
    )


def main() -> None:
    args = parse_args()
    import sys

    sys.path.insert(0, str(ROOT))
    from tests.emulators.okta import OktaEmulator

    okta = OktaEmulator(TOKEN, bucket_limits={WRITES: args.bucket_per_minute}).start()
    os.environ.update(OKTA_ORG_URL=okta.base_url, OKTA_API_TOKEN=TOKEN, OKTA_TESTING_TESTINGDISABLEHTTPSCHECK="true")
    url = django_up(args.database_url, inline_tasks=False)
    lead = 20.0
    build_expiring(okta, args.grants, start_in=lead + 10, spread=args.spread)
    okta.latency = args.latency
    print(
        f"database: {url.split('://')[0]}  grants: {args.grants} over {args.spread:.0f} s  backlog: {args.backlog} "
        f"adds  bucket: {args.bucket_per_minute}/min  Okta latency {args.latency * 1000:.0f} ms  "
        f"workers: {args.workers}"
    )
    with task_cluster(args.workers):
        time.sleep(lead)  # the workers are up
        queue_backlog(okta, args.backlog)
        backlog_started = time.time()
        run_timer(10 + args.spread + 2)
        time.sleep(2)
    report(okta, backlog_started)
    okta.stop()


if __name__ == "__main__":
    main()
