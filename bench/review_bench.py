"""Benchmark review campaigns: launch over people × applications, and one reviewer's page.

    .venv/bin/python bench/review_bench.py             # 10,000 people × 20 applications (~200,000 items)
    .venv/bin/python bench/review_bench.py --scale 0.1 # 1,000 people
    TEST_DATABASE_URL=postgres://… .venv/bin/python bench/review_bench.py  # on PostgreSQL

Runs on a throw-away test database (SQLite in memory by default). Prints numbers; asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django

django.setup()

from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from django.urls import NoReverseMatch, clear_url_caches, reverse  # noqa: E402
from django.utils import timezone  # noqa: E402

from bench._setup import PeakRss  # noqa: E402
from catalog.models import Application, GroupMembership, IdpGroup, Person, Role, RoleGroup  # noqa: E402
from governance.audit.services import Actor  # noqa: E402
from governance.models import Grant  # noqa: E402
from reviews.campaigns import services as campaigns  # noqa: E402
from reviews.models import ReviewCampaign  # noqa: E402

BATCH = 5000


def build_population(people: int, apps: int) -> tuple[list[Application], Person]:
    """`people` people (one manager per 10), `apps` applications with one role and one group each;
    everyone holds every application: 95% through a grant, 5% as provider drift."""
    now = timezone.now()
    Person.objects.bulk_create(
        [
            Person(email=f"mgr{i}@bench.example", name=f"Manager {i}", department="Mgmt")
            for i in range(people // 10 + 1)
        ],
        batch_size=BATCH,
    )
    managers = list(Person.objects.values_list("id", flat=True))
    fallback = Person.objects.create(email="it@bench.example", name="IT fallback", department="IT")
    Person.objects.bulk_create(
        [
            Person(
                email=f"p{i}@bench.example",
                name=f"Person {i}",
                manager_id=managers[i // 10],
                department=("Engineering", "Sales", "Support")[i % 3],
                title="Staff",
                status="suspended" if i % 97 == 0 else "active",
                last_login_at=now - timedelta(days=(i % 200)),
            )
            for i in range(people)
        ],
        batch_size=BATCH,
    )
    applications = []
    for a in range(apps):
        app = Application.objects.create(slug=f"app{a}", name=f"App {a}", status="approved", owner_id=managers[a])
        role = Role.objects.create(application=app, slug="user", name="User")
        group = IdpGroup.objects.create(connector="local", external_id=f"app{a}-users", name=f"app{a}-users")
        RoleGroup.objects.create(role=role, group=group)
        _insert_holders(role, group, a, now)
        applications.append(app)
    return applications, fallback


def _insert_holders(role: Role, group: IdpGroup, offset: int, now) -> None:
    """Everyone holds the application: one row in twenty is drift (in the group, no grant). Written with
    INSERT … SELECT: the ORM's bulk_create would make the setup, not the launch, dominate the run."""
    people = f"FROM {Person._meta.db_table} WHERE email LIKE 'p%%@bench.example'"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {Grant._meta.db_table} (person_id, role_id, status, starts_at, end_reason, created_at)"
            f" SELECT id, %s, 'active', %s, '', %s {people} AND (id + %s) %% 20 <> 0",
            [role.pk, now, now, offset],
        )
        cursor.execute(
            f"INSERT INTO {GroupMembership._meta.db_table} (person_id, group_id, origin, since)"
            f" SELECT id, %s, CASE WHEN (id + %s) %% 20 = 0 THEN 'external' ELSE 'gatehouse' END, %s {people}",
            [group.pk, offset, now],
        )


def new_campaign(name: str, apps: list[Application], fallback: Person, **extra) -> ReviewCampaign:
    now = timezone.now()
    campaign = ReviewCampaign.objects.create(
        name=name, starts_at=now, due_at=now + timedelta(days=14), fallback_reviewer=fallback, **extra
    )
    campaign.applications.set(apps)
    return campaign


