"""Launch's snapshot: who holds what in the campaign's scope, built in bulk (a fixed number of queries).

Three sources: live Gatehouse grants of the scoped roles, provider memberships of their mapped
groups that no live grant explains (drift), and uploaded account lists for applications without
mapped groups. Every item gets its reviewer and its recommendation here.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime

from django.db.models import Q, QuerySet

from catalog.models import Application, GroupMembership, Person, Role, RoleGroup
from governance.errors import InvalidInput
from governance.models import ApprovalDecision, AuditEvent, Grant
from reviews.campaigns.accounts_import import ImportedAccount
from reviews.campaigns.recommend import Facts, recommend
from reviews.models import ReviewCampaign, ReviewerStrategy, ReviewItem

BATCH = 2000
S = ReviewItem.Source


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
    strategy, named = ctx.overrides.get(app_id, (campaign.reviewer_strategy, campaign.named_reviewer_id))
    if strategy == ReviewerStrategy.NAMED and named is None:
        named = campaign.named_reviewer_id
    person = ctx.people.get(person_id) if person_id else None
    candidate = {
        ReviewerStrategy.MANAGER: person["manager_id"] if person else None,
        ReviewerStrategy.APP_OWNER: ctx.apps[app_id]["owner_id"],
        ReviewerStrategy.NAMED: named,
    }[strategy]
    label = ReviewerStrategy(strategy).label.lower()
    if candidate is None or ctx.people.get(candidate, {}).get("status") != Person.Status.ACTIVE:
        return _fallback(ctx, person_id, app_id, f"no active {label}")
    if candidate == person_id and not campaign.allow_self_review:
        return _fallback(ctx, person_id, app_id, "self-review is not allowed")
    return candidate, label


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


def _item(ctx: Context, *, person_id: int | None, app_id: int, facts: Facts, **fields) -> ReviewItem:
    reviewer_id, note = _route(ctx, person_id, app_id)
    recommendation, reason = recommend(facts, now=ctx.now, inactivity_days=ctx.campaign.inactivity_days)
    return ReviewItem(
        campaign=ctx.campaign,
        person_id=person_id,
        application_id=app_id,
        reviewer_id=reviewer_id,
        routing_note=note,
        recommendation=recommendation,
        recommendation_reason=reason[:500],
        department_at_grant=facts.department_at_grant,
        last_login_at=facts.last_login_at,
        **fields,
    )


def _granted_via(ctx: Context, grant: dict) -> str:
    if not grant["request_id"]:
        return f"grant #{grant['id']} (no request)"
    key = grant["request__jira_issue_key"] or f"request #{grant['request_id']}"
    if grant["request__auto_approval_rule__name"]:
        return f"{key}, approved automatically by rule {grant['request__auto_approval_rule__name']}"[:300]
    approvers = ctx.approvers.get(grant["request_id"]) or []
    return (f"{key}, approved by {', '.join(approvers)}" if approvers else key)[:300]


def grant_items(ctx: Context, live: QuerySet[Grant], skip_apps: set[int]) -> Iterator[ReviewItem]:
    values = live.values(
        "id",
        "person_id",
        "role_id",
        "starts_at",
        "created_at",
        "request_id",
        "request__jira_issue_key",
        "request__auto_approval_rule__name",
    )
    for grant in values.iterator(chunk_size=BATCH):
        role = ctx.roles[grant["role_id"]]
        if role["application_id"] in skip_apps:
            continue  # an uploaded account list covers this application (matched to grants there)
        person = ctx.people[grant["person_id"]]
        facts = Facts(
            in_directory=True,
            status=person["status"],
            last_login_at=person["last_login_at"],
            granted_through_gatehouse=True,
            department=person["department"],
            department_at_grant=ctx.department_at_grant.get(grant["id"], ""),
        )
        yield _item(
            ctx,
            person_id=person["id"],
            app_id=role["application_id"],
            facts=facts,
            account_email=person["email"],
            account_name=person["name"],
            role_id=role["id"],
            role_label=role["name"],
            grant_id=grant["id"],
            groups_label=", ".join(role["groups"])[:500],
            source=S.GATEHOUSE_GRANT,
            status_at_snapshot=person["status"],
            department=person["department"],
            title=person["title"],
            granted_via=_granted_via(ctx, grant),
            granted_at=grant["starts_at"] or grant["created_at"],
        )


def drift_items(ctx: Context) -> Iterator[ReviewItem]:
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
    explained = set(
        Grant.objects.filter(status__in=Grant.LIVE, role__group_mappings__group__in=scoped_groups).values_list(
            "person_id", "role__group_mappings__group_id"
        )
    )
    memberships = GroupMembership.objects.filter(group__in=scoped_groups)
    if ctx.campaign.person_id:
        memberships = memberships.filter(person_id=ctx.campaign.person_id)
    memberships = memberships.values_list("person_id", "group_id", "group__name", "since")
    for person_id, group_id, group_name, since in memberships.iterator(chunk_size=BATCH):
        if (person_id, group_id) in explained:
            continue
        role_id, app_id = group_owner[group_id]
        person = ctx.people[person_id]
        facts = Facts(
            in_directory=True,
            status=person["status"],
            last_login_at=person["last_login_at"],
            granted_through_gatehouse=False,
            department=person["department"],
            department_at_grant="",
        )
        yield _item(
            ctx,
            person_id=person_id,
            app_id=app_id,
            facts=facts,
            account_email=person["email"],
            account_name=person["name"],
            role_id=role_id,
            role_label=ctx.roles[role_id]["name"],
            group_id=group_id,
            groups_label=group_name,
            source=S.PROVIDER_MEMBERSHIP,
            status_at_snapshot=person["status"],
            department=person["department"],
            title=person["title"],
            granted_via=f"found in the provider group {group_name}"[:300],
            granted_at=since,
        )


def imported_items(
    ctx: Context, app_id: int, accounts: list[ImportedAccount], live: QuerySet[Grant]
) -> Iterator[ReviewItem]:
    """One item per imported account; matched to the directory by email and to a live grant by role."""
    app_roles = {r["id"]: r for r in ctx.roles.values() if r["application_id"] == app_id}
    by_label = {}
    for role in app_roles.values():
        by_label[role["slug"].lower()] = role
        by_label[role["name"].lower()] = role
    grants = {
        (g["person_id"], g["role_id"]): g
        for g in live.filter(role__application_id=app_id).values(
            "id",
            "person_id",
            "role_id",
            "starts_at",
            "created_at",
            "request_id",
            "request__jira_issue_key",
            "request__auto_approval_rule__name",
        )
    }
    for account in accounts:
        person_id = ctx.people_by_email.get(account.email)
        person = ctx.people.get(person_id) if person_id else None
        role = by_label.get(account.role.lower())
        grant = grants.get((person_id, role["id"])) if person and role else None
        status = account.status if account.status in ("suspended", "deprovisioned") else ""
        status = status or (person["status"] if person else account.status)
        department = account.department or (person["department"] if person else "")
        facts = Facts(
            in_directory=person is not None,
            status=status,
            last_login_at=account.last_login or (person["last_login_at"] if person else None),
            granted_through_gatehouse=grant is not None,
            department=department,
            department_at_grant=ctx.department_at_grant.get(grant["id"], "") if grant else "",
        )
        yield _item(
            ctx,
            person_id=person_id,
            app_id=app_id,
            facts=facts,
            account_email=account.email,
            account_name=account.name,
            role_id=role["id"] if role else None,
            role_label=(role["name"] if role else account.role)[:200],
            grant_id=grant["id"] if grant else None,
            source=S.CSV_IMPORT,
            status_at_snapshot=status,
            department=department,
            title=account.title or (person["title"] if person else ""),
            granted_via=_granted_via(ctx, grant) if grant else f"imported account list (line {account.line})",
            granted_at=(grant["starts_at"] or grant["created_at"]) if grant else None,
        )
