"""The people phase of a sync: mirror the provider's users into `Person`.

Departures are decided only from a state the provider reports explicitly (suspended,
deprovisioned, or "no such user" when asked by id), never from a user's absence in a listing:
a listing that shrank sharply fails the run, and people it left out are looked up one by one.
"""

from __future__ import annotations

import logging
from collections import Counter

from django.db import router, transaction
from django.db.models import Max
from django.db.models.functions import Lower
from django.utils import timezone

from catalog.models import Person
from lib.bulk import insert_rows, update_values
from provisioning.connectors import Connector, ConnectorError, DirectoryUser
from provisioning.connectors.base import DELETED_STATE
from provisioning.models import SyncProblem, SyncRun

from .run_state import Progress, RunState, SyncAborted, batched, collect, shrank_sharply, write_changes

logger = logging.getLogger(__name__)

STATUSES = {s.value for s in Person.Status}
PERSON_FIELDS = (
    "name",
    "status",
    "directory_state",
    "department",
    "title",
    "last_login_at",
    "manager_id",
    "directory",
    "external_id",
)
#: the state recorded for a person the provider says no longer exists
DELETED = DELETED_STATE
#: people left out of a listing that one run looks up by id (the rest wait for the next run)
LOOKUP_LIMIT = 500
_Changes = dict[tuple[str, ...], list[Person]]


def sync_people(connector: Connector, connector_name: str, state: RunState, progress: Progress) -> None:
    """Full runs list every user; incremental runs (`state.since`) only those changed since, so
    they neither count the listing (no shrink check) nor look for people it left out."""
    users = state.retry.call("list users", lambda: _read_users(connector, state, progress))
    columns = ["email", "manager", "status_changed_at", *(f for f in PERSON_FIELDS if f != "manager_id")]
    if state.since is None:
        existing = {p.email.lower(): p for p in Person.objects.only(*columns)}
        _refuse_unsafe_listing(connector_name, users, existing, state)
        state.users_listed = len(users)
        absent = _left_out(connector, connector_name, users, existing, state)
        known = [(p.external_id, email, p.pk) for email, p in existing.items() if p.directory == connector_name]
    else:  # only the people listed and their managers are loaded; the directory's ids as plain rows
        absent = _reported_deleted(connector_name, state.removed_user_ids, columns)
        known = [
            (external_id, email.lower(), pk)
            for external_id, email, pk in Person.objects.filter(directory=connector_name).values_list(
                "external_id", "email", "pk"
            )
        ]
    known = [row for row in known if row[0]]
    managers = _manager_emails(users, {external_id: email for external_id, email, _ in known})
    if state.since is not None:
        existing = _people_by_email({*users, *filter(None, managers.values())}, columns)
    with transaction.atomic():
        # members the user listing left out (e.g. deleted) still match
        state.people_by_external_id = {external_id: pk for external_id, _, pk in known}
        todo = {e: u for e, u in users.items() if e not in existing}
        new = _create_people(todo, existing, managers, connector_name, state)
        created_ids = {p.pk for p in new}
        changes: _Changes = {}
        for email, user in users.items():
            person = existing[email]
            manager = existing.get(managers.get(email) or "")
            manager_id = manager.pk if manager and manager.pk != person.pk else None
            if manager is None and user.manager_name and state.since is not None:
                manager_id = person.manager_id  # a display name is matched among all users by full passes only
            if not user.manager_known:
                manager_id = person.manager_id
            _apply(person, _desired(user, connector_name, manager_id, person, state), state, created_ids, changes)
            state.people_by_external_id[str(user.external_id)] = person.pk
        for person, answer in absent:
            _apply(person, _as_reported(answer), state, created_ids, changes)
        write_changes(Person, changes, touch="updated_at")
    state.created = len(new)
    state.updated = len({p.pk for objs in changes.values() for p in objs} - created_ids)
    progress("people written", state.created + state.updated, None)


def _read_users(connector: Connector, state: RunState, progress: Progress) -> dict[str, DirectoryUser]:
    users: dict[str, DirectoryUser] = {}
    skipped = 0
    listing = connector.iter_users() if state.since is None else connector.iter_users_changed_since(state.since)
    for user in listing:
        if user.state == DELETED_STATE and not user.email and state.since is not None:
            state.removed_user_ids.add(str(user.external_id))  # a change listing's "deleted", by id only
            continue
        email = (user.email or "").strip().lower()
        if not email or email in users:
            skipped += 1
            logger.warning("sync: skipped user %r (no email or duplicate email %s)", user.external_id, email)
            continue
        users[email] = user
        if len(users) % 500 == 0:
            progress("users", len(users), None)
    state.errors += skipped
    progress("users", len(users), len(users))
    return users


