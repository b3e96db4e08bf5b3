"""`policies/reclaim.yaml`: Auto Reclaim policies in catalog-as-code (registered with governance)."""

from __future__ import annotations

from typing import Any

from django.db.models import Prefetch, Q

from catalog.models import Application, IdpGroup, Person
from governance.audit.services import Actor, record
from governance.catalog_code.kinds import (
    Change,
    Context,
    Entities,
    FileKind,
    Problems,
    Source,
    describe_fields,
    register_kind,
)
from governance.catalog_code.schema import Directory, Reader
from reviews.reclaim.models import ReclaimPolicy
from reviews.reclaim.services import apply_policy_change

RECLAIM_FILE = "policies/reclaim.yaml"
FIELDS = (
    "application",
    "mode",
    "threshold_days",
    "grace_days",
    "warn",
    "warning_text",
    "activity_source",
    "excluded_groups",
    "excluded_people",
)


def current() -> Entities:
    policies = (
        ReclaimPolicy.objects.filter(is_active=True)
        .select_related("application")
        .prefetch_related(Prefetch("excluded_people", queryset=Person.objects.only("email")), "excluded_groups")
        .order_by("application__slug")
    )
    return {f"reclaim {policy.application.slug}": _entity(policy) for policy in policies}


def _entity(policy: ReclaimPolicy) -> dict[str, Any]:
    groups = sorted(
        (
            {"connector": g.connector, "external_id": g.external_id, "name": g.name}
            for g in policy.excluded_groups.all()
        ),
        key=lambda group: (group["connector"], group["external_id"]),
    )
    return {
        "application": policy.application.slug,
        "mode": policy.mode,
        "threshold_days": policy.threshold_days,
        "grace_days": policy.grace_days,
        "warn": policy.warn,
        "warning_text": policy.warning_text,
        "activity_source": policy.activity_source,
        "excluded_groups": groups,
        "excluded_people": sorted(person.email.lower() for person in policy.excluded_people.all()),
    }


def files(entities: Entities) -> dict[str, dict[str, Any]]:
    return {RECLAIM_FILE: {"policies": list(entities.values())}}


def read(documents: dict[str, Any], context: Context, problems: Problems) -> Entities:
    desired: Entities = {}
    if RECLAIM_FILE not in documents:  # an absent file manages nothing (deleting it removes nothing)
        context.notes.append(f"{RECLAIM_FILE} is absent: reclaim policies are left as they are.")
        return dict(context.current["reclaim"])
    reader = Reader(RECLAIM_FILE, problems, Directory())
    doc = reader.mapping(documents[RECLAIM_FILE], 1, "(file)")
    if doc is None:
        return desired
    reader.only(doc, ("policies",))
    catalog = context.desired.get("catalog", {})
    for entry_reader, entry in reader.entries(doc, "policies", FIELDS):
        policy = {
            "application": entry_reader.slug(entry, "application"),
            "mode": entry_reader.choice(entry, "mode", list(ReclaimPolicy.Mode.values), ReclaimPolicy.Mode.DRY_RUN),
            "threshold_days": entry_reader.integer(entry, "threshold_days", 90),
            "grace_days": entry_reader.integer(entry, "grace_days", 14),
            "warn": entry_reader.boolean(entry, "warn", True),
            "warning_text": entry_reader.text(entry, "warning_text", max_length=10_000),
            "activity_source": entry_reader.choice(
                entry, "activity_source", list(ReclaimPolicy.ActivitySource.values), "provider_login"
            ),
            "excluded_groups": entry_reader.groups(entry, "excluded_groups"),
            "excluded_people": entry_reader.people(entry, "excluded_people"),
        }
        if policy["warning_text"]:
            try:
                policy["warning_text"].format(name="", application="", days=0, revoke_after="")
            except (KeyError, IndexError, ValueError) as error:
                entry_reader.fail(entry, "warning_text", f"unknown placeholder {error}.")
        key = f"reclaim {policy['application']}"
        if policy["application"] and f"application {policy['application']}" not in catalog:
            entry_reader.fail(entry, "application", f"unknown application {policy['application']!r}.")
        elif key in desired:
            entry_reader.fail(entry, "application", "has a reclaim policy earlier in this file already.")
        elif policy["application"]:
            desired[key] = policy
    return desired


def apply(changes: list[Change], source: Source, actor: Actor) -> None:
    for change in changes:
        slug = change.key.removeprefix("reclaim ")
        app = Application.objects.get(slug=slug)
        existing = ReclaimPolicy.objects.filter(application=app, is_active=True).first()
        if change.after is None:
            existing.is_active = False
            existing.save(update_fields=["is_active", "updated_at"])
            apply_policy_change(policy=existing, actor=actor)
            verb = "deactivated"
        else:
            policy = existing or ReclaimPolicy(application=app)
            for field in ("mode", "threshold_days", "grace_days", "warn", "warning_text", "activity_source"):
                setattr(policy, field, change.after[field])
            policy.save()
            wanted = Q(pk__in=[])
            for group in change.after["excluded_groups"]:
                wanted |= Q(connector=group["connector"], external_id=group["external_id"])
            policy.excluded_groups.set(IdpGroup.objects.filter(wanted))
            policy.excluded_people.set(Person.objects.filter(email__in=change.after["excluded_people"]))
            if existing is not None:
                apply_policy_change(policy=policy, actor=actor)  # close the cases it no longer justifies
            verb = "created" if existing is None else "changed"
        record(
            f"catalog.reclaim_policy.{verb}",
            f"Reclaim policy of {app.name} {verb} from catalog files.",
            actor=actor,
            application=app,
            data={**change.as_data(), "source": source.as_data()},
        )


def register() -> None:
    register_kind(
        FileKind(
            name="reclaim",
            order=30,
            owns=lambda path: path == RECLAIM_FILE,
            current=current,
            files=files,
            read=read,
            apply=apply,
            describe=describe_fields,
        )
    )
