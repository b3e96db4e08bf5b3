"""Drain a burst of membership changes through the outbox to the Okta emulator under Okta's
per-bucket rate limits, as a task cluster would.

    /work/main/.venv/bin/python bench/okta_membership_burst.py [--changes 2000] [--bucket-per-minute 600]
        [--latency 0.1] [--workers 2]

The emulator answers after `--latency` seconds and counts each request against its Okta bucket
per calendar minute (membership writes `PUT`/`DELETE /api/v1/groups/{id}/users/{uid}` count
against `/api/v1/groups`, set by `--bucket-per-minute`; reads such as `/api/v1/users/{id}/groups`
against `/api/v1`, `--other-per-minute`), answering 429 with `X-Rate-Limit-Reset` beyond it, as
Okta does. The changes are queued with `queue_change` into django-q2's ORM broker as in
production; W worker threads then run the task a qcluster worker runs
(`provisioning.tasks.execute_membership_changes`, one batch of ids per task, as the outbox
enqueues them), through the real `okta` SDK, on a throwaway SQLite file. Rows handed back or
retried are handed out again when due (the sweep's job). Prints the membership writes achieved
as a fraction of the bucket's budget, the outcome of every change, the wall time and the calls.
It reports; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import queue
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
WORKDIR = tempfile.mkdtemp(prefix="gatehouse-bench-")
os.environ["DJANGO_SETTINGS_MODULE"] = "governance.settings"
os.environ["GATEHOUSE_DEV_DEFAULTS"] = "true"
os.environ["Q_SYNC"] = "false"  # enqueue into the ORM broker; the worker threads below execute
os.environ["DATABASE_URL"] = f"sqlite:///{WORKDIR}/bench.sqlite3"  # never touch a real database
os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"  # the emulator speaks http on loopback
os.environ.setdefault("LOG_LEVEL", "WARNING")  # django-q logs every inline task at INFO

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.utils import timezone  # noqa: E402

from catalog.models import IdpGroup, Person  # noqa: E402
from provisioning import tasks  # noqa: E402
from provisioning.connectors import connector_for  # noqa: E402
from provisioning.models import MembershipChange  # noqa: E402
from provisioning.outbox import services  # noqa: E402
from tests.emulators.okta import OktaEmulator  # noqa: E402

TOKEN = "bench-token"
WRITES = "/api/v1/groups"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=2000, help="membership changes to push (default 2000)")
    parser.add_argument("--groups", type=int, default=20, help="Okta groups the changes spread over")
    parser.add_argument("--bucket-per-minute", type=int, default=600, help="the /api/v1/groups bucket N")
    parser.add_argument("--other-per-minute", type=int, default=1200, help="the /api/v1 bucket (other calls)")
    parser.add_argument("--latency", type=float, default=0.1, help="seconds the emulator takes per request")
    parser.add_argument("--sdk-retries", type=int, default=1, help="OKTA_RATE_LIMIT_MAX_RETRIES")
    parser.add_argument("--workers", type=int, default=2, help="concurrent workers W (qcluster workers)")
    parser.add_argument("--batch", type=int, default=50, help="change ids per task (the outbox's batch size)")
    parser.add_argument("--preexisting", type=float, default=0.1, help="share of adds already members in Okta")
    parser.add_argument("--known-ids", action="store_true", help="people carry their Okta id (a synced directory)")
    return parser.parse_args()


def seed(okta: OktaEmulator, args: argparse.Namespace) -> list[tuple[Person, IdpGroup, str]]:
    """People and groups on both sides; returns (person, group, action) for every change to push."""
    group_ids = [okta.add_group(f"bench-group-{n}") for n in range(args.groups)]
    groups = IdpGroup.objects.bulk_create(
        [IdpGroup(connector="okta", external_id=gid, name=f"bench-group-{n}") for n, gid in enumerate(group_ids)]
    )
    user_ids = [okta.add_user(f"user{n}@example.com", "User", str(n)) for n in range(args.changes)]
    people = Person.objects.bulk_create(
        [
            Person(
                email=f"user{n}@example.com",
                name=f"User {n}",
                **({"directory": "okta", "external_id": user_ids[n]} if args.known_ids else {}),
            )
            for n in range(args.changes)
        ]
    )
    preexisting_every = round(1 / args.preexisting) if args.preexisting > 0 else 0
    plan = []
    for n, person in enumerate(people):
        group = groups[n % len(groups)]
        if n % 4 == 3:  # a quarter are removals of memberships Okta holds
            okta.add_member(group.external_id, user_ids[n])
            plan.append((person, group, MembershipChange.Action.REMOVE))
            continue
        if preexisting_every and n % preexisting_every == 0:
            okta.add_member(group.external_id, user_ids[n])
        plan.append((person, group, MembershipChange.Action.ADD))
    return plan


def worker(work: queue.Queue, stop: threading.Event) -> None:
    """One qcluster worker: take a task's batch of change ids, run the task function."""
    try:
        while not stop.is_set():
            try:
                batch = work.get(timeout=0.2)
            except queue.Empty:
                continue
            tasks.execute_membership_changes(batch)
            work.task_done()
    finally:
        connection.close()


def feed(work: queue.Queue, ids: list[int], size: int) -> None:
    for start in range(0, len(ids), size):
        work.put(ids[start : start + size])


