"""The product side of the production scenario, run as `python -m tests.production_scenario <step>`
in a subprocess with the product's settings (environment from tests/test_production_scenario.py).

Steps: `seed` writes the catalog (people as the Okta emulator has them, one application whose
roles map to local and Okta groups) and two scoped API tokens, and prints the tokens as JSON;
`sweeper` plays the scheduler's once-a-minute recovery sweeps once a second, surviving database
restarts, until SIGTERM; `sync` hands a directory sync (and drift detection) to the long cluster;
`report` prints what the database holds as JSON.
"""

from __future__ import annotations

import json
import os
import signal
import sys
import threading

import django

#: role slug -> the groups it maps to, as (connector, key in the scenario's "groups")
ROLES = {
    "reader": [("local", "local-readers")],
    "okta-user": [("okta", "okta-users")],
    "editor": [("local", "local-editors"), ("okta", "okta-users")],
}


def seed() -> None:
    from django.db import transaction

    from catalog.models import Application, IdpGroup, Person, Role, RoleGroup
    from governance.audit.services import Actor
    from governance.tokens.services import create_api_token

    spec = json.loads(os.environ["SCENARIO"])
    with transaction.atomic():
        managers = Person.objects.bulk_create(
            [
                Person(email=email, name=name, directory="okta", external_id=okta_id)
                for email, name, okta_id in spec["managers"]
            ]
        )
        Person.objects.bulk_create(
            [
                Person(email=email, name=name, directory="okta", external_id=okta_id, manager=managers[boss])
                for email, name, okta_id, boss in spec["people"]
            ]
        )
        app = Application.objects.create(
            slug="scenario", name="Scenario", status=Application.Status.APPROVED, owner=managers[0]
        )
        groups = {
            key: IdpGroup.objects.create(connector=connector, external_id=external_id, name=key)
            for key, (connector, external_id) in spec["groups"].items()
        }
        for slug, mapped in ROLES.items():
            role = Role.objects.create(application=app, slug=slug, name=slug.title())
            RoleGroup.objects.bulk_create([RoleGroup(role=role, group=groups[key]) for _, key in mapped])
        actor = Actor.system("production scenario")
        _, submit = create_api_token(name="scenario-submit", scopes=["requests:submit", "requests:read"], actor=actor)
        _, decide = create_api_token(
            name="scenario-decide", scopes=["requests:decide", "grants:read", "grants:revoke"], actor=actor
        )
    print(json.dumps({"submit": submit, "decide": decide}))


def sweeper() -> None:
    """The recovery sweeps every second (production schedules them every minute)."""
    from django.db import DatabaseError, close_old_connections

    from governance.notifications.services import sweep_messages
    from provisioning.outbox.services import recover_changes

    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    while not stop.is_set():
        try:
            recover_changes()
            sweep_messages()
        except DatabaseError:  # PostgreSQL is restarting: try again on a new connection
            close_old_connections()
        stop.wait(1.0)


def sync() -> None:
    from django_q.tasks import async_task

    async_task("governance.tasks.sync_directories_and_detect_drift", cluster="long")


def report() -> None:
    from django.db.models import Q

    from governance.models import GrantMembershipChange, JiraUpdate, OutboundMessage
    from provisioning.models import LocalMembership, MembershipChange, SyncRun

    links = dict(GrantMembershipChange.objects.values_list("change_id", "grant_id"))
    changes = MembershipChange.objects.select_related("person", "group").order_by("id")
    print(
        json.dumps(
            {
                "open": {
                    model.__name__: model.objects.filter(Q(status=model.QUEUED) | Q(status=model.RUNNING)).count()
                    for model in (MembershipChange, OutboundMessage, JiraUpdate)
                },
                "changes": [
                    {
                        "grant": links.get(change.pk),
                        "person": change.person.email,
                        "connector": change.group.connector,
                        "group": change.group.external_id,
                        "action": change.action,
                        "status": change.status,
                        "result": change.result,
                        "maybe_applied": change.maybe_applied,
                        "error": change.last_error,
                    }
                    for change in changes
                ],
                "messages": list(OutboundMessage.objects.values_list("message_id", "status", "result")),
                "syncs": list(SyncRun.objects.values_list("status", "error")),
                "local_members": sorted(
                    [person, group]
                    for person, group in LocalMembership.objects.values_list("person__email", "group__external_id")
                ),
            }
        )
    )


if __name__ == "__main__":
    django.setup()
    {"seed": seed, "sweeper": sweeper, "sync": sync, "report": report}[sys.argv[1]]()
