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
  4. `manage.py export_evidence` of the year (csv) in its own process: time and that process's own
     peak RSS (bench/peak_rss.py: its VmHWM, not the inherited `ru_maxrss`);
  5. `verify_audit`'s chain walk, in events per second.
Runs on a throw-away test database. Prints numbers; asserts nothing. With `--reuse` the test
database is kept after the run, and a later run with `--reuse` and the same `--requests` measures
the data already there (after applying any new migrations) instead of generating it again.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

from bench.peak_rss import run_measured  # noqa: E402  (after the path set-up above)

RUNS = 3


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1_000_000, help="N requests (5N audit events); 1,000,000")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--export-format", choices=("csv", "xlsx", "json"), default="csv")
    parser.add_argument(
        "--reuse",
        action="store_true",
        help="keep the test database, and measure the data a previous --reuse run of this size left there",
    )
    parser.add_argument("--only-metrics", action="store_true", help="measure only the dashboard and the metrics API")
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


def bench_pages(data, now, *, traces: bool = True) -> None:
    from django.contrib.auth import get_user_model
    from django.test import Client

    from governance.services import Actor, create_api_token

    stamp = f"{time.time():.0f}"  # a database kept by --reuse already holds earlier runs' tokens
    _, secret = create_api_token(name=f"bench {stamp}", scopes="all", actor=Actor.system("bench"))
    api = {"HTTP_AUTHORIZATION": f"Bearer {secret}"}
    client = Client()
    user_model = get_user_model()
    admin = user_model.objects.filter(username="bench").first()
    client.force_login(admin or user_model.objects.create_superuser("bench", "bench@bench.example", "x"))
    year = f"from={data.first_request:%Y-%m-%d}&to={now:%Y-%m-%d}"
    person, app = data.sample_person, data.sample_application
    if traces:
        trace = "/api/v1/trace/"
        report(f"trace {person} × {app}", timed_get(client, f"{trace}?person={person}&application={app}", **api))
        report(f"trace {person} (every application)", timed_get(client, f"{trace}?person={person}", **api))
        report(f"trace {app} (everyone, first page of 200)", timed_get(client, f"{trace}?application={app}", **api))
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
    arguments = [
        "export_evidence",
        "--settings=tests.settings",
        f"--from={data.first_request:%Y-%m-%d}",
        f"--to={now:%Y-%m-%d}",
        f"--format={file_format}",
        f"-o={output}",
    ]
    env = {**os.environ, "TEST_DATABASE_URL": _database_url()}
    started = time.perf_counter()
    finished, peak_mib = run_measured(ROOT / "manage.py", *arguments, env=env, cwd=ROOT)
    elapsed = time.perf_counter() - started
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


def generated_before(requests: int):
    """What a previous `--reuse` run of this size left in the test database, or None."""
    from django.db.models import Count, Min

    from bench.evidence_data import Generated
    from catalog.models import Application, Person
    from governance.models import AccessRequest, AuditEvent, Grant

    found = AccessRequest.objects.count()
    if found == 0:
        return None
    if found != requests:
        raise SystemExit(f"the kept test database holds {found:,} requests, not {requests:,}: drop it first")
    sample = (
        AccessRequest.objects.filter(status="fulfilled")
        .order_by("-id")
        .values_list("beneficiary__email", "application__slug")
        .first()
    )
    first = AccessRequest.objects.aggregate(first=Min("created_at"))["first"]
    return Generated(
        requests=requests,
        grants=Grant.objects.count(),
        events=AuditEvent.objects.count(),
        people=Person.objects.count(),
        applications=Application.objects.count(),
        sample_person=sample[0] if sample else "",
        sample_application=sample[1] if sample else "",
        first_request=first.replace(hour=0, minute=0, second=0, microsecond=0),
        counts=dict(AccessRequest.objects.values_list("status").annotate(n=Count("id")).order_by()),
    )


def generate_data(args, now):
    from bench.evidence_data import generate

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
    return data


def main() -> None:
    args = parse()
    import django

    django.setup()
    import logging

    from django.conf import settings
    from django.db import connection
    from django.test.utils import setup_test_environment
    from django.utils import timezone

    logging.disable(logging.WARNING)
    setup_test_environment()
    settings.Q_CLUSTER = {**settings.Q_CLUSTER, "sync": False}
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    old = connection.creation.create_test_db(verbosity=0, keepdb=args.reuse, serialize=False)
    try:
        print(f"database: {connection.vendor}; N = {args.requests:,} requests, {5 * args.requests:,} audit events")
        now = timezone.now().replace(microsecond=0)
        data = generated_before(args.requests) if args.reuse else None
        if data:
            print(f"reusing the data of a previous run: {data.requests:,} requests, {data.events:,} audit events")
        else:
            data = generate_data(args, now)
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("ANALYZE")
        bench_pages(data, now, traces=not args.only_metrics)
        if not args.only_metrics:
            bench_export(data, now, args.export_format)
            bench_verify()
    finally:
        if not args.reuse:
            connection.creation.destroy_test_db(old, verbosity=0)


if __name__ == "__main__":
    main()