def run(change_ids: list[int], args: argparse.Namespace, deadline_seconds: float = 1800) -> None:
    """Execute every change with W threads; hand out re-queued changes again when they fall due."""
    work: queue.Queue = queue.Queue()
    feed(work, change_ids, args.batch)
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(work, stop), daemon=True) for _ in range(args.workers)]
    for thread in threads:
        thread.start()
    started = time.monotonic()
    try:
        while time.monotonic() - started < deadline_seconds:
            work.join()
            open_changes = MembershipChange.objects.filter(status__in=MembershipChange.OPEN)
            if not open_changes.exists():
                return
            due = open_changes.filter(status=MembershipChange.Status.QUEUED).order_by("next_attempt_at").first()
            if due is not None:  # the sweep's job: wait for the next due change, then hand them out
                time.sleep(max((due.next_attempt_at - timezone.now()).total_seconds(), 0.05))
                now = timezone.now()
                ready = open_changes.filter(status=MembershipChange.Status.QUEUED, next_attempt_at__lte=now)
                feed(work, list(ready.order_by("priority", "id").values_list("id", flat=True)), args.batch)
            else:
                time.sleep(0.2)
        print("gave up waiting for open changes", file=sys.stderr)
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def count_lost(okta: OktaEmulator) -> int:
    """Changes that did not settle, or settled as succeeded without Okta holding the result."""
    lost = MembershipChange.objects.filter(status__in=MembershipChange.OPEN).count()
    ids = {u["profile"]["email"]: uid for uid, u in okta.users.items()}
    for change in MembershipChange.objects.filter(status=MembershipChange.Status.SUCCEEDED).select_related(
        "person", "group"
    ):
        present = ids[change.person.email] in okta.members[change.group.external_id]
        if present != (change.action == MembershipChange.Action.ADD):
            lost += 1
    return lost


def served_writes_per_window(okta: OktaEmulator) -> list[int]:
    """Membership writes Okta served (not 429) in each calendar minute the run touched."""
    windows: dict[int, int] = {}
    for call in okta.calls:
        if call.method in ("PUT", "DELETE"):
            windows.setdefault(int(call.at) // 60, 0)
    for call in okta.calls:
        if call.method in ("PUT", "DELETE") and call.status != 429:
            windows[int(call.at) // 60] += 1
    return [windows[minute] for minute in sorted(windows)]


def main() -> None:
    args = parse_args()
    call_command("migrate", verbosity=0)
    limits = {WRITES: args.bucket_per_minute, "/api/v1": args.other_per_minute}
    okta = OktaEmulator(TOKEN, bucket_limits=limits).start()
    settings.OKTA = {"ORG_URL": okta.base_url, "API_TOKEN": TOKEN, "RATE_LIMIT_MAX_RETRIES": args.sdk_retries}
    plan = seed(okta, args)
    connector_for("okta").close()  # import the SDK (seconds) before the clock starts
    okta.calls.clear()
    okta.latency = args.latency

    started, started_epoch = time.monotonic(), time.time()
    change_ids = [
        c.pk for c in services.queue_changes([MembershipChange(action=a, person=p, group=g) for p, g, a in plan])
    ]
    run(change_ids, args)
    wall = time.monotonic() - started
    windows = int(time.time()) // 60 - int(started_epoch) // 60 + 1  # calendar minutes the run touched

    calls = len(okta.calls)
    writes = sum(1 for c in okta.calls if c.method in ("PUT", "DELETE"))
    per_window = served_writes_per_window(okta)
    served = calls - okta.rate_limited
    by_status = {
        status: MembershipChange.objects.filter(status=status).count() for status in MembershipChange.Status.values
    }
    by_result = {r: MembershipChange.objects.filter(result=r).count() for r in MembershipChange.Result.values}
    retried = MembershipChange.objects.filter(attempts__gt=1).count()
    lost = count_lost(okta)
    in_flight = okta.max_in_flight
    okta.stop()

    changes_per_minute = len(plan) / (wall / 60) if wall else 0.0
    print(f"changes pushed:        {len(plan)} over {args.groups} groups (known Okta ids: {args.known_ids})")
    print(f"succeeded / failed:    {by_status['succeeded']} / {by_status['failed']}")
    print(f"lost:                  {lost}")
    print(f"results:               {', '.join(f'{k}={v}' for k, v in by_result.items() if v)}")
    print(f"changes retried:       {retried} (attempts > 1)")
    print(f"wall time:             {wall:.1f} s")
    print(f"changes per second:    {len(plan) / wall:.1f}")
    print(f"HTTP calls:            {calls} ({served} served, {okta.rate_limited} answered 429; {writes} writes)")
    print(f"calls per change:      {served / len(plan):.2f}")
    print(f"most calls in flight:  {in_flight}")
    print(f"workers W, latency:    {args.workers}, {args.latency * 1000:.0f} ms")
    print(f"budget N:              {args.bucket_per_minute} writes/minute ({WRITES} bucket)")
    # Every window but the last (where the work ran out) could have served N writes.
    full = per_window[:-1] or per_window
    fraction = sum(full) / (len(full) * args.bucket_per_minute)
    print(f"writes per minute:     {per_window} (calendar minutes)")
    print(f"fraction of budget:    {fraction:.2f} (served writes / N in every minute but the last)")
    print(f"average rate:          {changes_per_minute:.0f} changes/min over the run")
    print(f"budget used:           {writes / (windows * args.bucket_per_minute):.2f} of N x {windows} windows touched")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
