"""`applications/<slug>.yaml`: an application, its roles with their group mappings, and the
approval policies of the application and of each role."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Prefetch

from catalog.durations import format_iso_duration, parse_iso_duration
from catalog.models import Application, IdpGroup, Person, Role, RoleGroup
from governance.audit.services import Actor, record
from governance.catalog_code.approval import active_policies, apply_policy, describe_policy, policy_entity, read_policy
from governance.catalog_code.kinds import (
    Change,
    Context,
    Entities,
    Entity,
    FileKind,
    Problems,
    Source,
    describe_fields,
    register_kind,
)
from governance.catalog_code.schema import Directory, Reader
from governance.catalog_code.yamlio import Marked, MarkedList
from governance.models import AccessRequest, Grant

APP_FIELDS = ("slug", "name", "description", "owner", "status", "risk_tier", "provisioning_mode")
ROLE_FIELDS = (
    "slug",
    "name",
    "description",
    "requestable",
    "allowed_durations",
    "default_duration",
    "max_duration",
    "duration_required",
    "break_glass_allowed",
    "break_glass_max_duration",
    "groups",
)
DURATION_FIELDS = ("default_duration", "max_duration", "break_glass_max_duration")


def _duration(value) -> str | None:
    return format_iso_duration(value) if value is not None else None


def application_entity(app: Application) -> Entity:
    return {
        "slug": app.slug,
        "name": app.name,
        "description": app.description,
        "owner": app.owner.email.lower() if app.owner else None,
        "status": app.status,
        "risk_tier": app.risk_tier,
        "provisioning_mode": app.provisioning_mode,
    }


def role_entity(role: Role) -> Entity:
    groups = sorted(
        (
            {"connector": m.group.connector, "external_id": m.group.external_id, "name": m.group.name}
            for m in role.group_mappings.all()
        ),
        key=lambda group: (group["connector"], group["external_id"]),
    )
    entity: Entity = {
        "slug": role.slug,
        "name": role.name,
        "description": role.description,
        "requestable": role.requestable,
        "allowed_durations": list(role.allowed_durations or []),
    }
    entity.update({name: _duration(getattr(role, name)) for name in ("default_duration", "max_duration")})
    entity["duration_required"] = role.duration_required
    entity["break_glass_allowed"] = role.break_glass_allowed
    entity["break_glass_max_duration"] = _duration(role.break_glass_max_duration)
    entity["groups"] = groups
    return entity


def current() -> Entities:
    entities: Entities = {}
    for app in Application.objects.select_related("owner").order_by("slug"):
        entities[f"application {app.slug}"] = application_entity(app)
    roles = (
        Role.objects.select_related("application")
        .prefetch_related(Prefetch("group_mappings", queryset=RoleGroup.objects.select_related("group")))
        .order_by("application__slug", "name", "slug")
    )
    for role in roles:
        entities[f"role {role.application.slug}/{role.slug}"] = role_entity(role)
    for policy in active_policies():
        if policy.role_id:
            entities[f"policy {policy.role.application.slug}/{policy.role.slug}"] = policy_entity(policy)
        elif policy.application_id:
            entities[f"policy {policy.application.slug}"] = policy_entity(policy)
    return entities


def files(entities: Entities) -> dict[str, dict[str, Any]]:
    documents: dict[str, dict[str, Any]] = {}
    for key, entity in entities.items():
        if key.startswith("application "):
            slug = entity["slug"]
            document = dict(entity)
            if f"policy {slug}" in entities:
                document["approval_policy"] = entities[f"policy {slug}"]
            document["roles"] = []
            documents[slug] = document
    for key, entity in entities.items():
        if key.startswith("role "):
            app_slug, role_slug = key.removeprefix("role ").split("/", 1)
            role = dict(entity)
            policy = entities.get(f"policy {app_slug}/{role_slug}")
            if policy is not None:
                role["approval_policy"] = policy
            documents[app_slug]["roles"].append(role)
    return {f"applications/{slug}.yaml": documents[slug] for slug in sorted(documents)}


def read(documents: dict[str, Any], context: Context, problems: Problems) -> Entities:
    directory = Directory()
    desired: Entities = {}
    for path in sorted(documents):
        _read_application(path, documents[path], directory, desired, problems)
    existing = context.current["catalog"]
    managed = {key.removeprefix("application ") for key in desired if key.startswith("application ")}
    for key, entity in existing.items():
        app_slug = key.split(" ", 1)[1].split("/", 1)[0]
        if app_slug not in managed:
            desired[key] = entity
            if key.startswith("application "):
                context.notes.append(f"application {app_slug} has no file: left as it is (export to adopt it).")
    _check_removed_roles(existing, desired, problems)
    _check_read_only_groups(existing, desired, directory, problems)
    return desired


def _read_application(path: str, value: Any, directory: Directory, desired: Entities, problems: Problems) -> None:
    reader = Reader(path, problems, directory)
    doc = reader.mapping(value, 1, "(file)")
    if doc is None:
        return
    reader.only(doc, (*APP_FIELDS, "approval_policy", "roles"))
    slug = reader.slug(doc, "slug")
    expected = path.rsplit("/", 1)[-1].removesuffix(".yaml")
    if slug and slug != expected:
        reader.fail(doc, "slug", f"is {slug!r} but the file is named {expected}.yaml.")
    if not slug or f"application {slug}" in desired:
        return
    app = {
        "slug": slug,
        "name": reader.text(doc, "name", required=True),
        "description": reader.text(doc, "description", max_length=10_000),
        "owner": reader.person(doc, "owner"),
        "status": reader.choice(doc, "status", list(Application.Status.values), Application.Status.DRAFT),
        "risk_tier": reader.choice(doc, "risk_tier", list(Application.RiskTier.values), Application.RiskTier.MEDIUM),
        "provisioning_mode": reader.choice(
            doc, "provisioning_mode", list(Application.ProvisioningMode.values), Application.ProvisioningMode.AUTOMATIC
        ),
    }
    desired[f"application {slug}"] = app
    if doc.get("approval_policy") is not None:
        policy = read_policy(reader, doc["approval_policy"], doc.line_of("approval_policy"), "approval_policy")
        if policy is not None:
            desired[f"policy {slug}"] = policy
    roles = doc.get("roles")
    if roles is None:
        return
    if not isinstance(roles, MarkedList):
        reader.fail(doc, "roles", "must be a list of roles.")
        return
    for index, item in enumerate(roles):
        _read_role(reader, item, roles.lines[index], f"roles[{index}]", app, desired)


def _read_role(reader: Reader, value: Any, line: int, name: str, app: Entity, desired: Entities) -> None:
    doc = reader.mapping(value, line, name)
    if doc is None:
        return
    role_reader = reader.nested(name)
    role_reader.only(doc, (*ROLE_FIELDS, "approval_policy"))
    slug = role_reader.slug(doc, "slug")
    key = f"role {app['slug']}/{slug}"
    if slug and key in desired:
        role_reader.fail(doc, "slug", f"role {slug!r} appears twice in this file.")
        return
    role = {
        "slug": slug,
        "name": role_reader.text(doc, "name", required=True),
        "description": role_reader.text(doc, "description", max_length=10_000),
        "requestable": role_reader.boolean(doc, "requestable", True),
        "allowed_durations": role_reader.durations(doc, "allowed_durations"),
        "default_duration": role_reader.duration(doc, "default_duration"),
        "max_duration": role_reader.duration(doc, "max_duration"),
        "duration_required": role_reader.boolean(doc, "duration_required", None, nullable=True),
        "break_glass_allowed": role_reader.boolean(doc, "break_glass_allowed", False),
        "break_glass_max_duration": role_reader.duration(doc, "break_glass_max_duration"),
        "groups": role_reader.groups(doc, "groups"),
    }
    _check_role_rules(role_reader, doc, role, app)
    if not slug:
        return
    desired[key] = role
    if doc.get("approval_policy") is not None:
        policy_name = f"{name}.approval_policy"
        policy = read_policy(reader, doc["approval_policy"], doc.line_of("approval_policy"), policy_name)
        if policy is not None:
            desired[f"policy {app['slug']}/{slug}"] = policy


def _check_role_rules(reader: Reader, doc: Marked, role: Entity, app: Entity) -> None:
    """The role model's own rules (durations within the maximum, default among the choices...)."""
    candidate = Role(
        application=Application(risk_tier=app["risk_tier"]),
        allowed_durations=role["allowed_durations"],
        break_glass_allowed=bool(role["break_glass_allowed"]),
        **{name: parse_iso_duration(role[name]) if role[name] else None for name in DURATION_FIELDS},
    )
    try:
        candidate.clean()
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            reader.fail(doc, field, " ".join(messages))


