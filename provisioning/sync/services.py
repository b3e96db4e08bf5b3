"""Directory and catalog sync: mirror a provider's people, groups, mapped memberships and applications.

Reads go through the connector interface only, outside any transaction; each phase then writes in
bulk inside its own transaction. Every write compares with what the database holds first, so a run
over an unchanged directory issues no INSERT, UPDATE or DELETE (besides its own SyncRun row).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Model
from django.utils import timezone
from django.utils.text import slugify

from catalog.models import Application, GroupMembership, IdpGroup, Person, Role, RoleGroup
from provisioning.connectors import Connector, ConnectorError, DirectoryUser, available, connector_for
from provisioning.models import MembershipChange, SyncRun
from provisioning.sync.lease import beating, fail_abandoned_runs

logger = logging.getLogger(__name__)

BATCH = 1000
#: called as progress(stage, done, total); total is None while unknown
Progress = Callable[[str, int, int | None], None]
STATUSES = {s.value for s in Person.Status}
PERSON_FIELDS = ("name", "status", "department", "title", "last_login_at", "manager_id", "directory", "external_id")


class SyncRefused(Exception):
    """No such connector in this deployment; nothing was written."""


class SyncAborted(Exception):
    """The provider's answer is not safe to apply (e.g. an empty directory)."""


@dataclass
class _Counts:
    created: int = 0
    updated: int = 0
    deactivated: int = 0
    groups: int = 0
    memberships: int = 0
    applications: int = 0
    errors: int = 0
    people_by_external_id: dict[str, int] = field(default_factory=dict)


def _no_progress(stage: str, done: int, total: int | None) -> None:
    pass


def _batched(items: list, size: int = BATCH) -> Iterable[list]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sync_directory(connector_name: str, progress: Progress | None = None) -> SyncRun:
    """Mirror one provider into the catalog and return the run. Provider errors fail the run (not raised)."""
    progress = progress or _no_progress
    if connector_name not in available():
        raise SyncRefused(f"No connector named {connector_name!r} (available: {', '.join(available())}).")
    run = _start(connector_name)
    if run.status == SyncRun.Status.FAILED:
        return run
    progress = beating(run, progress)
    counts = _Counts()
    connector: Connector | None = None
    try:
        connector = connector_for(connector_name)
        if connector_name == "local":  # its people are the catalog itself: read them, never re-stamp them
            counts.people_by_external_id = {e.lower(): pk for e, pk in Person.objects.values_list("email", "pk")}
        else:
            _sync_people(connector, connector_name, counts, progress)
        groups = _sync_groups(connector, connector_name, counts, progress)
        _propose_applications(connector, connector_name, groups, counts, progress)
        _sync_memberships(connector, connector_name, counts, progress)
    except (ConnectorError, SyncAborted) as error:
        logger.warning("sync of %s failed: %s", connector_name, error)
        return _finish(run, counts, SyncRun.Status.FAILED, str(error))
    except Exception as error:
        _finish(run, counts, SyncRun.Status.FAILED, f"unexpected error: {error!r}")
        raise
    finally:
        if connector is not None:
            connector.close()
    return _finish(run, counts, SyncRun.Status.SUCCEEDED, "")


def _start(connector_name: str) -> SyncRun:
    """A new running SyncRun, or an unsaved failed one when another sync of this directory is running."""
    now = timezone.now()
    fail_abandoned_runs(connector_name)
    try:
        with transaction.atomic():
            return SyncRun.objects.create(connector=connector_name, started_at=now, heartbeat_at=now)
    except IntegrityError:
        return SyncRun(
            connector=connector_name,
            started_at=now,
            finished_at=now,
            status=SyncRun.Status.FAILED,
            error=f"Another sync of {connector_name} is running; this one was not started.",
        )


def _finish(run: SyncRun, counts: _Counts, status: str, error: str) -> SyncRun:
    for name in ("created", "updated", "deactivated", "groups", "memberships", "applications", "errors"):
        setattr(run, name, getattr(counts, name))
    run.status, run.error, run.finished_at = status, error[:4000], timezone.now()
    run.save()
    return run


