"""The product side of the cluster kill test, run as `python -m tests.cluster_scenario <step>` in
a subprocess with the product's settings (environment from tests/test_cluster_kill.py).

Steps: `seed` writes and enqueues the outbox rows; `drain` plays the scheduler (runs each sweep
every half second) until no row is open, then prints a JSON report.
"""

from __future__ import annotations

import json
import os
import sys
import time

import django


def seed() -> None:
    from django.db import transaction
    from django.utils import timezone

    from catalog.models import IdpGroup, Person
    from governance.jira.adf import doc, paragraph
    from governance.jira.queue import jira_queue
    from governance.models import JiraUpdate
    from governance.notifications.services import notify_person
    from provisioning.outbox.services import queue_change

    spec = json.loads(os.environ["SCENARIO"])
    with transaction.atomic():
        people = [
            Person.objects.create(email=f"person{number}@example.com", name=f"Person {number}")
            for number in range(spec["emails"])
        ]
        for person in people:
            notify_person(person, subject=f"Notice for {person.name}", body="Your access changes soon.")
        group = IdpGroup.objects.create(connector="okta", external_id=spec["okta_group"], name="kill-test")
        for person in people[: spec["changes"]]:
            queue_change(action="add", person=person, group=group)
        updates = JiraUpdate.objects.bulk_create(
            [
                JiraUpdate(
                    kind=JiraUpdate.Kind.COMMENT,
                    issue_key=spec["issues"][number % len(spec["issues"])],
                    payload={"body": doc(paragraph(f"Comment {number}"))},
                    next_attempt_at=timezone.now(),
                )
                for number in range(spec["jira"])
            ]
        )
        jira_queue.enqueue(update.pk for update in updates)


def _open_rows() -> int:
    from governance.models import JiraUpdate, OutboundMessage
    from provisioning.models import MembershipChange

    return sum(
        model.objects.filter(status__in=(model.QUEUED, model.RUNNING)).count()
        for model in (MembershipChange, JiraUpdate, OutboundMessage)
    )


def drain(timeout: float = 120.0) -> None:
    from governance.jira.services import sweep_updates
    from governance.models import JiraUpdate, OutboundMessage
    from governance.notifications.services import sweep_messages
    from provisioning.models import MembershipChange
    from provisioning.outbox.services import recover_changes

    deadline = time.monotonic() + timeout
    while _open_rows() and time.monotonic() < deadline:
        recover_changes()
        sweep_updates()
        sweep_messages()
        time.sleep(0.5)
    report = {
        "open": _open_rows(),
        "messages": list(OutboundMessage.objects.values_list("message_id", "status")),
        "jira": list(JiraUpdate.objects.values_list("id", "status")),
        "changes": list(MembershipChange.objects.values_list("person__email", "status", "result")),
        "errors": sorted(
            {
                error
                for model in (MembershipChange, JiraUpdate, OutboundMessage)
                for error in model.objects.values_list("last_error", flat=True)
                if error
            }
        )[:10],
        "abandoned": sum(
            model.objects.filter(maybe_applied=True).count()
            for model in (MembershipChange, JiraUpdate, OutboundMessage)
        ),
    }
    print(json.dumps(report))


if __name__ == "__main__":
    django.setup()
    {"seed": seed, "drain": drain}[sys.argv[1]]()