def _check_removed_roles(existing: Entities, desired: Entities, problems: Problems) -> None:
    removed = [key for key in existing if key.startswith("role ") and key not in desired]
    for key in removed:
        app_slug, role_slug = key.removeprefix("role ").split("/", 1)
        in_use = (
            AccessRequest.objects.filter(role__application__slug=app_slug, role__slug=role_slug).exists()
            or Grant.objects.filter(role__application__slug=app_slug, role__slug=role_slug).exists()
        )
        if in_use:
            problems.add(
                f"applications/{app_slug}.yaml",
                1,
                f"roles[{role_slug}]",
                "was removed but has requests or grants; keep it with requestable: false.",
            )


def _check_read_only_groups(existing: Entities, desired: Entities, directory: Directory, problems: Problems) -> None:
    for key, role in desired.items():
        if not key.startswith("role "):
            continue
        before = {(g["connector"], g["external_id"]) for g in (existing.get(key) or {}).get("groups", [])}
        for group in role["groups"]:
            pair = (group["connector"], group["external_id"])
            if pair not in before and pair in directory.read_only:
                app_slug = key.removeprefix("role ").split("/", 1)[0]
                problems.add(
                    f"applications/{app_slug}.yaml",
                    1,
                    f"roles[{role['slug']}].groups",
                    f"{group['name']} cannot be changed by Gatehouse (the provider will not change its members).",
                )


