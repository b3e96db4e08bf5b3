"""Push a burst of membership changes through the outbox to the Okta emulator under a rate limit.

    /work/main/.venv/bin/python bench/okta_membership_burst.py [--changes 2000] [--requests-per-minute 2500]

The emulator allows N requests per calendar minute and answers 429 (with X-Rate-Limit-Reset)
beyond that, as Okta does. `queue_change` enqueues each change into django-q2's ORM broker as in
production; W worker threads then run the task function a qcluster worker would run
(`provisioning.tasks.execute_membership_change`), through the real `okta` SDK, against a
throwaway SQLite file (WAL, as configured for production SQLite). Prints the achieved request
rate as a fraction of N, the outcome of every change, the wall time and the HTTP calls.
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


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=2000, help="membership changes to push (default 2000)")
    parser.add_argument("--groups", type=int, default=20, help="Okta groups the changes spread over")
    parser.add_argument("--requests-per-minute", type=int, default=2500, help="the emulator's budget N")
    parser.add_argument(
        "--sdk-retries", type=int, default=1, help="OKTA_RATE_LIMIT_MAX_RETRIES (0: every 429 goes back to the outbox)"
    )
    parser.add_argument("--workers", type=int, default=4, help="concurrent workers W (qcluster workers)")
    parser.add_argument("--preexisting", type=float, default=0.1, help="share of adds already members in Okta")
    return parser.parse_args()


def seed(okta: OktaEmulator, args: argparse.Namespace) -> list[tuple[Person, IdpGroup, str]]:
    """People and groups on both sides; returns (person, group, action) for every change to push."""
    group_ids = [okta.add_group(f"bench-group-{n}") for n in range(args.groups)]
    groups = IdpGroup.objects.bulk_create(
        [IdpGroup(connector="okta", external_id=gid, name=f"bench-group-{n}") for n, gid in enumerate(group_ids)]
    )
    people = Person.objects.bulk_create(
        [Person(email=f"user{n}@example.com", name=f"User {n}") for n in range(args.changes)]
    )
    preexisting_every = round(1 / args.preexisting) if args.preexisting > 0 else 0
    plan = []
    for n, person in enumerate(people):
        user_id = okta.add_user(person.email, "User", str(n))
        group = groups[n % len(groups)]
        if n % 4 == 3:  # a quarter are removals of memberships Okta holds
            okta.add_member(group.external_id, user_id)
            plan.append((person, group, MembershipChange.Action.REMOVE))
            continue
        if preexisting_every and n % preexisting_every == 0:
            okta.add_member(group.external_id, user_id)
        plan.append((person, group, MembershipChange.Action.ADD))
    return plan


def worker(work: queue.Queue, stop: threading.Event) -> None:
    """One qcluster worker: take change ids, run the task function."""
    try:
        while not stop.is_set():
            try:
                change_id = work.get(timeout=0.2)
            except queue.Empty:
                continue
            tasks.execute_membership_change(change_id)
            work.task_done()
    finally:
        connection.close()


def run(change_ids: list[int], workers: int, deadline_seconds: float = 600) -> None:
    """Execute every change with `workers` threads; re-feed re-queued changes when they fall due."""
    work: queue.Queue = queue.Queue()
    for change_id in change_ids:
        work.put(change_id)
    stop = threading.Event()
    threads = [threading.Thread(target=worker, args=(work, stop), daemon=True) for _ in range(workers)]
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
            if due is not None:  # the sweep's job: wait for the next due retry, then hand it out
                time.sleep(max((due.next_attempt_at - timezone.now()).total_seconds(), 0.1))
                now = timezone.now()
                for change_id in open_changes.filter(next_attempt_at__lte=now).values_list("id", flat=True):
                    work.put(change_id)
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
    for change in MembershipChange.objects.filter(status=MembershipChange.Status.SUCCEEDED).select_related(
        "person", "group"
    ):
        user_id = next(uid for uid, u in okta.users.items() if u["profile"]["email"] == change.person.email)
        present = user_id in okta.members[change.group.external_id]
        if present != (change.action == MembershipChange.Action.ADD):
            lost += 1
    return lost


def main() -> None:
    args = parse_args()
    call_command("migrate", verbosity=0)
    okta = OktaEmulator(TOKEN, requests_per_minute=args.requests_per_minute).start()
    settings.OKTA = {"ORG_URL": okta.base_url, "API_TOKEN": TOKEN, "RATE_LIMIT_MAX_RETRIES": args.sdk_retries}
    plan = seed(okta, args)
    connector_for("okta").close()  # import the SDK (seconds) before the clock starts
    okta.calls.clear()

    started, started_epoch = time.monotonic(), time.time()
    change_ids = [services.queue_change(action=a, person=p, group=g).pk for p, g, a in plan]
    run(change_ids, args.workers)
    wall = time.monotonic() - started
    windows = int(time.time()) // 60 - int(started_epoch) // 60 + 1  # calendar minutes the run touched

    calls = len(okta.calls)
    served = calls - okta.rate_limited
    by_status = {
        status: MembershipChange.objects.filter(status=status).count() for status in MembershipChange.Status.values
    }
    by_result = {r: MembershipChange.objects.filter(result=r).count() for r in MembershipChange.Result.values}
    retried = MembershipChange.objects.filter(attempts__gt=1).count()
    lost = count_lost(okta)
    okta.stop()

    rate = served / (wall / 60) if wall else 0.0
    print(f"changes pushed:        {len(plan)}")
    print(f"succeeded / failed:    {by_status['succeeded']} / {by_status['failed']}")
    print(f"lost:                  {lost}")
    print(f"results:               {', '.join(f'{k}={v}' for k, v in by_result.items() if v)}")
    print(f"changes retried:       {retried} (through the outbox; SDK in-call retries: {args.sdk_retries})")
    print(f"wall time:             {wall:.1f} s")
    print(f"HTTP calls:            {calls} ({served} served, {okta.rate_limited} answered 429)")
    print(f"workers W:             {args.workers}")
    print(f"budget N:              {args.requests_per_minute} requests/minute")
    print(f"achieved rate:         {rate:.0f} requests/minute = {rate / args.requests_per_minute:.2f} of N")
    print(f"budget used:           {served / (windows * args.requests_per_minute):.2f} of N x {windows} windows")
    print(f"calls per change:      {served / len(plan):.2f}")


if __name__ == "__main__":
    try:
        main()
    finally:
        shutil.rmtree(WORKDIR, ignore_errors=True)
