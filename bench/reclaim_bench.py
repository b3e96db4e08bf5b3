"""Benchmark the Auto Reclaim sweep: N people × 1 application, 5 % inactive.

Builds the data with bulk_create in a throwaway SQLite file (or TEST_DATABASE_URL), then times:
  1. the first sweep (opens and warns the inactive 5 %),
  2. a second sweep the same day (nothing due: the steady state of a daily schedule),
  3. a dry run (reads everything; also measured for peak Python memory with tracemalloc),
  4. the sweep after the grace period, removing up to --cap people through the revocation services.

Tasks (emails, membership changes) are enqueued to django-q's ORM broker as in production, not executed.

    python bench/reclaim_bench.py                # 100,000 people
    python bench/reclaim_bench.py --people 20000 --cap 200
"""

from __future__ import annotations

import argparse
import logging
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=100_000)
    parser.add_argument("--inactive", type=float, default=0.05, help="Share of people inactive (default 0.05).")
    parser.add_argument("--drift", type=float, default=0.10, help="Share with access found in the provider only.")
    parser.add_argument("--cap", type=int, default=200, help="Removal cap for the removal sweep (default 200).")
    return parser.parse_args()


def setup_django(db_path: str) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
    os.environ.setdefault("TEST_DATABASE_URL", f"sqlite:///{db_path}")
    import django
    from django.conf import settings

    django.setup()
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):  # as the product configures SQLite
        settings.DATABASES["default"]["OPTIONS"] = {
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA busy_timeout=10000; PRAGMA synchronous=NORMAL;",
            "transaction_mode": "IMMEDIATE",
        }
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    logging.disable(logging.INFO)
    # As in production: tasks (emails, membership changes) are enqueued to the ORM broker for the
    # workers, not run inline, so the numbers are the sweep's own.
    from django_q.conf import Conf

    Conf.SYNC = False
    from django.core.management import call_command

    call_command("migrate", verbosity=0)


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0

    def __call__(self, execute, sql, params, many, context):
        self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def measured(label: str, *, trace_memory: bool = False):
    from django.db import connection

    counter = QueryCounter()
    if trace_memory:
        tracemalloc.start()
    started = time.perf_counter()
    with connection.execute_wrapper(counter):
        yield
    elapsed = time.perf_counter() - started
    peak = ""
    if trace_memory:
        peak = f", peak Python memory {tracemalloc.get_traced_memory()[1] / 2**20:,.1f} MiB (tracemalloc)"
        tracemalloc.stop()
    print(f"{label:<44} {elapsed:8.2f} s  {counter.count:>9,} queries{peak}")


def build(people: int, inactive: float, drift: float, now: datetime) -> None:
    from catalog.models import Application, GroupMembership, IdpGroup, Person, Role, RoleGroup
    from governance.models import Grant
    from provisioning.models import LocalMembership
    from reviews.models import ReclaimPolicy

    app = Application.objects.create(slug="wiki", name="Wiki", status="approved")
    group = IdpGroup.objects.create(connector="local", external_id="wiki-readers", name="wiki-readers")
    role = Role.objects.create(application=app, slug="reader", name="Reader")
    RoleGroup.objects.create(role=role, group=group)
    ReclaimPolicy.objects.create(application=app, threshold_days=90, grace_days=14, mode="enforce")
    every_inactive = max(round(1 / inactive), 1) if inactive else 0
    every_drift = max(round(1 / drift), 1) if drift else 0
    batch = 10_000
    for start in range(0, people, batch):
        rows = []
        for i in range(start, min(start + batch, people)):
            idle = 200 if every_inactive and i % every_inactive == 0 else 1 + i % 30
            rows.append(Person(email=f"p{i}@example.com", name=f"Person {i}", last_login_at=now - timedelta(days=idle)))
        created = Person.objects.bulk_create(rows, batch_size=2000)
        granted = [p for n, p in enumerate(created, start) if not (every_drift and (n // 7) % every_drift == 0)]
        Grant.objects.bulk_create(
            [Grant(person=p, role=role, status="active", starts_at=now - timedelta(days=365)) for p in granted],
            batch_size=2000,
        )
        GroupMembership.objects.bulk_create(
            [GroupMembership(person=p, group=group, origin="gatehouse", since=now) for p in created], batch_size=2000
        )
        LocalMembership.objects.bulk_create([LocalMembership(person=p, group=group) for p in created], batch_size=2000)


def main() -> None:
    args = parse()
    with tempfile.TemporaryDirectory() as tmp:
        setup_django(str(Path(tmp) / "bench.sqlite3"))
        import time_machine
        from django.conf import settings

        from reviews.models import ReclaimCase
        from reviews.reclaim.services import run_reclaim

        now = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
        settings.GATEHOUSE = {**settings.GATEHOUSE, "RECLAIM_MAX_REMOVALS_PER_RUN": args.cap}
        started = time.perf_counter()
        build(args.people, args.inactive, args.drift, now)
        print(
            f"Built {args.people:,} people × 1 app ({args.inactive:.0%} inactive, {args.drift:.0%} drift) "
            f"in {time.perf_counter() - started:.1f} s; database: {settings.DATABASES['default']['ENGINE']}"
        )

        with time_machine.travel(now, tick=False):
            with measured("1. first sweep (open + warn)"):
                summary = run_reclaim()
            print("   ", summary.lines()[0])
            with measured("2. second sweep, same day (nothing due)"):
                run_reclaim()
        with time_machine.travel(now + timedelta(days=15), tick=False):
            with measured("3. dry run after grace (reads only)", trace_memory=True):
                summary = run_reclaim(dry_run=True)
            with measured(f"4. removal sweep (cap {args.cap})"):
                summary = run_reclaim()
            print("   ", summary.lines()[0])
        warned = ReclaimCase.objects.filter(status="warned").count()
        reclaimed = ReclaimCase.objects.filter(outcome="reclaimed").count()
        print(f"Cases: {reclaimed:,} reclaimed, {warned:,} still warned (waiting for the next runs under the cap).")
        print(f"Process peak RSS: {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:,.0f} MiB")


if __name__ == "__main__":
    main()
