"""Shared start-up for benchmarks: a throwaway database, migrated, and a query counter."""

from __future__ import annotations

import os
import sys
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def django_up(database_url: str | None = None, *, inline_tasks: bool = True) -> str:
    """Point Django at `database_url` (default: a new SQLite file), migrate, and return the URL.
    With inline_tasks, tasks run in this process; otherwise they go to the broker (start a cluster)."""
    if not database_url:
        database_url = f"sqlite:///{tempfile.mkdtemp(prefix='gatehouse-bench-')}/bench.sqlite3"
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("GATEHOUSE_DEV_DEFAULTS", "true")
    os.environ["Q_SYNC"] = "true" if inline_tasks else "false"
    os.environ.setdefault("LOG_LEVEL", "WARNING")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)
    return database_url


class QueryCounter:
    def __init__(self) -> None:
        self.count = 0
        self._lock = threading.Lock()

    def __call__(self, execute, sql, params, many, context):
        with self._lock:
            self.count += 1
        return execute(sql, params, many, context)


@contextmanager
def counting_queries():
    from django.db import connection

    counter = QueryCounter()
    with connection.execute_wrapper(counter):
        yield counter


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return 0.0
    index = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[index]


@contextmanager
def task_cluster(workers: int = 2):
    """A real `manage.py qcluster` on the same database, stopped on exit."""
    import signal
    import subprocess

    env = {**os.environ, "Q_WORKERS": str(workers), "LOG_LEVEL": "WARNING"}
    process = subprocess.Popen(
        [sys.executable, str(ROOT / "manage.py"), "qcluster"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()


def _cpu_of(pid: int) -> float:
    """User + system CPU seconds a live process has used (0 if it is gone)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    parent = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
            tree.setdefault(parent, []).append(int(entry))
    return tree


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds used by a process and every live descendant (a qcluster and its workers, a
    PostgreSQL server and its backends): compare two readings to cost a stretch of work."""
    tree, total, todo = _children(), 0.0, [pid]
    while todo:
        current = todo.pop()
        total += _cpu_of(current)
        todo.extend(tree.get(current, []))
    return total


def _rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class PeakRss:
    """Samples the process's resident memory every 20 ms (cheap, unlike tracemalloc)."""

    def __enter__(self) -> PeakRss:
        self.start = self.peak = _rss_mib()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_mib())

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, _rss_mib())


def bench_role(external_id: str = "bench-users", connector: str = "local"):
    """One application ("bench") whose one role ("user") maps to one group; returns (role, group)."""
    from catalog.models import Application, IdpGroup, Role, RoleGroup

    app = Application.objects.create(slug="bench", name="Bench", status="approved", risk_tier="low")
    role = Role.objects.create(application=app, slug="user", name="User")
    name = external_id if connector == "local" else "bench-users"
    group = IdpGroup.objects.create(connector=connector, external_id=external_id, name=name)
    RoleGroup.objects.create(role=role, group=group)
    return role, group


def active_grants(role, people: list, *, first_expiry, spread_seconds: float) -> list:
    """Active one-hour grants of `role` for `people`, ending evenly over `spread_seconds` from `first_expiry`."""
    from datetime import timedelta

    from django.utils import timezone

    from governance.models import Grant

    count, started = len(people), timezone.now() - timedelta(hours=1)
    return Grant.objects.bulk_create(
        [
            Grant(
                person=person,
                role=role,
                status="active",
                duration=timedelta(hours=1),
                starts_at=started,
                expires_at=first_expiry + timedelta(seconds=spread_seconds * index / count),
            )
            for index, person in enumerate(people)
        ],
        batch_size=2000,
    )
