"""`policies/review-templates.yaml`: recurring reviews in catalog-as-code (registered with governance)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import Q
from django.utils.dateparse import parse_datetime

from catalog.models import Application, Person, Role
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
from governance.catalog_code.yamlio import Marked
from reviews.campaigns.recurring import SCOPE_REQUIRED, schedule_template
from reviews.models import Recurrence, ReviewerStrategy, ReviewTemplate, UndecidedAction

TEMPLATES_FILE = "policies/review-templates.yaml"
FIELDS = (
    "name",
    "recurrence",
    "starts_at",
    "duration_days",
    "applications",
    "roles",
    "privileged_applications",
    "reviewer_strategy",
    "named_reviewer",
    "fallback_reviewer",
    "allow_self_review",
    "undecided_action",
    "inactivity_days",
    "reminder_every_days",
    "escalate_days_before_due",
)
#: Fields copied between the model and the entity as they are.
PLAIN = (
    "recurrence",
    "duration_days",
    "privileged_applications",
    "reviewer_strategy",
    "allow_self_review",
    "undecided_action",
    "inactivity_days",
    "reminder_every_days",
    "escalate_days_before_due",
)


def timestamp(moment: datetime) -> str:
    """A start as the files write it: UTC, to the second, e.g. 2026-04-01T09:00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def current() -> Entities:
    templates = (
        ReviewTemplate.objects.filter(is_active=True)
        .select_related("named_reviewer", "fallback_reviewer")
        .prefetch_related("applications", "roles__application")
        .order_by("name")
    )
    return {f"template {template.name}": _entity(template) for template in templates}


def _entity(template: ReviewTemplate) -> dict[str, Any]:
    named = template.named_reviewer
    return {
        "name": template.name,
        "recurrence": template.recurrence,
        "starts_at": timestamp(template.starts_at),
        "duration_days": template.duration_days,
        "applications": sorted(app.slug for app in template.applications.all()),
        "roles": sorted(f"{role.application.slug}/{role.slug}" for role in template.roles.all()),
        "privileged_applications": template.privileged_applications,
        "reviewer_strategy": template.reviewer_strategy,
        "named_reviewer": named.email.lower() if named else None,
        "fallback_reviewer": template.fallback_reviewer.email.lower(),
        "allow_self_review": template.allow_self_review,
        "undecided_action": template.undecided_action,
        "inactivity_days": template.inactivity_days,
        "reminder_every_days": template.reminder_every_days,
        "escalate_days_before_due": template.escalate_days_before_due,
    }


def files(entities: Entities) -> dict[str, dict[str, Any]]:
    return {TEMPLATES_FILE: {"templates": list(entities.values())}}


def _starts_at(reader: Reader, entry: Marked) -> str:
    text = reader.text(entry, "starts_at", required=True, max_length=40)
    parsed = parse_datetime(text) if text else None
    if text and parsed is None:
        reader.fail(entry, "starts_at", "must be a date and time, e.g. 2026-04-01T09:00:00Z.")
    if parsed is None:
        return ""
    return timestamp(parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC))


def _scope(reader: Reader, entry: Marked, catalog: Entities) -> tuple[list[str], list[str]]:
    applications = sorted(set(reader.texts(entry, "applications")))
    roles = sorted(set(reader.texts(entry, "roles")))
    for slug in applications:
        if f"application {slug}" not in catalog:
            reader.fail(entry, "applications", f"unknown application {slug!r}.")
    for name in roles:
        if f"role {name}" not in catalog:
            reader.fail(entry, "roles", f"unknown role {name!r} (name roles as application/role).")
    return applications, roles


def _check_model_rules(reader: Reader, entry: Marked, template: dict[str, Any]) -> None:
    """The template model's own rules (a named reviewer for the named strategy, escalation within the duration)."""
    candidate = ReviewTemplate(
        reviewer_strategy=template["reviewer_strategy"],
        named_reviewer_id=1 if template["named_reviewer"] else None,
        duration_days=template["duration_days"],
        escalate_days_before_due=template["escalate_days_before_due"],
    )
    try:
        candidate.clean()
    except ValidationError as error:
        for field, messages in error.message_dict.items():
            reader.fail(entry, field, " ".join(messages))
    if not (template["applications"] or template["roles"] or template["privileged_applications"]):
        reader.fail(entry, "applications", SCOPE_REQUIRED)


