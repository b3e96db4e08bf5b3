"""How long until leavers lose everything? A sync that offboards N people holding G grants each.

Builds N people with G active grants each (one group per role, memberships in place, via bulk
inserts), lets lifecycle see everyone once, then the directory deprovisions all N at once: the local
directory (people marked deprovisioned, as the admin would) or the Okta emulator (users set to
DEPROVISIONED there, then the scheduled sync task). Prints the time of the pass that revokes every
grant and queues every removal (its queries per grant), and the time until the provider confirmed
the last removal and every offboarding record is complete. A real task cluster (`manage.py
qcluster`, --workers) executes the removals, as in production.

    .venv/bin/python bench/lifecycle_bench.py [--people 500] [--grants 10] [--okta] [--database-url …]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import timedelta

from _setup import counting_queries, django_up, task_cluster

TOKEN = "bench-token"


def build(people: int, per_person: int, connector: str, external_ids: list[str], group_ids: list[str]) -> None:
    from django.utils import timezone

    from catalog.models import Application, GroupMembership, IdpGroup, Person, Role, RoleGroup
    from governance.models import Grant
    from provisioning.models import LocalMembership, MembershipChange

    now = timezone.now()
    app = Application.objects.create(slug="bench", name="Bench", status="approved", risk_tier="low")
    roles = Role.objects.bulk_create([Role(application=app, slug=f"r{g}", name=f"R {g}") for g in range(per_person)])
    groups = IdpGroup.objects.bulk_create(
        [IdpGroup(connector=connector, external_id=group_ids[g], name=f"bench-{g}") for g in range(per_person)]
    )
    RoleGroup.objects.bulk_create([RoleGroup(role=r, group=g) for r, g in zip(roles, groups, strict=True)])
    folks = Person.objects.bulk_create(
        [
            Person(
                email=f"p{i}@bench.example",
                name=f"P {i}",
                department="Bench",
                directory=connector,
                external_id=external_ids[i] if connector != "local" else "",
            )
            for i in range(people)
        ],
        batch_size=2000,
    )
    grants = Grant.objects.bulk_create(
        [Grant(person=p, role=r, status="active", starts_at=now - timedelta(days=1)) for p in folks for r in roles],
        batch_size=2000,
    )
    group_of = {r.pk: g for r, g in zip(roles, groups, strict=True)}
    MembershipChange.objects.bulk_create(
        [
            MembershipChange(
                action="add",
                person_id=g.person_id,
                group=group_of[g.role_id],
                grant=g,
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
    GroupMembership.objects.bulk_create(
        [GroupMembership(person=p, group=g, origin="gatehouse", since=now) for p in folks for g in groups],
        batch_size=2000,
    )
    if connector == "local":
        LocalMembership.objects.bulk_create([LocalMembership(person=p, group=g) for p in folks for g in groups])


def okta_directory(people: int, groups: int):
    from tests.emulators.okta import OktaEmulator

    os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"  # plain http on loopback only
    emulator = OktaEmulator(TOKEN).start()
    users = [emulator.add_user(f"p{i}@bench.example", "P", str(i), department="Bench") for i in range(people)]
    group_ids = [emulator.add_group(f"bench-{g}") for g in range(groups)]
    for group_id in group_ids:
        for user_id in users:
            emulator.add_member(group_id, user_id)
    return emulator, users, group_ids


def wait_confirmed(deadline_seconds: float) -> float:
    """Seconds until every grant's removal is confirmed and every offboarding complete. The outbox's
    recovery sweep runs once a minute, as its schedule does in production (it picks up changes a
    worker gave back, e.g. on SQLite's "database is locked")."""
    from governance.lifecycle.leavers import confirm_offboardings
    from governance.models import Grant, Offboarding
    from provisioning.outbox.services import recover_changes

    started = swept = time.monotonic()
    while time.monotonic() - started < deadline_seconds:
        if not Grant.objects.filter(removed_at__isnull=True).exists():
            confirm_offboardings()
            if not Offboarding.objects.exclude(status="completed").exists():
                return time.monotonic() - started
        if time.monotonic() - swept >= 60:
            recover_changes()
            swept = time.monotonic()
        time.sleep(0.5)
    raise SystemExit(f"not confirmed within {deadline_seconds:.0f}s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--people", type=int, default=500)
    parser.add_argument("--grants", type=int, default=10, help="grants (and groups) per person")
    parser.add_argument("--okta", action="store_true", help="through the Okta emulator and the real SDK")
    parser.add_argument("--workers", type=int, default=2, help="task cluster workers")
    parser.add_argument("--database-url", default=None, help="default: a new SQLite file")
    args = parser.parse_args()
    os.environ["GATEHOUSE_LEAVER_MAX_PER_RUN"] = str(args.people)  # the cap is tested elsewhere
    emulator, users, group_ids = None, [], [f"bench-{g}" for g in range(args.grants)]
    if args.okta:
        emulator, users, group_ids = okta_directory(args.people, args.grants)
        os.environ.update({"OKTA_ORG_URL": emulator.base_url, "OKTA_API_TOKEN": TOKEN})
    url = django_up(args.database_url, inline_tasks=False)
    build(args.people, args.grants, "okta" if args.okta else "local", users, group_ids)

    from catalog.models import Person
    from governance.lifecycle.services import run_lifecycle
    from governance.models import Grant
    from governance.tasks import sync_directories_and_detect_drift

    run_lifecycle()  # lifecycle has seen everyone once
    total = args.people * args.grants
    where = "Okta emulator" if args.okta else "local directory"
    print(
        f"database: {url.split('@')[-1]}  {args.people} people x {args.grants} grants = {total}  via {where}",
        flush=True,
    )
    with task_cluster(args.workers):
        time.sleep(3)  # let the cluster start
        if args.okta:
            for user_id in users:
                emulator.users[user_id]["status"] = "DEPROVISIONED"
        else:
            Person.objects.update(status="deprovisioned")
        started = time.monotonic()
        with counting_queries() as counter:
            result = sync_directories_and_detect_drift() if args.okta else {"lifecycle": run_lifecycle().line()}
        revoke = time.monotonic() - started
        revoked = Grant.objects.filter(status="revoked").count()
        confirmed = revoke + wait_confirmed(1800)
    print(f"lifecycle: {result['lifecycle']}")
    print(
        f"revoked {revoked}/{total} grants, removals queued: {revoke:.1f}s  ({counter.count / total:.2f} queries/grant)"
    )
    print(f"last removal confirmed by the provider, every record complete: {confirmed:.1f}s after the sync started")
    if emulator is not None:
        left = sum(len(emulator.member_ids(g)) for g in group_ids)
        print(f"memberships left in the Okta emulator: {left}")
        emulator.stop()


if __name__ == "__main__":
    main()
