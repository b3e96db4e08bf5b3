"""Push a burst of membership changes through the outbox to the Okta emulator under a rate limit.

    /work/main/.venv/bin/python bench/okta_membership_burst.py [--changes 2000] [--requests-per-minute 4000]

The emulator allows N requests per calendar minute and answers 429 (with X-Rate-Limit-Reset)
beyond that, as Okta does. Changes run inline (django-q2 sync mode, one worker) through the real
`okta` SDK. Prints the achieved request rate as a fraction of N, the outcome of every change,
the wall time and the HTTP calls. It reports; it asserts nothing about time.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")
os.environ["DATABASE_URL"] = "sqlite:///:memory:"  # never touch a real database
os.environ["OKTA_TESTING_TESTINGDISABLEHTTPSCHECK"] = "true"  # the emulator speaks http on loopback
os.environ.setdefault("LOG_LEVEL", "WARNING")  # django-q logs every inline task at INFO

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from catalog.models import IdpGroup, Person  # noqa: E402
from provisioning import services  # noqa: E402
from provisioning.connectors import connector_for  # noqa: E402
from provisioning.models import MembershipChange  # noqa: E402
from tests.emulators.okta import OktaEmulator  # noqa: E402

TOKEN = "bench-token"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--changes", type=int, default=2000, help="membership changes to push (default 2000)")
    parser.add_argument("--groups", type=int, default=20, help="Okta groups the changes spread over")
    parser.add_argument("--requests-per-minute", type=int, default=3500, help="the emulator's budget N")
    parser.add_argument(
        "--sdk-retries", type=int, default=1, help="OKTA_RATE_LIMIT_MAX_RETRIES (0: every 429 goes back to the outbox)"
    )
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


def drain(deadline_seconds: float = 600) -> None:
    """Run the periodic sweep until no change is open (retries wait for their next_attempt_at)."""
    started = time.monotonic()
    while MembershipChange.objects.filter(status__in=MembershipChange.OPEN).exists():
        if time.monotonic() - started > deadline_seconds:
            print("gave up waiting for open changes", file=sys.stderr)
            return
        due = MembershipChange.objects.filter(status=MembershipChange.Status.QUEUED).order_by("next_attempt_at").first()
        if due is not None:
            wait = (due.next_attempt_at - timezone.now()).total_seconds()
            if wait > 0:
                time.sleep(min(wait, 5))
        services.recover_changes()


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

    started = time.monotonic()
    for person, group, action in plan:
        services.queue_change(action=action, person=person, group=group)  # autocommit: executes inline at once
    drain()
    wall = time.monotonic() - started

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
    print(f"budget N:              {args.requests_per_minute} requests/minute")
    print(f"achieved rate:         {rate:.0f} requests/minute = {rate / args.requests_per_minute:.2f} of N")
    print(f"calls per change:      {served / len(plan):.2f}")


if __name__ == "__main__":
    main()
