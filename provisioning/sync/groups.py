"""The groups and applications phases of a sync: provider groups (with whether Gatehouse may
change them) become `IdpGroup`s; provider applications are proposed as draft catalog entries."""

from __future__ import annotations

from django.db import transaction
from django.utils.text import slugify

from catalog.models import Application, IdpGroup, Role, RoleGroup
from provisioning.connectors import Connector, ConnectorError, DirectoryApplication, DirectoryGroup
from provisioning.models import SyncProblem

from .run_state import BATCH, Progress, RunState, collect, sync_setting, write_changes


def sync_groups(connector: Connector, connector_name: str, state: RunState, progress: Progress) -> dict[str, IdpGroup]:
    """Every group (full runs), or those changed since `state.since` (incremental: their ids are
    kept in `state.groups_changed` for the memberships phase)."""
    listed = state.retry.call("list groups", lambda: _read_groups(connector, state, progress))
    if state.since is not None:
        state.groups_changed = set(listed)
    existing = {g.external_id: g for g in IdpGroup.objects.filter(connector=connector_name)}
    with transaction.atomic():
        new = [
            IdpGroup(connector=connector_name, external_id=ext, **_attributes(g))
            for ext, g in listed.items()
            if ext not in existing
        ]
        IdpGroup.objects.bulk_create(new, batch_size=BATCH)
        changes: dict[tuple[str, ...], list] = {}
        for ext, g in listed.items():
            if ext in existing:
                collect(existing[ext], _attributes(g), changes)
        write_changes(IdpGroup, changes)
    state.groups = len(new) + sum(len(v) for v in changes.values())
    if new and any(g.pk is None for g in new):
        groups = {g.external_id: g for g in IdpGroup.objects.filter(connector=connector_name)}
    else:
        groups = {**existing, **{g.external_id: g for g in new}}
    _report_read_only_bindings(connector_name, state)
    return groups


def _read_groups(connector: Connector, state: RunState, progress: Progress) -> dict[str, DirectoryGroup]:
    listed = {}
    listing = connector.iter_groups() if state.since is None else connector.iter_groups_changed_since(state.since)
    for group in listing:
        listed[str(group.external_id)] = group
        if len(listed) % 500 == 0:
            progress("groups", len(listed), None)
    progress("groups", len(listed), len(listed))
    return listed


def _attributes(group: DirectoryGroup) -> dict:
    writable = bool(group.writable)
    reason = "" if writable else (group.not_writable_reason or "The provider does not accept membership changes.")
    return {
        "name": group.name[:200],
        "description": group.description or "",
        "writable": writable,
        "not_writable_reason": reason,
    }


def _report_read_only_bindings(connector_name: str, state: RunState) -> None:
    """Roles bound earlier to a group the provider will not change (e.g. converted to dynamic)."""
    bound = (
        RoleGroup.objects.filter(group__connector=connector_name, group__writable=False)
        .select_related("group", "role__application")
        .order_by("group__name", "role_id")
    )
    for mapping in bound:
        state.problem(
            SyncProblem.Kind.NOT_WRITABLE_BOUND,
            mapping.group.name,
            f"Role {mapping.role} is bound to it, but {mapping.group.not_writable_reason} "
            "Grants of this role cannot be provisioned there: bind the role to another group.",
            group=mapping.group,
        )


# Applications ---------------------------------------------------------------------------------


def propose_applications(
    connector: Connector, connector_name: str, groups: dict[str, IdpGroup], state: RunState, progress: Progress
) -> None:
    """Each provider application not yet in the catalog becomes a draft entry with a draft role,
    bound to the application's groups that Gatehouse may change. A failed read is reported.
    The assignments of several applications are read GATEHOUSE_SYNC_CONCURRENCY at once."""
    concurrency = int(sync_setting("SYNC_CONCURRENCY"))
    try:
        apps = state.retry.call("list applications", lambda: list(connector.iter_applications(concurrency)))
    except ConnectorError as error:
        state.problem(SyncProblem.Kind.APPLICATIONS_UNREADABLE, "applications", str(error))
        return
    progress("applications", len(apps), len(apps))
    refs = {f"{connector_name}:{a.external_id}": a for a in apps}
    known = set(Application.objects.filter(external_ref__in=list(refs)).values_list("external_ref", flat=True))
    todo = {ref: a for ref, a in refs.items() if ref not in known}
    if todo:
        state.applications = _create_drafts(todo, groups)


def _create_drafts(todo: dict[str, DirectoryApplication], groups: dict[str, IdpGroup]) -> int:
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
            if str(gid) in groups and groups[str(gid)].writable
        ]
        RoleGroup.objects.bulk_create(mappings, batch_size=BATCH)
    return len(created)


def _free_slug(base: str, taken: set[str]) -> str:
    slug, n = base, 1
    while slug in taken:
        n += 1
        slug = f"{base}-{n}"
    taken.add(slug)
    return slug
