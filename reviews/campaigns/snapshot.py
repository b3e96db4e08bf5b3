"""Launch's snapshot: who holds what in the campaign's scope, built in bulk (a fixed number of queries).

Three sources: live Gatehouse grants of the scoped roles, provider memberships of their mapped
groups that no live grant explains (drift), and uploaded account lists for applications without
mapped groups. Every item gets its reviewer and its recommendation here. Items are plain tuples
(`ROW_FIELDS`) made from `.values_list()` rows, for `lib.bulk.insert_values`: no model instance
per item; a recommendation is worked out once per distinct set of facts.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, QuerySet
from django.db.models.functions import Coalesce

from catalog.models import Application, Person, Role, RoleGroup
from governance.errors import InvalidInput
from governance.models import ApprovalDecision, AuditEvent, Grant
from governance.services import unexplained_memberships
from reviews.campaigns.accounts_import import ImportedAccount
from reviews.campaigns.recommend import Facts, recommend
from reviews.models import ReviewCampaign, ReviewerStrategy, ReviewItem

BATCH = 2000
GRANTED = str(ReviewItem.Source.GATEHOUSE_GRANT.value)
DRIFT = str(ReviewItem.Source.PROVIDER_MEMBERSHIP.value)
IMPORTED = str(ReviewItem.Source.CSV_IMPORT.value)
#: What an item reads of a live grant (and `_granted_via` of its request), in this order; `granted`
#: is when it started (or was made), worked out by the database: one time to read per grant.
GRANT_FIELDS = (
    "id",
    "person_id",
    "role_id",
    "granted",
    "request_id",
    "request__jira_issue_key",
    "request__auto_approval_rule__name",
)
#: The columns of a snapshot row, in the order the item generators yield them.
ROW_FIELDS = (
    "campaign_id",
    "person_id",
    "application_id",
    "role_id",
    "grant_id",
    "group_id",
    "account_email",
    "account_name",
    "role_label",
    "groups_label",
    "source",
    "status_at_snapshot",
    "department",
    "title",
    "granted_via",
    "granted_at",
    "department_at_grant",
    "last_login_at",
    "reviewer_id",
    "routing_note",
    "recommendation",
    "recommendation_reason",
)


def scoped_roles(campaign: ReviewCampaign) -> QuerySet[Role]:
    """Every role of the scoped applications, plus the scoped roles (a subquery, never an id list)."""
    return Role.objects.filter(
        Q(application__in=campaign.applications.all()) | Q(pk__in=campaign.roles.values("pk"))
    ).distinct()


def applications_without_groups(campaign: ReviewCampaign) -> list[Application]:
    """Scoped applications none of whose scoped roles maps to a group: they need an account list."""
    roles = scoped_roles(campaign)
    mapped = RoleGroup.objects.filter(role__in=roles).values("role__application_id")
    return list(Application.objects.filter(roles__in=roles).exclude(pk__in=mapped).distinct().order_by("name"))


@dataclass
class Context:
    """Everything the snapshot reads, loaded once."""

    campaign: ReviewCampaign
    now: datetime
    people: dict[int, dict] = field(default_factory=dict)
    people_by_email: dict[str, int] = field(default_factory=dict)
    apps: dict[int, dict] = field(default_factory=dict)
    roles: dict[int, dict] = field(default_factory=dict)
    overrides: dict[int, tuple[str, int | None]] = field(default_factory=dict)
    approvers: dict[int, list[str]] = field(default_factory=lambda: defaultdict(list))
    department_at_grant: dict[int, str] = field(default_factory=dict)
    routing: dict[int, tuple[str, int | None, str]] = field(default_factory=dict)  # per application
    verdicts: dict[tuple, tuple[str, str]] = field(default_factory=dict)  # per distinct facts


def load_context(campaign: ReviewCampaign, now: datetime, live: QuerySet[Grant]) -> Context:
    ctx = Context(campaign=campaign, now=now)
    fields = ("id", "email", "name", "department", "title", "status", "last_login_at", "manager_id")
    for row in Person.objects.values(*fields).iterator(chunk_size=5000):
        ctx.people[row["id"]] = row
        ctx.people_by_email[row["email"].lower()] = row["id"]
    roles = scoped_roles(campaign)
    for app in Application.objects.filter(roles__in=roles).distinct().values("id", "name", "owner_id"):
        ctx.apps[app["id"]] = app
    for role in Role.objects.filter(pk__in=roles.values("pk")).values("id", "application_id", "name", "slug"):
        ctx.roles[role["id"]] = {**role, "groups": []}
    for role_id, group_name in RoleGroup.objects.filter(role__in=roles).values_list("role_id", "group__name"):
        ctx.roles[role_id]["groups"].append(group_name)
    for role in ctx.roles.values():
        role["groups_label"] = ", ".join(role["groups"])[:500]
    for o in campaign.overrides.values("application_id", "reviewer_strategy", "named_reviewer_id"):
        ctx.overrides[o["application_id"]] = (o["reviewer_strategy"], o["named_reviewer_id"])
    approved = ApprovalDecision.objects.filter(approved=True, step__request__grant__in=live)
    for request_id, email in approved.values_list("step__request_id", "person__email"):
        ctx.approvers[request_id].append(email or "admin")
    # The beneficiary's department when the access was granted: the request's audit record when it
    # carries one, else the department an earlier campaign recorded for the same grant.
    earlier = ReviewItem.objects.filter(grant__in=live).exclude(department="").order_by("-grant_id", "-id")
    for grant_id, department in earlier.values_list("grant_id", "department").iterator(chunk_size=5000):
        ctx.department_at_grant[grant_id] = department
    submitted = AuditEvent.objects.filter(
        action="request.submitted", request__grant__in=live, data__has_key="department"
    ).values_list("request__grant__id", "data__department")
    for grant_id, department in submitted:
        if department:
            ctx.department_at_grant[grant_id] = str(department)
    return ctx


def _route(ctx: Context, person_id: int | None, app_id: int) -> tuple[int, str]:
    """(reviewer id, how they were chosen)."""
    campaign = ctx.campaign
    strategy, named, label = _app_routing(ctx, app_id)
    if strategy == ReviewerStrategy.MANAGER:
        person = ctx.people.get(person_id) if person_id else None
        candidate = person["manager_id"] if person else None
    elif strategy == ReviewerStrategy.APP_OWNER:
        candidate = ctx.apps[app_id]["owner_id"]
    else:
        candidate = named
    if candidate is None or ctx.people.get(candidate, {}).get("status") != Person.Status.ACTIVE:
        return _fallback(ctx, person_id, app_id, f"no active {label}")
    if candidate == person_id and not campaign.allow_self_review:
        return _fallback(ctx, person_id, app_id, "self-review is not allowed")
    return candidate, label


def _app_routing(ctx: Context, app_id: int) -> tuple[str, int | None, str]:
    """(strategy, named reviewer, the strategy's name in a routing note) of one application."""
    routing = ctx.routing.get(app_id)
    if routing is None:
        campaign = ctx.campaign
        strategy, named = ctx.overrides.get(app_id, (campaign.reviewer_strategy, campaign.named_reviewer_id))
        if strategy == ReviewerStrategy.NAMED and named is None:
            named = campaign.named_reviewer_id
        routing = ctx.routing[app_id] = (strategy, named, ReviewerStrategy(strategy).label.lower())
    return routing


def _fallback(ctx: Context, person_id: int | None, app_id: int, why: str) -> tuple[int, str]:
    """The fallback reviewer, unless that is the person reviewed: then the application owner."""
    campaign = ctx.campaign
    fallback = campaign.fallback_reviewer_id
    if fallback != person_id or campaign.allow_self_review:
        return fallback, f"fallback reviewer: {why}"
    owner = ctx.apps[app_id]["owner_id"]
    if owner and owner != person_id and ctx.people.get(owner, {}).get("status") == Person.Status.ACTIVE:
        return owner, f"application owner: {why}, and the fallback reviewer is the person reviewed"
    raise InvalidInput(
        f"Nobody but the person themselves can review {ctx.people.get(person_id, {}).get('email', 'a person')}'s "
        f"access: set another fallback reviewer.",
        field="fallback_reviewer",
    )


def _verdict(ctx: Context, facts: tuple) -> tuple[str, str]:
    """The recommendation and its reason for `facts` (Facts' fields, in order), worked out once
    per distinct set of facts: a person's items mostly share theirs."""
    verdict = ctx.verdicts.get(facts)
    if verdict is None:
        recommendation, reason = recommend(Facts(*facts), now=ctx.now, inactivity_days=ctx.campaign.inactivity_days)
        verdict = ctx.verdicts[facts] = (recommendation, reason[:500])
    return verdict


def _row(ctx: Context, person_id: int | None, app_id: int, facts: tuple, described: tuple) -> tuple:
    """One snapshot row in ROW_FIELDS order: `described` holds the item's fields from `role_id`
    to `granted_at`; routing and recommendation are added here."""
    reviewer_id, note = _route(ctx, person_id, app_id)
    recommendation, reason = _verdict(ctx, facts)
    department_at_grant, last_login_at = facts[5], facts[2]
    return (
        ctx.campaign.pk,
        person_id,
        app_id,
        *described,
        department_at_grant,
        last_login_at,
        reviewer_id,
        note,
        recommendation,
        reason,
    )


def _granted_via(ctx: Context, grant: tuple) -> str:
    grant_id, request_id, key, rule = grant[0], grant[4], grant[5], grant[6]
    if not request_id:
        return f"grant #{grant_id} (no request)"
    key = key or f"request #{request_id}"
    if rule:
        return f"{key}, approved automatically by rule {rule}"[:300]
    approvers = ctx.approvers.get(request_id) or []
    return (f"{key}, approved by {', '.join(approvers)}" if approvers else key)[:300]


def _grant_rows(live: QuerySet[Grant]) -> QuerySet:
    return live.annotate(granted=Coalesce("starts_at", "created_at")).values_list(*GRANT_FIELDS)


def grant_items(ctx: Context, live: QuerySet[Grant], skip_apps: set[int]) -> Iterator[tuple]:
    """A row per live grant of the scoped roles."""
    for grant in _grant_rows(live).iterator(chunk_size=BATCH):
        grant_id, person_id, role_id, granted_at = grant[:4]
        role = ctx.roles[role_id]
        app_id = role["application_id"]
        if app_id in skip_apps:
            continue  # an uploaded account list covers this application (matched to grants there)
        person = ctx.people[person_id]
        status, department = person["status"], person["department"]
        facts = (True, status, person["last_login_at"], True, department, ctx.department_at_grant.get(grant_id, ""))
        described = (
            role_id,
            grant_id,
            None,
            person["email"],
            person["name"],
            role["name"],
            role["groups_label"],
            GRANTED,
            status,
            department,
            person["title"],
            _granted_via(ctx, grant),
            granted_at,
        )
        yield _row(ctx, person_id, app_id, facts, described)


def drift_items(ctx: Context) -> Iterator[tuple]:
    """Memberships of the scoped groups that no live grant (of any role) explains."""
    roles = scoped_roles(ctx.campaign)
    # group -> (role, app): the narrowest scoped role mapping it (fewest groups), so a membership of
    # "readers" reads as the reader role rather than the editor role that also includes it.
    group_owner: dict[int, tuple[int, int]] = {}
    mappings = RoleGroup.objects.filter(role__in=roles).order_by("id")
    for group_id, role_id, app_id in mappings.values_list("group_id", "role_id", "role__application_id"):
        current = group_owner.get(group_id)
        if current is None or len(ctx.roles[role_id]["groups"]) < len(ctx.roles[current[0]]["groups"]):
            group_owner[group_id] = (role_id, app_id)
    scoped_groups = RoleGroup.objects.filter(role__in=roles).values("group_id")
    memberships = unexplained_memberships(scoped_groups)
    if ctx.campaign.person_id:
        memberships = memberships.filter(person_id=ctx.campaign.person_id)
    memberships = memberships.values_list("person_id", "group_id", "group__name", "since")
    for person_id, group_id, group_name, since in memberships.iterator(chunk_size=BATCH):
        role_id, app_id = group_owner[group_id]
        person = ctx.people[person_id]
        status, department = person["status"], person["department"]
        facts = (True, status, person["last_login_at"], False, department, "")
        described = (
            role_id,
            None,
            group_id,
            person["email"],
            person["name"],
            ctx.roles[role_id]["name"],
            group_name,
            DRIFT,
            status,
            department,
            person["title"],
            f"found in the provider group {group_name}"[:300],
            since,
        )
        yield _row(ctx, person_id, app_id, facts, described)


def imported_items(
    ctx: Context, app_id: int, accounts: list[ImportedAccount], live: QuerySet[Grant]
) -> Iterator[tuple]:
    """One row per imported account; matched to the directory by email and to a live grant by role."""
    app_roles = {r["id"]: r for r in ctx.roles.values() if r["application_id"] == app_id}
    by_label = {}
    for role in app_roles.values():
        by_label[role["slug"].lower()] = role
        by_label[role["name"].lower()] = role
    grants = {(g[1], g[2]): g for g in _grant_rows(live.filter(role__application_id=app_id))}
    for account in accounts:
        person_id = ctx.people_by_email.get(account.email)
        person = ctx.people.get(person_id) if person_id else None
        role = by_label.get(account.role.lower())
        grant = grants.get((person_id, role["id"])) if person and role else None
        status = account.status if account.status in ("suspended", "deprovisioned") else ""
        status = status or (person["status"] if person else account.status)
        department = account.department or (person["department"] if person else "")
        facts = (
            person is not None,
            status,
            account.last_login or (person["last_login_at"] if person else None),
            grant is not None,
            department,
            ctx.department_at_grant.get(grant[0], "") if grant else "",
        )
        described = (
            role["id"] if role else None,
            grant[0] if grant else None,
            None,
            account.email,
            account.name,
            (role["name"] if role else account.role)[:200],
            "",
            IMPORTED,
            status,
            department,
            account.title or (person["title"] if person else ""),
            _granted_via(ctx, grant) if grant else f"imported account list (line {account.line})",
            grant[3] if grant else None,
        )
        yield _row(ctx, person_id, app_id, facts, described)