def _people(emails: set[str]) -> dict[str, Person]:
    return {person.email.lower(): person for person in Person.objects.filter(email__in=emails)}


def apply(changes: list[Change], source: Source, actor: Actor) -> None:
    rank = {"application": 0, "role": 1, "policy": 2}

    def position(change: Change) -> tuple[bool, int]:
        removing = change.action == "remove"  # removals last, policies before their roles
        return removing, -rank[change.key.split(" ")[0]] if removing else rank[change.key.split(" ")[0]]

    ordered = sorted(changes, key=position)
    for change in ordered:
        kind, name = change.key.split(" ", 1)
        if kind == "application":
            _apply_application(change, source, actor)
        elif kind == "role":
            _apply_role(change, name, source, actor)
        else:
            _apply_scoped_policy(change, name, source, actor)


def _apply_application(change: Change, source: Source, actor: Actor) -> None:
    after = change.after
    owner = _people({after["owner"]}).get(after["owner"]) if after["owner"] else None
    app, created = Application.objects.update_or_create(
        slug=after["slug"],
        defaults={
            "name": after["name"],
            "description": after["description"],
            "owner": owner,
            "status": after["status"],
            "risk_tier": after["risk_tier"],
            "provisioning_mode": after["provisioning_mode"],
        },
    )
    verb = "created" if created else "changed"
    record(
        f"catalog.application.{verb}",
        f"Application {app.name} {verb} from catalog files.",
        actor=actor,
        application=app,
        data={**change.as_data(), "source": source.as_data()},
    )


def _apply_role(change: Change, name: str, source: Source, actor: Actor) -> None:
    app_slug, role_slug = name.split("/", 1)
    app = Application.objects.get(slug=app_slug)
    if change.after is None:
        Role.objects.filter(application=app, slug=role_slug).delete()
        verb = "deleted"
    else:
        after = change.after
        role, created = Role.objects.update_or_create(
            application=app,
            slug=role_slug,
            defaults={
                "name": after["name"],
                "description": after["description"],
                "requestable": after["requestable"],
                "allowed_durations": after["allowed_durations"],
                "duration_required": after["duration_required"],
                "break_glass_allowed": after["break_glass_allowed"],
                **{field: parse_iso_duration(after[field]) if after[field] else None for field in DURATION_FIELDS},
            },
        )
        _set_groups(role, after["groups"])
        verb = "created" if created else "changed"
    record(
        f"catalog.role.{verb}",
        f"Role {app.name} / {role_slug} {verb} from catalog files.",
        actor=actor,
        application=app,
        data={**change.as_data(), "source": source.as_data()},
    )


def _set_groups(role: Role, groups: list[dict[str, str]]) -> None:
    wanted = {(group["connector"], group["external_id"]) for group in groups}
    mappings = list(role.group_mappings.select_related("group"))
    stale = [m.pk for m in mappings if (m.group.connector, m.group.external_id) not in wanted]
    RoleGroup.objects.filter(pk__in=stale).delete()
    have = {(m.group.connector, m.group.external_id) for m in mappings}
    for connector, external_id in sorted(wanted - have):
        group = IdpGroup.objects.get(connector=connector, external_id=external_id)
        RoleGroup.objects.create(role=role, group=group)


def _apply_scoped_policy(change: Change, name: str, source: Source, actor: Actor) -> None:
    if "/" in name:
        app_slug, role_slug = name.split("/", 1)
        scope = {"role": Role.objects.get(application__slug=app_slug, slug=role_slug)}
    else:
        scope = {"application": Application.objects.get(slug=name)}
    apply_policy(change, scope, source, actor)


def describe(change: Change) -> list[str]:
    if change.key.startswith("policy "):
        return describe_policy(change)
    return describe_fields(change)


register_kind(
    FileKind(
        name="catalog",
        order=10,
        owns=lambda path: path.startswith("applications/"),
        current=current,
        files=files,
        read=read,
        apply=apply,
        describe=describe,
    )
)
