"""Full directory sync at scale: 20,000 users, 2,000 groups (50 mapped to roles, 100 members each).

The provider is an in-process fake behind the connector interface (tests/fake_directory.py), paged
200 items per call like a real API, with optional added latency per call. Runs a first sync (all
new), a second one (nothing changed: must write nothing), a third after a few changes, and a
fourth full pass over the unchanged directory. The provider's connector module (and its SDK) is
loaded before the first sync and its load time printed: a worker process loads it once.
Providers that list changes (Okta, Entra) make the second and third incremental
(GATEHOUSE_SYNC_FULL_EVERY_HOURS); members of mapped groups are read GATEHOUSE_SYNC_CONCURRENCY at
a time where the connector can (full passes start them before the users listing).
Prints wall time, CPU time, connector calls, database queries (and writes) and peak Python memory
(tracemalloc; --no-tracemalloc leaves it off, as it slows Python down a lot) for each. Nothing is
asserted on time.

    .venv/bin/python bench/sync_bench.py [--users 20000] [--groups 2000] [--mapped 50] [--members 100]
                                         [--latency-ms 0] [--database-url postgres://…]
                                         [--okta | --google | --entra] [--no-tracemalloc]
                                         [--first-only] [--profile FILE]

With --okta the provider is the Okta wire emulator (tests/emulators/okta.py) on 127.0.0.1, read
through the real `okta` SDK with --latency-ms added to every HTTP request; "connector calls" are
then the HTTP requests the emulator received. With --google it is the Directory API emulator
(tests/emulators/google.py), read through google-api-python-client with a service account token
from the emulator's token endpoint, pages of 500 users and 200 groups/members, and the connector's
default pace of 1,200 requests a minute. With --entra it is the Graph emulator (tests/emulators/graph.py)
read through msgraph-sdk: full passes list users with last sign-in (pages of 500) and start delta
tracking, resyncs follow the stored `/users/delta` and `/groups/delta` links.
"""

from __future__ import annotations

import argparse
import cProfile
import importlib
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def django_up(database_url: str | None) -> None:
    if not database_url:
        database_url = f"sqlite:///{tempfile.mkdtemp(prefix='gatehouse-bench-')}/bench.sqlite3"
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("GATEHOUSE_DEV_DEFAULTS", "true")
    os.environ.setdefault("Q_SYNC", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "governance.settings")
    import django
    from django.core.management import call_command

    django.setup()
    call_command("migrate", verbosity=0)


def build_provider(args):
    from tests.fake_directory import FakeDirectory

    d = FakeDirectory("benchidp", latency=args.latency_ms / 1000, page_size=200)
    for i in range(args.users):
        d.user(
            f"00u{i:06d}",
            f"user{i}@bench.example",
            f"User {i}",
            manager_email=f"user{i // 8}@bench.example" if i else None,
            department=f"Dept {i % 40}",
            title=f"Title {i % 25}",
        )
    for g in range(args.groups):
        members = [f"00u{(g * 37 + k * 13) % args.users:06d}" for k in range(args.members)] if g < args.mapped else []
        d.group(f"00g{g:05d}", f"group-{g}", *members)
    for a in range(20):
        d.app(f"0oa{a:03d}", f"Bench app {a}", f"00g{a:05d}")
    return d.install()


