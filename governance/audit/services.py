"""Who did something, and the audit event every state change writes."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import router, transaction

from catalog.models import Application, Person
from governance.audit.chain import seal
from governance.jira.queue import enqueue_for_event
from governance.models import AccessRequest, AuditEvent, Grant
from lib.bulk import insert_rows


@dataclass(frozen=True)
class Actor:
    """The one who acts: a directory person, a signed-in admin, or the system itself.
    `via` names the API token a person acted through; their audit events record it."""

    label: str
    person: Person | None = None
    user: AbstractBaseUser | None = None
    via: str = ""

    @classmethod
    def of_person(cls, person: Person, *, via: str = "") -> Actor:
        return cls(label=person.email, person=person, via=via)

    def stamp(self, data: dict[str, Any] | None) -> dict[str, Any]:
        """`data` with the API token this actor acted through, if any."""
        return {**(data or {}), "api_token": self.via} if self.via else (data or {})

    @classmethod
    def of_admin(cls, user: AbstractBaseUser) -> Actor:
        person = getattr(user, "person", None) if user.is_authenticated else None
        return cls(label=f"admin:{user.get_username()}", person=person, user=user)

    @classmethod
    def system(cls, what: str) -> Actor:
        return cls(label=f"system:{what}")


def _application_id(application: Application | None, request: AccessRequest | None, grant: Grant | None) -> int | None:
    if application is not None:
        return application.pk
    if request is not None:
        return request.application_id
    return grant.role.application_id if grant is not None else None


def _event(actor: Actor, row: dict[str, Any]) -> AuditEvent:
    """An unsaved event from the keyword arguments of `record`."""
    grant, request = row.get("grant"), row.get("request")
    if request is None and grant is not None and grant.request_id:
        request = grant.request
    return AuditEvent(
        application_id=_application_id(row.get("application"), request, grant),
        action=row["action"],
        message=row["message"],
        actor=actor.label,
        actor_person_id=actor.person.pk if actor.person else None,
        request=request,
        grant=grant,
        subject_id=_subject_id(row.get("subject"), request, grant),
        data=actor.stamp(row.get("data")),
    )


def _subject_id(subject: Person | None, request: AccessRequest | None, grant: Grant | None) -> int | None:
    """Whom the event is about: the person named, else the grant's holder, else the beneficiary."""
    if subject is not None:
        return subject.pk
    if grant is not None:
        return grant.person_id
    return request.beneficiary_id if request is not None else None


def record(
    action: str,
    message: str,
    *,
    actor: Actor,
    request: AccessRequest | None = None,
    grant: Grant | None = None,
    subject: Person | None = None,
    application: Application | None = None,
    data: dict[str, Any] | None = None,
) -> AuditEvent:
    """Append one audit event. Call inside the transaction of the change it records."""
    row = {"action": action, "message": message, "request": request, "grant": grant, "subject": subject}
    return _write([_event(actor, {**row, "application": application, "data": data})])[0]


def record_many(rows: list[dict[str, Any]], *, actor: Actor) -> list[AuditEvent]:
    """Append many audit events in one INSERT (bulk paths such as the expiry timer).

    Each row holds the keyword arguments of `record` (action, message, grant, request, subject, application, data)."""
    return _write([_event(actor, row) for row in rows])


_batch = threading.local()


def _insert(events: list[AuditEvent]) -> None:
    """Save sealed events (their `seq` runs without gaps) in one statement (`insert_rows`), then
    read back their ids by `seq`: two queries however many there are."""
    insert_rows(AuditEvent, events)
    ids = dict(AuditEvent.objects.filter(seq__range=(events[0].seq, events[-1].seq)).values_list("seq", "id"))
    database = router.db_for_write(AuditEvent)
    for event in events:
        event.pk = ids[event.seq]
        event._state.adding = False
        event._state.db = database


@contextmanager
def audit_batch() -> Iterator[None]:
    """Collect the audit events recorded inside the block and write them together as it ends, still
    in the caller's transaction: the audit chain's head (one row every writer locks) is then held
    only from that write to the commit, not through a whole batch of work. Events recorded inside
    have no primary key until the block ends. Nested blocks join the outermost one."""
    if getattr(_batch, "groups", None) is not None:
        yield
        return
    _batch.groups = []
    try:
        yield
        groups = _batch.groups
    finally:
        _batch.groups = None
    _write_groups(groups)


def _write(events: list[AuditEvent]) -> list[AuditEvent]:
    """Seal and insert `events` and queue their Jira write-back, or hold them for the open batch."""
    held = getattr(_batch, "groups", None)
    if held is not None:
        held.append(events)
    else:
        _write_groups([events])
    return events


def _write_groups(groups: list[list[AuditEvent]]) -> None:
    """One seal (the chain head locked once) and one write for every event of the groups."""
    events = [event for group in groups for event in group]
    if not events:
        return
    # Part of the caller's transaction: an event that cannot be written undoes the change it records.
    with transaction.atomic(savepoint=False):
        seal(events)
        _insert(events)
    for event in events:
        enqueue_for_event(event)  # Jira write-back, in this same transaction (no-op unless configured)


def record_admin_change(
    *, actor: Actor, obj: Any, before: dict[str, Any] | None, after: dict[str, Any] | None
) -> AuditEvent | None:
    """One event for a catalog or policy edit in the admin: created, changed (with the fields) or deleted.

    The object is named in the data, not linked: a link would be nulled when the object is deleted."""
    label = obj._meta.label_lower
    if before is not None and after is not None:
        changed = sorted(name for name in after if before.get(name) != after.get(name))
        if not changed:
            return None
        action, verb = f"{label}.changed", f"changed {', '.join(changed)}"
    elif after is not None:
        changed, action, verb = sorted(after), f"{label}.created", "created"
    else:
        changed, action, verb = [], f"{label}.deleted", "deleted"
    diff = {
        "model": label,
        "id": obj.pk,
        "object": str(obj),
        "changed": changed,
        "before": {name: before.get(name) for name in changed} if before and after else before,
        "after": {name: after.get(name) for name in changed} if after else None,
    }
    message = f"{obj._meta.verbose_name.capitalize()} {str(obj)!r} {verb} in the admin."
    return record(action, message, actor=actor, data=diff)