def _read_template(reader: Reader, entry: Marked, catalog: Entities) -> dict[str, Any]:
    applications, roles = _scope(reader, entry, catalog)
    template = {
        "name": reader.text(entry, "name", required=True, max_length=160),
        "recurrence": reader.choice(entry, "recurrence", list(Recurrence.values), Recurrence.QUARTERLY),
        "starts_at": _starts_at(reader, entry),
        "duration_days": reader.integer(entry, "duration_days", 14),
        "applications": applications,
        "roles": roles,
        "privileged_applications": reader.boolean(entry, "privileged_applications", False),
        "reviewer_strategy": reader.choice(
            entry, "reviewer_strategy", list(ReviewerStrategy.values), ReviewerStrategy.MANAGER
        ),
        "named_reviewer": reader.person(entry, "named_reviewer"),
        "fallback_reviewer": reader.person(entry, "fallback_reviewer", required=True),
        "allow_self_review": reader.boolean(entry, "allow_self_review", False),
        "undecided_action": reader.choice(
            entry, "undecided_action", list(UndecidedAction.values), UndecidedAction.NOTHING
        ),
        "inactivity_days": reader.integer(entry, "inactivity_days", 90, minimum=0),
        "reminder_every_days": reader.integer(entry, "reminder_every_days", 3, minimum=0),
        "escalate_days_before_due": reader.integer(entry, "escalate_days_before_due", 2, minimum=0),
    }
    _check_model_rules(reader, entry, template)
    return template


def read(documents: dict[str, Any], context: Context, problems: Problems) -> Entities:
    desired: Entities = {}
    if TEMPLATES_FILE not in documents:  # an absent file manages nothing (deleting it removes nothing)
        context.notes.append(f"{TEMPLATES_FILE} is absent: recurring reviews are left as they are.")
        return dict(context.current["review_templates"])
    reader = Reader(TEMPLATES_FILE, problems, Directory())
    doc = reader.mapping(documents[TEMPLATES_FILE], 1, "(file)")
    if doc is None:
        return desired
    reader.only(doc, ("templates",))
    catalog = context.desired.get("catalog", {})
    for entry_reader, entry in reader.entries(doc, "templates", FIELDS):
        template = _read_template(entry_reader, entry, catalog)
        key = f"template {template['name']}"
        if key in desired:
            entry_reader.fail(entry, "name", "names a template earlier in this file already.")
        elif template["name"]:
            desired[key] = template
    return desired


def _roles(names: list[str]) -> list[Role]:
    wanted = Q(pk__in=[])
    for name in names:
        app_slug, role_slug = name.split("/", 1)
        wanted |= Q(application__slug=app_slug, slug=role_slug)
    return list(Role.objects.filter(wanted))


def _save(template: ReviewTemplate, after: dict[str, Any]) -> None:
    for field in PLAIN:
        setattr(template, field, after[field])
    template.is_active = True
    template.starts_at = parse_datetime(after["starts_at"])
    named = after["named_reviewer"]
    template.named_reviewer = Person.objects.get(email__iexact=named) if named else None
    template.fallback_reviewer = Person.objects.get(email__iexact=after["fallback_reviewer"])
    template.save()
    template.applications.set(Application.objects.filter(slug__in=after["applications"]))
    template.roles.set(_roles(after["roles"]))


def apply(changes: list[Change], source: Source, actor: Actor) -> None:
    for change in changes:
        name = change.key.removeprefix("template ")
        existing = ReviewTemplate.objects.filter(name=name).first()
        if change.after is None:
            existing.is_active = False
            existing.save(update_fields=["is_active", "updated_at"])
            verb = "deactivated"
        else:
            verb = "created" if existing is None or not existing.is_active else "changed"
            template = existing or ReviewTemplate(name=name)
            _save(template, change.after)
            existing = template
        schedule_template(template=existing)
        record(
            f"catalog.review_template.{verb}",
            f"Recurring review {name!r} {verb} from catalog files.",
            actor=actor,
            data={**change.as_data(), "source": source.as_data()},
        )


def register() -> None:
    register_kind(
        FileKind(
            name="review_templates",
            order=40,
            owns=lambda path: path == TEMPLATES_FILE,
            current=current,
            files=files,
            read=read,
            apply=apply,
            describe=describe_fields,
        )
    )