class OktaProvider:
    """The same directory, served by the Okta emulator and read through the real SDK."""

    name = "okta"

    def __init__(self, args) -> None:
        from tests.emulators.okta import OktaEmulator

        os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"  # plain http on loopback only
        self.emulator = OktaEmulator("bench-token").start()  # pages of 200, as Okta serves users
        self.emulator.latency = args.latency_ms / 1000
        ids = [
            self.emulator.add_user(
                f"user{i}@bench.example", "User", str(i), department=f"Dept {i % 40}", title=f"Title {i % 25}"
            )
            for i in range(args.users)
        ]
        for i, user_id in enumerate(ids[1:], start=1):
            self.emulator.users[user_id]["profile"]["managerId"] = ids[i // 8]
        self.user_ids = ids
        self.group_ids = [self.emulator.add_group(f"group-{g}") for g in range(args.groups)]
        for g in range(args.mapped):
            for k in range(args.members):
                self.emulator.add_member(self.group_ids[g], ids[(g * 37 + k * 13) % args.users])
        for a in range(20):
            self.emulator.add_app(f"Bench app {a}", [self.group_ids[a]])
        self.emulator.settle()  # the org was set up long before the first sync
        from django.conf import settings

        settings.OKTA = {**settings.OKTA, "ORG_URL": self.emulator.base_url, "API_TOKEN": "bench-token"}

    @property
    def calls(self):
        return _EmulatorCalls(self.emulator)

    def change_a_little(self, users: int) -> None:
        """As an admin would: Okta moves `lastUpdated` / `lastMembershipUpdated`."""
        for i in range(0, users, 100):
            self.emulator.update_user(self.user_ids[i], title="Promoted")
        group = self.group_ids[0]
        self.emulator.remove_member(group, next(iter(self.emulator.members[group])))


class GoogleProvider:
    """The same directory, served by the Directory API emulator and read through google-api-python-client."""

    name = "google"

    def __init__(self, args) -> None:
        from django.conf import settings

        from tests.emulators.google import GoogleDirectoryEmulator
        from tests.google_workspace import configure

        self.emulator = GoogleDirectoryEmulator(domain="bench.example").start()
        self.emulator.latency = args.latency_ms / 1000
        ids = [
            self.emulator.add_user(
                f"user{i}@bench.example",
                "User",
                str(i),
                department=f"Dept {i % 40}",
                title=f"Title {i % 25}",
                manager=f"user{i // 8}@bench.example" if i else None,
                last_login="2026-11-01T09:30:00.000Z",
            )
            for i in range(args.users)
        ]
        self.user_ids = ids
        emails = [f"group-{g}@bench.example" for g in range(args.groups)]
        self.group_keys = [self.emulator.add_group(email) for email in emails]
        self.group_ids = emails  # Gatehouse keys Google groups by their address
        for g in range(args.mapped):
            for k in range(args.members):
                self.emulator.add_member(self.group_keys[g], ids[(g * 37 + k * 13) % args.users])
        configure(settings, self.emulator, Path(tempfile.mkdtemp(prefix="gatehouse-bench-")))
        settings.GOOGLE.update(TIMEOUT_SECONDS=30.0, MAX_REQUESTS_PER_MINUTE=1200)

    @property
    def calls(self):
        return _EmulatorCalls(self.emulator)

    def change_a_little(self, users: int) -> None:
        for i in range(0, users, 100):
            self.emulator.users[self.user_ids[i]]["organizations"][0]["title"] = "Promoted"
        members = self.emulator.members[self.group_keys[0]]
        members.pop(next(iter(members)))


class EntraProvider:
    """The same directory, served by the Graph emulator and read through the real msgraph-sdk;
    resyncs follow Graph delta links (`/users/delta`, `/groups/delta`)."""

    name = "entra"

    def __init__(self, args) -> None:
        import uuid

        from provisioning.connectors import register
        from provisioning.connectors.entra.connector import EntraConnector
        from tests.emulators.graph import GraphEmulator, StaticTokenCredential

        self.emulator = GraphEmulator().start()
        self.emulator.latency = args.latency_ms / 1000
        users = []
        for i in range(args.users):
            manager = users[i // 8] if i else None
            users.append(
                self.emulator.add_user(
                    f"user{i}@bench.example",
                    f"User {i}",
                    manager=manager,
                    department=f"Dept {i % 40}",
                    jobTitle=f"Title {i % 25}",
                    last_sign_in="2026-11-01T09:30:00Z",
                )
            )
        self.users = users
        groups = []
        for g in range(args.groups):
            members = [users[(g * 37 + k * 13) % args.users] for k in range(args.members)] if g < args.mapped else []
            groups.append(self.emulator.add_group(f"group-{g}", *members))
        for a in range(20):
            self.emulator.add_service_principal(f"Bench app {a}", groups[a])
        self.groups = groups
        self.group_ids = [group.id for group in groups]
        base_url = f"{self.emulator.base_url}/v1.0"
        register(
            "entra",
            lambda: EntraConnector(credential=StaticTokenCredential(), tenant_id=str(uuid.uuid4()), base_url=base_url),
        )

    @property
    def calls(self):
        return _EmulatorCalls(self.emulator)

    def change_a_little(self, users: int) -> None:
        for i in range(0, users, 100):
            self.users[i].jobTitle = "Promoted"
        self.groups[0].members.pop()


class _EmulatorCalls(dict):
    def __init__(self, emulator) -> None:
        super().__init__()
        self.emulator = emulator
        for call in emulator.calls:
            key = "/".join("{id}" if _is_id(part) else part for part in call.path.split("/"))
            self[key] = self.get(key, 0) + 1

    def clear(self) -> None:
        self.emulator.calls.clear()
        self.emulator.max_in_flight = 0


def _is_id(part: str) -> bool:
    """An Okta id (00u…, 00g…, 0oa…), a Google group address or a Graph object id in a request path."""
    return part[:3] in ("00u", "00g", "0oa") or "%40" in part or (len(part) == 36 and part.count("-") == 4)


def map_groups(args, connector: str = "benchidp", external_ids: list[str] | None = None) -> None:
    """IT has mapped `mapped` groups to roles before the sync (groups created ahead, as an admin would)."""
    from catalog.models import Application, IdpGroup, Role, RoleGroup

    app = Application.objects.create(slug="bench", name="Bench", status="approved")
    ids = external_ids or [f"00g{g:05d}" for g in range(args.mapped)]
    groups = IdpGroup.objects.bulk_create(
        [IdpGroup(connector=connector, external_id=ids[g], name=f"group-{g}") for g in range(args.mapped)]
    )
    roles = Role.objects.bulk_create([Role(application=app, slug=f"r{g}", name=f"R {g}") for g in range(args.mapped)])
    RoleGroup.objects.bulk_create([RoleGroup(role=r, group=g) for r, g in zip(roles, groups, strict=True)])


def measure(label: str, provider, *, full: bool = False, trace_memory: bool = True, profile: str = "") -> None:
    from django.db import connection

    from provisioning.sync.services import sync_directory

    statements: list[str] = []

    def count(execute, sql, params, many, context):
        statements.append(sql.lstrip()[:6].upper())
        return execute(sql, params, many, context)

    provider.calls.clear()
    if trace_memory:
        tracemalloc.start()
    profiler = cProfile.Profile() if profile else None
    started = time.perf_counter()
    cpu_started = time.process_time()
    with connection.execute_wrapper(count):
        if profiler is not None:
            profiler.enable()
        run = sync_directory(provider.name, full=full)
        if profiler is not None:
            profiler.disable()
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_started
    peak = tracemalloc.get_traced_memory()[1] if trace_memory else None
    if trace_memory:
        tracemalloc.stop()
    if profiler is not None:
        profiler.dump_stats(profile)
    writes = sum(s in ("INSERT", "UPDATE", "DELETE") for s in statements)
    print(f"\n{label}: {run.status} ({run.kind}) {run.error}")
    note = "tracemalloc on: slower than without" if trace_memory else "tracemalloc off"
    print(f"  wall time        {wall:8.2f} s ({note})")
    print(f"  CPU time         {cpu:8.2f} s (this process: Gatehouse, the SDK and the in-process emulator)")
    calls = provider.calls
    print(f"  connector calls  {sum(calls.values()):8d}  {dict(calls)}")
    if hasattr(calls, "emulator"):
        print(f"  most in flight   {calls.emulator.max_in_flight:8d}  (requests the emulator answered at once)")
    print(f"  database queries {len(statements):8d}  (writes {writes}, incl. the SyncRun row)")
    if peak is not None:
        print(f"  peak memory      {peak / 1e6:8.1f} MB")
    print(
        f"  run: created {run.created}, updated {run.updated}, deactivated {run.deactivated}, groups {run.groups}, "
        f"memberships {run.memberships}, applications {run.applications}, errors {run.errors}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=20_000)
    parser.add_argument("--groups", type=int, default=2_000)
    parser.add_argument("--mapped", type=int, default=50)
    parser.add_argument("--members", type=int, default=100)
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every connector page call")
    parser.add_argument("--database-url", default=None)
    emulated = parser.add_mutually_exclusive_group()
    emulated.add_argument("--okta", action="store_true", help="read through the okta SDK from the Okta emulator")
    emulated.add_argument(
        "--google", action="store_true", help="read through google-api-python-client from the Directory API emulator"
    )
    emulated.add_argument("--entra", action="store_true", help="read through msgraph-sdk from the Graph emulator")
    parser.add_argument(
        "--no-tracemalloc", action="store_true", help="do not trace memory (tracemalloc slows Python down a lot)"
    )
    parser.add_argument("--profile", default="", help="write a cProfile of the first sync to this file")
    parser.add_argument("--first-only", action="store_true", help="run only the first (full) sync")
    args = parser.parse_args()
    django_up(args.database_url)
    if args.okta or args.google or args.entra:
        provider = OktaProvider(args) if args.okta else GoogleProvider(args) if args.google else EntraProvider(args)
        map_groups(args, provider.name, provider.group_ids)
    else:
        provider = build_provider(args)
        map_groups(args)
    print(
        f"{args.users} users, {args.groups} groups ({args.mapped} mapped x {args.members} members), "
        f"latency {args.latency_ms} ms per call"
    )
    trace = not args.no_tracemalloc
    if provider.name in ("okta", "entra", "google"):
        started = time.perf_counter()
        importlib.import_module(f"provisioning.connectors.{provider.name}.connector")
        print(
            f"loading the {provider.name} connector and its SDK: {time.perf_counter() - started:.2f} s "
            "(once per process, as a worker would have; not in the timed syncs)"
        )
    measure("first sync (everything new)", provider, trace_memory=trace, profile=args.profile)
    if args.first_only:
        return
    measure("second sync (nothing changed)", provider, trace_memory=trace)
    if args.okta or args.google or args.entra:
        provider.change_a_little(args.users)
    else:
        for i in range(0, args.users, 100):  # 1% of people change title; one mapped group loses a member
            provider.users[f"00u{i:06d}"].title = "Promoted"
        provider.members["00g00000"].pop()
    measure("third sync (1% changed)", provider, trace_memory=trace)
    measure("fourth sync (nothing changed, full pass forced)", provider, full=True, trace_memory=trace)


if __name__ == "__main__":
    main()