def bench_launch(apps: list[Application], fallback: Person) -> None:
    campaign = new_campaign("timed", apps, fallback)
    with PeakRss() as rss:
        started, cpu = time.perf_counter(), time.process_time()
        campaign = campaigns.launch_campaign(campaign=campaign, actor=Actor.system("bench"))
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    print(
        f"launch: {campaign.snapshot_size:,} items in {elapsed:.1f} s wall, {cpu:.1f} s CPU"
        f" ({campaign.snapshot_size / elapsed:,.0f} items/s wall)"
    )
    print(f"        source: {campaign.snapshot_source}")
    print(
        f"        resident memory {rss.start:.0f} MiB before, peak {rss.peak:.0f} MiB (+{rss.peak - rss.start:.0f} MiB)"
    )


def bench_page(items: int) -> None:
    now = timezone.now()
    reviewer = Person.objects.create(email="reviewer@bench.example", name="Page Reviewer")
    fallback = Person.objects.get(email="it@bench.example")
    app = Application.objects.create(slug="page-app", name="Page App", status="approved")
    role = Role.objects.create(application=app, slug="user", name="User")
    group = IdpGroup.objects.create(connector="local", external_id="page-users", name="page-users")
    RoleGroup.objects.create(role=role, group=group)
    holders = list(Person.objects.filter(email__startswith="p").values_list("id", flat=True)[:items])
    Grant.objects.bulk_create([Grant(person_id=pid, role=role, status="active", starts_at=now) for pid in holders])
    campaign = new_campaign("page", [app], fallback, reviewer_strategy="named", named_reviewer=reviewer)
    campaign = campaigns.launch_campaign(campaign=campaign, actor=Actor.system("bench"))
    user = get_user_model().objects.create_user(username="reviewer", password="x")
    reviewer.user = user
    reviewer.save(update_fields=["user"])
    client = Client()
    client.force_login(user)
    url = reverse("reviews:campaign", args=[campaign.pk])
    client.get(url)  # warm up templates
    timings = []
    for _ in range(5):
        with CaptureQueriesContext(connection) as queries:
            started, cpu = time.perf_counter(), time.process_time()
            response = client.get(url)
            timings.append((time.perf_counter() - started, time.process_time() - cpu))
        assert response.status_code == 200, response.status_code
    timings.sort()
    print(
        f"reviewer page: {campaign.snapshot_size} items, median {timings[2][0] * 1000:.0f} ms server time"
        f" ({timings[2][1] * 1000:.0f} ms CPU),"
        f" {len(queries.captured_queries)} queries, {len(response.content) / 1024:.0f} KiB HTML"
    )


def use_reviews_urls() -> None:
    try:
        reverse("reviews:campaign", args=[1])
    except NoReverseMatch:  # until the project urls include reviews.urls
        settings.ROOT_URLCONF = "tests.browser.urls"
        clear_url_caches()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--scale", type=float, default=1.0, help="fraction of 10,000 people (default 1.0)")
    parser.add_argument("--apps", type=int, default=20)
    parser.add_argument("--page-items", type=int, default=500)
    args = parser.parse_args()
    people = max(int(10_000 * args.scale), args.page_items)
    setup_test_environment()
    # Enqueue reviewer emails to the ORM broker as production does (no inline sending). django-q
    # read its settings at start-up: setting Q_CLUSTER now would leave the tasks running inline.
    from django_q.conf import Conf

    Conf.SYNC = False
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    old = connection.creation.create_test_db(verbosity=0)
    try:
        use_reviews_urls()
        started = time.perf_counter()
        apps, fallback = build_population(people, args.apps)
        print(f"setup: {people:,} people × {args.apps} applications in {time.perf_counter() - started:.1f} s")
        print(f"database: {connection.vendor}")
        bench_launch(apps, fallback)
        bench_page(args.page_items)
    finally:
        connection.creation.destroy_test_db(old, verbosity=0)


if __name__ == "__main__":
    main()