# People ---------------------------------------------------------------------------------------


def _read_users(connector: Connector, counts: _Counts, progress: Progress) -> dict[str, DirectoryUser]:
    users: dict[str, DirectoryUser] = {}
    for user in connector.iter_users():
        email = (user.email or "").strip().lower()
        if not email or email in users:
            counts.errors += 1
            logger.warning("sync: skipped user %r (no email or duplicate email %s)", user.external_id, email)
            continue
        users[email] = user
        if len(users) % 500 == 0:
            progress("users", len(users), None)
    progress("users", len(users), len(users))
    return users


def _desired(user: DirectoryUser, connector_name: str, manager_id: int | None, current: Person) -> dict:
    status = user.status if user.status in STATUSES else Person.Status.SUSPENDED
    wanted = {
        "name": (user.name or current.name or user.email)[:200],
        "status": status,
        "department": (user.department or "")[:120],
        "title": (user.title or "")[:160],
        "manager_id": manager_id,
        "directory": connector_name,
        "external_id": str(user.external_id)[:200],
    }
    if user.last_login_known:
        wanted["last_login_at"] = user.last_login
    return wanted


def _sync_people(connector: Connector, connector_name: str, counts: _Counts, progress: Progress) -> None:
    users = _read_users(connector, counts, progress)
    columns = ["email", "manager", *(f for f in PERSON_FIELDS if f != "manager_id")]
    existing = {p.email.lower(): p for p in Person.objects.only(*columns)}
    if not users and any(p.directory == connector_name for p in existing.values()):
        raise SyncAborted(f"{connector_name} returned no users; refusing to deprovision everyone it reported before.")
    with transaction.atomic():
        counts.people_by_external_id = {  # members the user listing left out (e.g. deprovisioned)
            p.external_id: p.pk for p in existing.values() if p.directory == connector_name and p.external_id
        }
        new = _create_people({e: u for e, u in users.items() if e not in existing}, existing, connector_name)
        created_ids = {p.pk for p in new}
        changes: dict[tuple[str, ...], list[Person]] = {}
        deactivated = 0
        for email, user in users.items():
            person = existing[email]
            manager = existing.get(_manager_key(user))
            manager_id = manager.pk if manager and manager.pk != person.pk else None
            wanted = _desired(user, connector_name, manager_id, person)
            deactivated += _becomes_deprovisioned(person, wanted, created_ids)
            _collect(person, wanted, changes)
            counts.people_by_external_id[str(user.external_id)] = person.pk
        for person in existing.values():  # no longer listed by this provider: deprovisioned
            if person.directory == connector_name and person.email.lower() not in users:
                wanted = {"status": Person.Status.DEPROVISIONED}
                deactivated += _becomes_deprovisioned(person, wanted, created_ids)
                _collect(person, wanted, changes)
        _write_changes(Person, changes, touch="updated_at")
    counts.created = len(new)
    counts.deactivated = deactivated
    counts.updated = len({p.pk for objs in changes.values() for p in objs} - created_ids)
    progress("people written", counts.created + counts.updated, None)


def _manager_key(user: DirectoryUser) -> str:
    return (user.manager_email or "").strip().lower()


def _create_people(todo: dict[str, DirectoryUser], existing: dict[str, Person], connector_name: str) -> list[Person]:
    """Insert new people managers first (one bulk insert per level of the org chart), so their
    manager is set on insert rather than by a second, row-by-row-priced bulk UPDATE."""
    created: list[Person] = []
    while todo:
        wave = {e: u for e, u in todo.items() if _manager_key(u) not in todo or _manager_key(u) == e}
        wave = wave or dict(todo)  # a reporting cycle: insert the rest; the update pass links managers
        people = []
        for email, user in wave.items():
            manager = existing.get(_manager_key(user))
            person = Person(email=email)
            for name, value in _desired(user, connector_name, manager.pk if manager else None, person).items():
                setattr(person, name, value)
            people.append(person)
        Person.objects.bulk_create(people, batch_size=BATCH)
        if any(p.pk is None for p in people):  # databases without RETURNING on bulk insert
            people = list(Person.objects.filter(email__in=list(wave)))
        existing.update({p.email.lower(): p for p in people})
        created.extend(people)
        for email in wave:
            del todo[email]
    return created


