"""The requestable catalog as the request form's cascading select (parent = application, child = role).

Publishing is a diff against the field context's options: new entries are added, renamed ones
updated, retired or non-requestable ones disabled (never deleted: old issues keep their value),
and options put in the catalog's order. Running it twice changes nothing the second time.
Which option stands for which entry is kept in `JiraCatalogOption`; an option with the right
label and no owner is adopted (a form IT filled by hand).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from catalog.models import Application, Role
from governance.grants.selectors import requestable_applications
from governance.jira.client import JiraClient, jira_config
from governance.jira.queue import _create
from governance.models import JiraCatalogOption, JiraUpdate

NEW = "(new)"


def catalog_field() -> tuple[str, str] | None:
    """`(JIRA_CATALOG_FIELD_ID, JIRA_CATALOG_CONTEXT_ID)`, or None when publishing is not configured."""
    field_id = getattr(settings, "JIRA_CATALOG_FIELD_ID", "")
    context_id = getattr(settings, "JIRA_CATALOG_CONTEXT_ID", "")
    return (field_id, context_id) if field_id and context_id else None


def queue_publication() -> JiraUpdate | None:
    """Queue one publication (coalesced: at most one waits); None when Jira or the field is not configured."""
    if jira_config() is None or catalog_field() is None:
        return None
    kind = JiraUpdate.Kind.PUBLISH_CATALOG
    waiting = JiraUpdate.objects.filter(kind=kind, status=JiraUpdate.Status.QUEUED).first()
    return waiting or _create(kind, "", {"field": list(catalog_field())}, None)


@dataclass
class _Publication:
    client: JiraClient
    field_id: str
    context_id: str
    dry_run: bool
    options: list[dict]
    mapped: dict[tuple[int, int | None], str]
    changes: list[str] = field(default_factory=list)
    used: set[str] = field(default_factory=set)
    updates: dict[str, dict] = field(default_factory=dict)
    keep: dict[tuple[int, int | None], str] = field(default_factory=dict)

    def siblings(self, parent_id: str | None) -> list[dict]:
        return [o for o in self.options if o.get("optionId") == parent_id]

    def find(self, key: tuple[int, int | None], label: str, parent_id: str | None) -> dict | None:
        siblings = [o for o in self.siblings(parent_id) if o["id"] not in self.used]
        by_mapping = next((o for o in siblings if o["id"] == self.mapped.get(key)), None)
        return by_mapping or next((o for o in siblings if o["value"] == label), None)

    def ensure(self, key: tuple[int, int | None], label: str, parent_id: str | None, where: str) -> str:
        """The option id standing for `key`, created, renamed or re-enabled as needed."""
        option = self.find(key, label, parent_id)
        if option is None:
            self.changes.append(f"add {where}")
            option_id = NEW if self.dry_run or parent_id == NEW else self._create(label, parent_id)
        else:
            option_id = option["id"]
            update: dict = {}
            if option["value"] != label:
                self.changes.append(f"rename {option['value']!r} → {label!r}")
                update["value"] = label
            if option.get("disabled"):
                self.changes.append(f"enable {where}")
                update["disabled"] = False
            if update:
                self.updates[option_id] = {"id": option_id, **update}
        if option_id != NEW:
            self.used.add(option_id)
            self.keep[key] = option_id
        return option_id

    def _create(self, label: str, parent_id: str | None) -> str:
        entry = {"value": label, **({"optionId": parent_id} if parent_id else {})}
        created = self.client.create_field_options(self.field_id, self.context_id, [entry])[0]
        self.options.append(created)
        return created["id"]

    def order(self, parent_id: str | None, wanted: list[str], where: str) -> None:
        wanted = [option_id for option_id in wanted if option_id != NEW]
        current = [o["id"] for o in self.siblings(parent_id) if o["id"] in wanted]
        if current != wanted:
            self.changes.append(f"reorder {where}")
            if not self.dry_run:
                self.client.move_field_options(self.field_id, self.context_id, wanted)

    def disable_the_rest(self) -> None:
        for option in self.options:
            if option["id"] not in self.used and not option.get("disabled"):
                parent = next((o["value"] for o in self.options if o["id"] == option.get("optionId")), None)
                self.changes.append(f"disable {parent + ' / ' if parent else ''}{option['value']}")
                self.updates[option["id"]] = {"id": option["id"], "disabled": True}


def publish(client: JiraClient, *, dry_run: bool = False) -> list[str]:
    """Bring the field's options in line with the requestable catalog; returns the changes, readable."""
    field_id, context_id = catalog_field()
    mapped = {
        (row.application_id, row.role_id): row.option_id
        for row in JiraCatalogOption.objects.filter(field_id=field_id, context_id=context_id)
    }
    run = _Publication(client, field_id, context_id, dry_run, client.list_field_options(field_id, context_id), mapped)
    parents: list[str] = []
    children: dict[str, tuple[list[str], str]] = {}
    for app in requestable_applications():
        parent_id = run.ensure((app.pk, None), app.name, None, app.name)
        parents.append(parent_id)
        roles = [run.ensure((app.pk, r.pk), r.name, parent_id, f"{app.name} / {r.name}") for r in app.requestable_roles]
        children[parent_id] = (roles, app.name)
    run.disable_the_rest()
    if run.updates and not dry_run:
        client.update_field_options(field_id, context_id, list(run.updates.values()))
    run.order(None, parents, "applications")
    for parent_id, (roles, name) in children.items():
        if parent_id != NEW:
            run.order(parent_id, roles, f"roles of {name}")
    if not dry_run:
        _remember(field_id, context_id, run.keep)
    return run.changes


def _remember(field_id: str, context_id: str, keep: dict[tuple[int, int | None], str]) -> None:
    with transaction.atomic():
        JiraCatalogOption.objects.filter(field_id=field_id, context_id=context_id).delete()
        JiraCatalogOption.objects.bulk_create(
            JiraCatalogOption(
                field_id=field_id, context_id=context_id, application_id=app_id, role_id=role_id, option_id=option_id
            )
            for (app_id, role_id), option_id in keep.items()
        )


def resolve_choice(parent: str, child: str) -> tuple[str, str] | tuple[None, str]:
    """Map the field's value (option labels or ids, as Jira Automation sends them) to the
    application and role slugs; `(None, field)` names the part that matched nothing."""
    app = _match_application(parent.strip())
    if app is None:
        return None, "catalog_application"
    role = _match_role(app, child.strip())
    if role is None:
        return None, "catalog_role"
    return app.slug, role.slug


def _match_application(value: str) -> Application | None:
    option = JiraCatalogOption.objects.filter(option_id=value, role__isnull=True).select_related("application").first()
    if option is not None:
        return option.application
    return Application.objects.filter(name=value, status=Application.Status.APPROVED).order_by("pk").first()


def _match_role(app: Application, value: str) -> Role | None:
    option = JiraCatalogOption.objects.filter(option_id=value, application=app, role__isnull=False).first()
    if option is not None:
        return option.role
    return Role.objects.filter(application=app, name=value).order_by("pk").first()