def _refuse_unsafe_listing(
    connector_name: str, users: dict[str, DirectoryUser], existing: dict[str, Person], state: RunState
) -> None:
    """An empty listing, or one much shorter than the last, is taken as a broken read, not as leavers."""
    if not users and any(p.directory == connector_name for p in existing.values()):
        raise SyncAborted(f"{connector_name} returned no users; refusing to deprovision everyone it reported before.")
    before = _previously_listed(connector_name, existing)
    if not state.allow_shrink and shrank_sharply(before, len(users)):
        raise SyncAborted(
            f"{connector_name} listed {len(users)} users, {before} last time: a drop of "
            f"{(before - len(users)) / before:.0%}, more than GATEHOUSE_SYNC_MAX_SHRINK allows. The listing "
            f"looks incomplete, so nothing was applied. If the drop is real, run "
            f"`manage.py sync_directory --provider {connector_name} --allow-shrink` once."
        )


def _previously_listed(connector_name: str, existing: dict[str, Person]) -> int:
    last = (
        SyncRun.objects.filter(connector=connector_name, status=SyncRun.Status.SUCCEEDED, users_listed__isnull=False)
        .order_by("-started_at", "-id")
        .values_list("users_listed", flat=True)
        .first()
    )
    if last is not None:
        return last
    return sum(1 for p in existing.values() if p.directory == connector_name)


def _left_out(
    connector: Connector,
    connector_name: str,
    users: dict[str, DirectoryUser],
    existing: dict[str, Person],
    state: RunState,
) -> list[tuple[Person, DirectoryUser | None]]:
    """People this provider reported before whom the listing left out, with the provider's answer
    when asked by id (None: it has no such user). Unanswered ones are reported and left as they are."""
    missing = [
        p
        for email, p in existing.items()
        if p.directory == connector_name and email not in users and p.status != Person.Status.DEPROVISIONED
    ]
    if not missing:
        return []
    asked = [p for p in missing if p.external_id][:LOOKUP_LIMIT]
    try:
        answers = state.retry.call("read left-out users", lambda: connector.read_users([p.external_id for p in asked]))
    except ConnectorError as error:
        answers = {}
        state.problem(SyncProblem.Kind.PEOPLE_UNCONFIRMED, "people not listed", f"Reading them by id failed: {error}")
    # A user listed under a new email is a rename, not a left-out user: the listing carries them.
    answered = [
        (p, answer)
        for p in asked
        if p.external_id in answers
        and ((answer := answers[p.external_id]) is None or (answer.email or "").strip().lower() not in users)
    ]
    unanswered = [p.email for p in missing if p.external_id not in answers]
    if unanswered:
        state.problem(
            SyncProblem.Kind.PEOPLE_UNCONFIRMED,
            f"{len(unanswered)} people not listed",
            f"{connector_name} did not list them and did not confirm their state; they were left as they were: "
            + ", ".join(sorted(unanswered)[:50]),
        )
    still_there = sorted(p.email for p, answer in answered if answer is not None)
    if still_there:
        state.problem(
            SyncProblem.Kind.LISTING_INCOMPLETE,
            f"{len(still_there)} people not listed",
            f"{connector_name} left them out of its user listing but still has them; their state was read "
            "one by one: " + ", ".join(still_there[:50]),
        )
    return answered


def _reported_deleted(connector_name: str, external_ids: set[str], columns: list[str]) -> list[tuple[Person, None]]:
    """People of this directory whom a change listing reported deleted (the provider's own word)."""
    if not external_ids:
        return []
    people = Person.objects.filter(directory=connector_name, external_id__in=sorted(external_ids)).only(*columns)
    return [(person, None) for person in people if person.status != Person.Status.DEPROVISIONED]


def _as_reported(answer: DirectoryUser | None) -> dict:
    if answer is None:
        return {"status": Person.Status.DEPROVISIONED, "directory_state": DELETED}
    wanted = {"directory_state": answer.state[:60]}
    if answer.status in STATUSES:
        wanted["status"] = answer.status
    return wanted