def _becomes_deprovisioned(person: Person, wanted: dict, created_ids: set[int]) -> int:
    leaving = wanted.get("status") == Person.Status.DEPROVISIONED != person.status
    return int(leaving and person.pk not in created_ids)


def _collect(obj: Model, wanted: dict, changes: dict[tuple[str, ...], list]) -> None:
    """Set the changed attributes on obj and file it under the set of fields that changed."""
    changed = tuple(sorted(name for name, value in wanted.items() if getattr(obj, name) != value))
    if not changed:
        return
    for name in changed:
        setattr(obj, name, wanted[name])
    changes.setdefault(changed, []).append(obj)


def _write_changes(model: type[Model], changes: dict[tuple[str, ...], list], touch: str | None = None) -> None:
    """One bulk UPDATE per batch and per set of changed fields: only what changed is written."""
    now = timezone.now()
    for fields, objs in changes.items():
        names = list(fields)
        if touch:
            names.append(touch)
            for obj in objs:
                setattr(obj, touch, now)
        for batch in _batched(objs):
            model.objects.bulk_update(batch, names, batch_size=BATCH)


# Groups ---------------------------------------------------------------------------------------


def _sync_groups(connector: Connector, connector_name: str, counts: _Counts, progress: Progress) -> dict[str, IdpGroup]:
    listed = {}
    for group in connector.iter_groups():
        listed[str(group.external_id)] = group
        if len(listed) % 500 == 0:
            progress("groups", len(listed), None)
    progress("groups", len(listed), len(listed))
    existing = {g.external_id: g for g in IdpGroup.objects.filter(connector=connector_name)}
    with transaction.atomic():
        new = [
            IdpGroup(connector=connector_name, external_id=ext, name=g.name[:200], description=g.description or "")
            for ext, g in listed.items()
            if ext not in existing
        ]
        IdpGroup.objects.bulk_create(new, batch_size=BATCH)
        changes: dict[tuple[str, ...], list] = {}
        for ext, g in listed.items():
            if ext in existing:
                _collect(existing[ext], {"name": g.name[:200], "description": g.description or ""}, changes)
        _write_changes(IdpGroup, changes)
    counts.groups = len(new) + sum(len(v) for v in changes.values())
    if new and any(g.pk is None for g in new):
        return {g.external_id: g for g in IdpGroup.objects.filter(connector=connector_name)}
    existing.update({g.external_id: g for g in new})
    return existing


# Applications ---------------------------------------------------------------------------------


def _propose_applications(
    connector: Connector, connector_name: str, groups: dict[str, IdpGroup], counts: _Counts, progress: Progress
) -> None:
    """Each provider application not yet in the catalog becomes a draft entry with a draft role."""
    apps = list(connector.iter_applications())
    progress("applications", len(apps), len(apps))
    if not apps:
        return
    refs = {f"{connector_name}:{a.external_id}": a for a in apps}
    known = set(Application.objects.filter(external_ref__in=list(refs)).values_list("external_ref", flat=True))
    todo = {ref: a for ref, a in refs.items() if ref not in known}
    if not todo:
        return
    slugs = set(Application.objects.values_list("slug", flat=True))
    with transaction.atomic():
        created = []
        for ref, app in todo.items():
            slug = _free_slug(slugify(app.name)[:70] or "app", slugs)
            created.append(
                Application(slug=slug, name=app.name[:200], status=Application.Status.DRAFT, external_ref=ref)
            )
        Application.objects.bulk_create(created, batch_size=BATCH)
        if any(a.pk is None for a in created):
            created = list(Application.objects.filter(external_ref__in=list(todo)))
        roles = [
            Role(application=a, slug="access", name="Access", requestable=False, description="Proposed by sync.")
            for a in created
        ]
        Role.objects.bulk_create(roles, batch_size=BATCH)
        if any(r.pk is None for r in roles):
            roles = list(Role.objects.filter(application__in=created).select_related("application"))
        mappings = [
            RoleGroup(role=role, group=groups[str(gid)])
            for role in roles
            for gid in dict.fromkeys(todo[role.application.external_ref].group_ids)
            if str(gid) in groups
        ]
        RoleGroup.objects.bulk_create(mappings, batch_size=BATCH)
    counts.applications = len(created)


