"""Benchmark evidence and insight over a year of data: N requests and 5N audit events.

    .venv/bin/python bench/evidence_bench.py --requests 100000                 # SQLite file
    TEST_DATABASE_URL=postgres://… .venv/bin/python bench/evidence_bench.py   # 1,000,000 on PostgreSQL

Builds the data set-based (bench/evidence_data.py: plain tuples streamed as COPY text on PostgreSQL,
`lib.bulk.insert_rows` on SQLite; the audit events sealed into the hash chain in time order by the
chain's own `seal`), then measures, each as server time
(median of a few runs) and SQL queries:
  1. the trace (`GET /api/v1/trace/`) of one person × one application, of one person, of one application;
  2. the admin home (the dashboard) for the default 30 days and for the year;
  3. the metrics API (`GET /api/v1/metrics/`) for 30 days and for the year;
  4. `manage.py export_evidence` of the year (csv) in its own process: time and that process's peak RSS;
  5. `verify_audit`'s chain walk, in events per second.
Runs on a throw-away test database. Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

RUNS = 3


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000, help="N requests (5N audit events); 1,000,000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--export-format", choices=("csv", "xlsx", "json"), default="csv")
    return parser.parse_args()


def timed_get(client, url: str, **headers) -> tuple[float, int, int, int]:
    """Median server time (s), queries, status and bytes of RUNS requests after one warm-up."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client.get(url, **headers)
    times = []
    for _ in range(RUNS):
        with CaptureQueriesContext(connection) as queries:
            started = time.perf_counter()
            response = client.get(url, **headers)
            times.append(time.perf_counter() - started)
    return statistics.median(times), len(queries.captured_queries), response.status_code, len(response.content)


def report(label: str, measured: tuple[float, int, int, int]) -> None:
    seconds, queries, status, size = measured
    print(f"{label:<52} {seconds * 1000:9.0f} ms  {queries:>4} queries  HTTP {status}  {size / 1024:,.0f} KiB")


def bench_pages(data, now) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from governance.services import Actor, create_api_token

    _, secret = create_api_token(name="bench", scopes="all", actor=Actor.system("bench"))
    api = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    client = Client()
    client.force_login(get_user_model().objects.create_superuser("bench", "bench@bench.example", "x"))
    year = f"from={data.first_request:%Y-%m-%d}&to={now:%Y-%m-%d}"
    person, app = data.sample_person, data.sample_application
    report(f"trace {person} × {app}", timed_get(client, f"/api/v1/trace/?person={person}&application={app}", **api))
    report(f"trace {person} (every application)", timed_get(client, f"/api/v1/trace/?person={person}", **api))
    report(f"trace {app} (everyone, first page of 200)", timed_get(client, f"/api/v1/trace/?application={app}", **api))
    report("admin home (dashboard), last 30 days", timed_get(client, "/admin/"))
    report("admin home (dashboard), the year", timed_get(client, f"/admin/?{year}"))
    report("metrics API, last 30 days", timed_get(client, "/api/v1/metrics/", **api))
    report("metrics API, the year", timed_get(client, f"/api/v1/metrics/?{year}", **api))


def _database_url() -> str:
    """The URL of the test database this run writes to (for the export command's own process)."""
    from django.db import connection

    db = connection.settings_dict
    if connection.vendor == "postgresql":
        return f"postgres://{db['USER']}:{db['PASSWORD'] or ''}@{db['HOST']}:{db['PORT']}/{db['NAME']}"
    return f"sqlite:///{db['NAME']}"


def bench_export(data, now, file_format: str) -> None:
    """`manage.py export_evidence` of the year in its own process: wall time and that process's peak RSS."""
    from django.db import connection

    connection.close()  # the child reads what this process committed
    target = Path(tempfile.mkdtemp(prefix="gatehouse-evidence-"))
    output = target if file_format == "csv" else target / f"evidence.{file_format}"
    command = [
        sys.executable,
        str(ROOT / "manage.py"),
        "export_evidence",
        "--settings=tests.settings",
        f"--from={data.first_request:%Y-%m-%d}",
        f"--to={now:%Y-%m-%d}",
        f"--format={file_format}",
        f"-o={output}",
    ]
    env = {**os.environ, "TEST_DATABASE_URL": _database_url()}
    started = time.perf_counter()
    finished = subprocess.run(command, env=env, cwd=ROOT, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    if finished.returncode:
        print(f"export_evidence failed: {finished.stderr.strip()[-2000:]}")
        return
    rows = [line for line in finished.stdout.splitlines() if line.endswith(" rows")]
    size = sum(path.stat().st_size for path in target.rglob("*") if path.is_file())
    print(
        f"{f'manage.py export_evidence, the year ({file_format})':<52} {elapsed:9.1f} s   peak RSS {peak_mib:,.0f} MiB"
    )
    print(f"    {'; '.join(rows)}; {size / 2**20:,.1f} MiB written (process start-up included)")
    shutil.rmtree(target)


def bench_verify() -> None:
    from governance.audit.chain import verify_chain

    started = time.perf_counter()
    result = verify_chain()
    elapsed = time.perf_counter() - started
    state = "intact" if result.broken is None else f"BROKEN at {result.broken}"
    print(
        f"{'verify_audit (the chain walk)':<52} {elapsed:9.1f} s   {result.checked:,} events {state}, "
        f"{result.checked / elapsed:,.0f} events/s"
    )


def main() -> None:
    args = parse()
    import django

    django.setup()
    import logging

    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    from bench.evidence_data import generate

    logging.disable(logging.WARNING)
    setup_test_environment()
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    old = connection.creation.create_test_db(verbosity=0)
    try:
        print(f"database: {connection.vendor}; N = {args.requests:,} requests, {5 * args.requests:,} audit events")
        now = timezone.now().replace(microsecond=0)
        started = time.perf_counter()
        data = generate(
            args.requests,
            now=now,
            seed=args.seed,
            progress=lambda done: print(f"  {done:,} requests written, {time.perf_counter() - started:,.0f} s"),
        )
        elapsed = time.perf_counter() - started
        print(
            f"generated in {elapsed:,.0f} s: {data.requests:,} requests ({data.counts}), {data.grants:,} grants, "
            f"{data.events:,} audit events, {data.people:,} people, {data.applications} applications "
            f"({data.events / elapsed:,.0f} events/s)"
        )
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        bench_pages(data, now)
        bench_export(data, now, args.export_format)
        bench_verify()
    finally:
        connection.creation.destroy_test_db(old, verbosity=0)


if __name__ == "__main__":
    main()