def _desired(user: DirectoryUser, connector_name: str, manager_id: int | None, current: Person, state: RunState):
    status = user.status
    if status not in STATUSES:  # not an explicit state we know: decide nothing
        logger.warning("sync: user %s has an unknown status %r; kept %s", user.email, status, current.status)
        state.errors += 1
        status = current.status
    wanted = {
        "name": (user.name or current.name or user.email)[:200],
        "status": status,
        "directory_state": (user.state or "")[:60],
        "department": (user.department or "")[:120],
        "title": (user.title or "")[:160],
        "manager_id": manager_id,
        "directory": connector_name,
        "external_id": str(user.external_id)[:200],
    }
    if user.last_login_known:
        wanted["last_login_at"] = user.last_login
    return wanted


def _apply(person: Person, wanted: dict, state: RunState, created_ids: set[int], changes: _Changes) -> None:
    """Collect the changes of one person, stamping a status change and counting departures."""
    new_status = wanted.get("status", person.status)
    if new_status != person.status and person.pk not in created_ids:
        wanted = {**wanted, "status_changed_at": timezone.now()}
        state.deactivated += new_status == Person.Status.DEPROVISIONED
        state.suspended += new_status == Person.Status.SUSPENDED
    collect(person, wanted, changes)


# Managers ---------------------------------------------------------------------------------------


def _people_by_email(emails: set[str], columns: list[str]) -> dict[str, Person]:
    """The people with these emails (any case), keyed by lower-case email, in batches."""
    found: dict[str, Person] = {}
    for batch in batched(sorted(emails), 500):
        people = Person.objects.annotate(email_key=Lower("email")).filter(email_key__in=batch).only(*columns)
        found.update({p.email.lower(): p for p in people})
    return found


def _manager_emails(users: dict[str, DirectoryUser], known_ids: dict[str, str]) -> dict[str, str | None]:
    """Each listed user's manager, as an email key: by the provider's id for the manager (this
    listing, then `known_ids`: ids stored by earlier syncs, with their emails), else an email, else
    a display name that exactly one listed user has."""
    by_id = dict(known_ids)
    by_id.update({str(u.external_id): e for e, u in users.items()})
    names = Counter(_name_key(u.name) for u in users.values() if u.name)
    by_name = {_name_key(u.name): e for e, u in users.items() if u.name and names[_name_key(u.name)] == 1}
    managers: dict[str, str | None] = {}
    for email, user in users.items():
        key = by_id.get(str(user.manager_external_id)) if user.manager_external_id else None
        if key is None and user.manager_email:
            key = user.manager_email.strip().lower()
        if key is None and user.manager_name:
            key = by_name.get(_name_key(user.manager_name))
        managers[email] = key
    return managers


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _create_people(
    todo: dict[str, DirectoryUser],
    existing: dict[str, Person],
    managers: dict[str, str | None],
    connector_name: str,
    state: RunState,
) -> list[Person]:
    """Insert every new person in one set-based write, then link those whose manager is new too
    with one UPDATE executed for many rows: a fixed number of queries whatever the org chart's
    size or depth (a manager already known is set on insert)."""
    if not todo:
        return []
    now = timezone.now()
    last_pk = Person.objects.aggregate(last=Max("pk"))["last"] or 0
    people = []
    for email, user in todo.items():
        manager = existing.get(managers.get(email) or "")
        person = Person(email=email)
        wanted = _desired(user, connector_name, manager.pk if manager else None, person, state)
        for name, value in wanted.items():
            setattr(person, name, value)
        if person.status != Person.Status.ACTIVE:  # first seen away: that is when Gatehouse learnt it
            person.status_changed_at = now
        people.append(person)
    _insert_people(people, last_pk)
    existing.update({p.email: p for p in people})
    links = []
    for person in people:
        manager = existing.get(managers.get(person.email) or "")
        if person.manager_id is None and manager is not None and manager.pk != person.pk:
            person.manager_id = manager.pk
            links.append((manager.pk, person.pk))
    update_values(Person, ["manager_id"], links)
    return people


def _insert_people(people: list[Person], last_pk: int) -> None:
    """Write new people without per-row ORM work (`lib.bulk.insert_rows`: COPY on PostgreSQL, one
    prepared statement on SQLite), then give each its primary key: one query reads the rows added
    after `last_pk` (ids only grow)."""
    insert_rows(Person, people)
    ids = dict(Person.objects.filter(pk__gt=last_pk).values_list("email", "pk"))
    using = router.db_for_write(Person)
    for person in people:
        person.pk = ids[person.email]
        person._state.adding, person._state.db = False, using