def _free_slug(base: str, taken: set[str]) -> str:
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug


# Memberships of mapped groups ------------------------------------------------------------------


def _sync_memberships(connector: Connector, connector_name: str, counts: _Counts, progress: Progress) -> None:
    mapped = list(IdpGroup.objects.filter(connector=connector_name, role_mappings__isnull=False).distinct())
    people = counts.people_by_external_id
    read_started = timezone.now()
    listed: set[tuple[int, int]] = set()
    for done, group in enumerate(mapped, start=1):
        for member_id in connector.iter_group_members(group.external_id):
            person_id = people.get(str(member_id))
            if person_id is None:
                counts.errors += 1
                logger.warning("sync: %s member %r is not a listed user; skipped", group.name, member_id)
                continue
            listed.add((person_id, group.pk))
        progress("members", done, len(mapped))
    group_ids = [g.pk for g in mapped]
    rows = GroupMembership.objects.filter(group_id__in=group_ids).values("id", "person_id", "group_id", "since")
    held = {(m["person_id"], m["group_id"]): m for m in rows}
    added = listed - held.keys()
    # A row the outbox wrote while we were reading is newer than what we read: leave it.
    gone = [held[pair]["id"] for pair in held.keys() - listed if held[pair]["since"] < read_started]
    now = timezone.now()
    ours = _added_by_gatehouse(group_ids) if added else set()
    with transaction.atomic():
        GroupMembership.objects.bulk_create(
            [
                GroupMembership(
                    person_id=person_id,
                    group_id=group_id,
                    since=now,
                    origin=GroupMembership.Origin.GATEHOUSE
                    if (person_id, group_id) in ours
                    else GroupMembership.Origin.EXTERNAL,
                )
                for person_id, group_id in sorted(added)
            ],
            batch_size=BATCH,
            ignore_conflicts=True,  # the outbox may have recorded the same membership meanwhile
        )
        for batch in _batched(gone):
            GroupMembership.objects.filter(id__in=batch).delete()
    counts.memberships = len(added) + len(gone)


def _added_by_gatehouse(group_ids: list[int]) -> set[tuple[int, int]]:
    """Pairs whose latest settled change is an add that Gatehouse itself made."""
    latest: dict[tuple[int, int], tuple[str, str]] = {}
    rows = (
        MembershipChange.objects.filter(group_id__in=group_ids, status=MembershipChange.Status.SUCCEEDED)
        .order_by("id")
        .values_list("person_id", "group_id", "action", "result", "maybe_applied")
    )
    for person_id, group_id, action, result, maybe_applied in rows.iterator():
        # An "already a member" after an attempt that may have gone through counts as ours (see
        # provisioning.services._mirror_membership).
        ours = result == MembershipChange.Result.ADDED or (
            result == MembershipChange.Result.ALREADY_MEMBER and maybe_applied
        )
        latest[(person_id, group_id)] = (action, ours)
    return {pair for pair, (action, ours) in latest.items() if action == "add" and ours}


# All providers ----------------------------------------------------------------------------------


def directories_to_sync() -> list[str]:
    """Every connector an IdpGroup uses, except `local`: the local directory is the database itself."""
    names = set(IdpGroup.objects.values_list("connector", flat=True).distinct())
    names.discard("local")
    return sorted(names)


def sync_all_directories(progress: Progress | None = None) -> list[SyncRun]:
    """Sync every external directory in turn (one failing does not stop the others)."""
    runs = []
    for name in directories_to_sync():
        try:
            runs.append(sync_directory(name, progress))
        except SyncRefused as error:  # a group names a connector this deployment does not have
            logger.error("directory %s not synced: %s", name, error)
    return runs
