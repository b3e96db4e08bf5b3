"""Per-application activity (when a person last used an application), fed by application logs.

Auto Reclaim's "last use of this application" source reads it. Writes are idempotent: a figure only
ever moves forward, so a replayed batch changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from catalog.models import AppActivity, Application, Person
from governance.audit.services import Actor, record
from governance.errors import InvalidInput

MAX_ROWS = 5000


@dataclass(frozen=True)
class ActivityRow:
    application: str
    person: str
    last_active_at: datetime


@dataclass
class ActivityResult:
    received: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0


def _resolve(rows: list[ActivityRow], label: str) -> tuple[dict[str, int], dict[str, int]]:
    """Application slug → id and email → person id; InvalidInput naming the first unknown one."""
    apps = dict(Application.objects.filter(slug__in={r.application for r in rows}).values_list("slug", "id"))
    emails = {r.person.strip().lower() for r in rows}
    people = dict(Person.objects.annotate(key=Lower("email")).filter(key__in=emails).values_list("key", "id"))
    for index, row in enumerate(rows):
        if row.application not in apps:
            raise InvalidInput(f"No application with slug {row.application!r}.", field=f"{label}[{index}].application")
        if row.person.strip().lower() not in people:
            raise InvalidInput(f"No person with email {row.person!r}.", field=f"{label}[{index}].person")
        if timezone.is_naive(row.last_active_at):
            raise InvalidInput("Give the time with a time zone.", field=f"{label}[{index}].last_active_at")
        if row.last_active_at > timezone.now() + timedelta(minutes=5):
            raise InvalidInput("The time is in the future.", field=f"{label}[{index}].last_active_at")
    return apps, people


def record_activity(*, rows: list[ActivityRow], source: str, actor: Actor, label: str = "activity") -> ActivityResult:
    """Upsert the latest activity per (person, application), in one transaction; all or nothing."""
    if not rows:
        raise InvalidInput("Send at least one activity row.", field=label)
    if len(rows) > MAX_ROWS:
        raise InvalidInput(f"At most {MAX_ROWS} rows per call; split the batch.", field=label)
    apps, people = _resolve(rows, label)
    latest: dict[tuple[int, int], datetime] = {}
    for row in rows:
        key = (people[row.person.strip().lower()], apps[row.application])
        latest[key] = max(latest.get(key, row.last_active_at), row.last_active_at)
    result = ActivityResult(received=len(rows))
    with transaction.atomic():
        existing = {
            (a.person_id, a.application_id): a
            for a in AppActivity.objects.select_for_update().filter(
                person_id__in={p for p, _ in latest}, application_id__in={a for _, a in latest}
            )
        }
        new, changed = [], []
        for (person_id, app_id), seen in latest.items():
            current = existing.get((person_id, app_id))
            if current is None:
                new.append(
                    AppActivity(person_id=person_id, application_id=app_id, last_activity_at=seen, source=source)
                )
            elif seen > current.last_activity_at:
                current.last_activity_at, current.source = seen, source
                changed.append(current)
        AppActivity.objects.bulk_create(new, batch_size=1000)
        AppActivity.objects.bulk_update(changed, ["last_activity_at", "source"], batch_size=1000)
        result.created, result.updated = len(new), len(changed)
        result.unchanged = len(latest) - len(new) - len(changed)
        if new or changed:
            record(
                "activity.recorded",
                f"Application activity from {source}: {len(rows)} rows, {len(new)} new, {len(changed)} newer.",
                actor=actor,
                data={"source": source, **vars(result)},
            )
    return result
