"""A fictional company to try every path: Northwind Robotics (48 people, 12 applications)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from catalog.durations import parse_iso_duration
from catalog.models import Application, GroupMembership, IdpGroup, Person, Role, RoleGroup
from governance.models import ApprovalPolicy, AutoApprovalRule, PolicyStep
from provisioning.models import LocalMembership

DOMAIN = "northwind.example"

# (handle, name, department, title, manager handle)
PEOPLE = [
    ("grace", "Grace Hopper", "Executive", "Chief Executive Officer", None),
    ("linus", "Linus Park", "Engineering", "VP Engineering", "grace"),
    ("margaret", "Margaret Chen", "Engineering", "Engineering Manager, Platform", "linus"),
    ("dennis", "Dennis Okafor", "Engineering", "Engineering Manager, Product", "linus"),
    ("ken", "Ken Adams", "Engineering", "Staff Engineer", "margaret"),
    ("barbara", "Barbara Liskov", "Engineering", "Senior Engineer", "margaret"),
    ("alan", "Alan Turing", "Engineering", "Engineer", "margaret"),
    ("ada", "Ada Lovelace", "Engineering", "Engineer", "margaret"),
    ("john", "John Backus", "Engineering", "Engineer", "dennis"),
    ("frances", "Frances Allen", "Engineering", "Senior Engineer", "dennis"),
    ("edsger", "Edsger Dijkstra", "Engineering", "Engineer", "dennis"),
    ("radia", "Radia Perlman", "Engineering", "Site Reliability Engineer", "margaret"),
    ("sophie", "Sophie Wilson", "Engineering", "Contract Engineer", "dennis"),
    ("priya", "Priya Raman", "IT", "Head of IT", "grace"),
    ("tom", "Tom Kilburn", "IT", "IT Administrator", "priya"),
    ("hedy", "Hedy Lamarr", "IT", "Helpdesk Analyst", "priya"),
    ("whit", "Whitfield Diffie", "Security", "Head of Security", "grace"),
    ("martin", "Martin Hellman", "Security", "Security Engineer", "whit"),
    ("shafi", "Shafi Goldwasser", "Security", "Security Analyst", "whit"),
    ("marc", "Marc Benioff", "Sales", "VP Sales", "grace"),
    ("sally", "Sally Ride", "Sales", "Sales Manager", "marc"),
    ("neil", "Neil Armstrong", "Sales", "Account Executive", "sally"),
    ("buzz", "Buzz Aldrin", "Sales", "Account Executive", "sally"),
    ("mae", "Mae Jemison", "Sales", "Sales Development Rep", "sally"),
    ("valentina", "Valentina Tereshkova", "Sales", "Account Executive", "sally"),
    ("yuri", "Yuri Gagarin", "Sales", "Sales Engineer", "marc"),
    ("luca", "Luca Pacioli", "Finance", "Chief Financial Officer", "grace"),
    ("mary", "Mary Somerville", "Finance", "Controller", "luca"),
    ("emmy", "Emmy Noether", "Finance", "Accountant", "mary"),
    ("carl", "Carl Gauss", "Finance", "Accounts Payable Clerk", "mary"),
    ("sofia", "Sofia Kovalevskaya", "Finance", "Financial Analyst", "luca"),
    ("katherine", "Katherine Johnson", "Support", "Head of Support", "grace"),
    ("dorothy", "Dorothy Vaughan", "Support", "Support Lead", "katherine"),
    ("mary2", "Mary Jackson", "Support", "Support Agent", "dorothy"),
    ("christine", "Christine Darden", "Support", "Support Agent", "dorothy"),
    ("annie", "Annie Easley", "Support", "Support Agent", "dorothy"),
    ("melba", "Melba Roy", "Support", "Contract Support Agent", "dorothy"),
    ("don", "Don Draper", "Marketing", "Head of Marketing", "grace"),
    ("peggy", "Peggy Olson", "Marketing", "Copywriter", "don"),
    ("joan", "Joan Holloway", "Marketing", "Marketing Operations", "don"),
    ("paul", "Paul Rand", "Marketing", "Designer", "don"),
    ("susan", "Susan Kare", "Marketing", "Designer", "don"),
    ("ruth", "Ruth Handler", "People", "Head of People", "grace"),
    ("frank", "Frank Gilbreth", "People", "HR Business Partner", "ruth"),
    ("lillian", "Lillian Gilbreth", "People", "Recruiter", "ruth"),
    ("charles", "Charles Babbage", "Engineering", "Engineer (on leave)", "margaret"),
    ("herman", "Herman Hollerith", "Sales", "Former Account Executive", "sally"),
    ("claude", "Claude Shannon", "Engineering", "Principal Engineer", "linus"),
]
CONTRACTORS = {"sophie", "melba"}
SUSPENDED = {"charles"}
DEPROVISIONED = {"herman"}

# slug, name, owner, risk, mode, status, [(role slug, name, durations, max, required, groups)]
APPS = [
    (
        "wiki",
        "Team Wiki",
        "priya",
        "low",
        "automatic",
        "approved",
        [
            ("reader", "Reader", [], None, None, ["wiki-readers"]),
            ("editor", "Editor", [], None, None, ["wiki-readers", "wiki-editors"]),
        ],
    ),
    (
        "figma",
        "Figma",
        "don",
        "low",
        "automatic",
        "approved",
        [
            ("viewer", "Viewer", [], None, None, ["figma-viewers"]),
            ("editor", "Editor", ["P30D", "P90D"], "P90D", None, ["figma-editors"]),
        ],
    ),
    (
        "github",
        "GitHub",
        "margaret",
        "medium",
        "automatic",
        "approved",
        [
            ("member", "Member", [], None, None, ["github-members"]),
            ("maintainer", "Maintainer", ["P7D", "P30D"], "P90D", None, ["github-members", "github-maintainers"]),
        ],
    ),
    (
        "zendesk",
        "Zendesk",
        "katherine",
        "medium",
        "automatic",
        "approved",
        [
            ("agent", "Agent", [], None, None, ["zendesk-agents"]),
            ("admin", "Administrator", ["P1D", "P7D"], "P7D", True, ["zendesk-admins"]),
        ],
    ),
    (
        "datadog",
        "Datadog",
        "radia",
        "medium",
        "automatic",
        "approved",
        [
            ("viewer", "Viewer", [], None, None, ["datadog-viewers"]),
            ("admin", "Admin", ["PT6H", "P1D"], "P1D", True, ["datadog-admins"]),
        ],
    ),
    (
        "salesforce",
        "Salesforce",
        "marc",
        "high",
        "automatic",
        "approved",
        [
            ("user", "Sales User", [], None, False, ["sfdc-users"]),
            ("admin", "System Administrator", ["P1D", "P7D"], "P7D", True, ["sfdc-admins"]),
        ],
    ),
    (
        "netsuite",
        "NetSuite",
        "mary",
        "high",
        "manual",
        "approved",
        [
            ("ap-clerk", "AP Clerk", [], None, False, []),
            ("controller", "Controller", ["P30D"], "P90D", None, []),
        ],
    ),
    (
        "workday",
        "Workday",
        "ruth",
        "medium",
        "manual",
        "approved",
        [
            ("hr-partner", "HR Business Partner", [], None, None, []),
        ],
    ),
    (
        "aws-prod",
        "AWS Production",
        "radia",
        "privileged",
        "automatic",
        "approved",
        [
            ("read-only", "ReadOnly", ["PT1H", "PT6H", "P1D"], "P1D", None, ["aws-prod-readonly"]),
            ("admin", "AdministratorAccess", ["PT1H", "PT4H"], "PT4H", None, ["aws-prod-admins"]),
        ],
    ),
    (
        "okta-admin",
        "Okta Admin Console",
        "whit",
        "privileged",
        "automatic",
        "approved",
        [
            ("helpdesk", "Help Desk Administrator", ["PT1H", "PT8H"], "PT8H", None, ["okta-helpdesk-admins"]),
        ],
    ),
    (
        "notion",
        "Notion",
        "don",
        "low",
        "automatic",
        "draft",
        [
            ("member", "Member", [], None, None, ["notion-members"]),
        ],
    ),
    (
        "legacy-crm",
        "Legacy CRM",
        "marc",
        "medium",
        "manual",
        "retired",
        [
            ("user", "User", [], None, None, []),
        ],
    ),
]

# roles that allow emergency (break-glass) access for up to one hour
BREAK_GLASS = {"aws-prod/admin", "okta-admin/helpdesk"}

# name, scope (application slug, role "app/role", or risk tier), kinds, named approvers
POLICIES = [
    ("Default: manager approval", None, ["manager"], []),
    ("Low risk: automatic", "tier:low", ["automatic"], []),
    ("Privileged: manager, then application owner", "tier:privileged", ["manager", "app_owner"], []),
    ("Salesforce: application owner", "app:salesforce", ["app_owner"], []),
    ("NetSuite: manager, then the controller", "app:netsuite", ["manager", "named"], ["mary"]),
    ("AWS admin: manager, then security", "role:aws-prod/admin", ["manager", "named"], ["whit", "martin"]),
]
FALLBACK_APPROVERS = ["priya", "tom"]

# people already in provider groups before Gatehouse (standing access found in the directory)
STANDING = [
    ("ken", "github-members"),
    ("barbara", "github-members"),
    ("neil", "sfdc-users"),
    ("buzz", "sfdc-users"),
    ("mary2", "zendesk-agents"),
    ("herman", "sfdc-users"),
]


# Birthright: (rule name, role, departments) granted by Gatehouse itself when someone joins or moves in.
BIRTHRIGHT = [("Engineering: GitHub member on join", "github/member", ["Engineering"])]


#: What apps above governance add to the demo (reviews: a reclaim policy), each called with the demo's
#: people and roles inside the loading transaction; each returns counts for the summary line.
DemoExtra = Callable[[dict[str, Person], dict[str, Role]], dict[str, int]]
_extras: list[DemoExtra] = []


def add_to_demo(extra: DemoExtra) -> None:
    """Called in an AppConfig.ready(): `extra` runs after the demo company is loaded (idempotent)."""
    if extra not in _extras:
        _extras.append(extra)


class DemoDirectoryError(Exception):
    """GATEHOUSE_DEMO_DIRECTORY names a directory the demo cannot be loaded into."""


@dataclass(frozen=True)
class DemoDirectory:
    """Where the demo's groups live and which email domain its people have."""

    connector: str = "local"
    domain: str = DOMAIN

    def group_key(self, name: str) -> str:
        """The group's external id: its name in the local directory, its address in Google Workspace."""
        return name if self.connector == "local" else f"{name}@{self.domain}"


def demo_directory() -> DemoDirectory:
    """The directory chosen by GATEHOUSE_DEMO_DIRECTORY: `local` (default) or `google` (groups
    `<name>@GOOGLE_DOMAIN`, people `<handle>@GOOGLE_DOMAIN`). Okta and Entra groups are known by
    ids the demo cannot guess, so they are not offered."""
    connector = (settings.GATEHOUSE.get("DEMO_DIRECTORY") or "local").strip().lower()
    if connector == "local":
        return DemoDirectory()
    if connector != "google":
        raise DemoDirectoryError(f"GATEHOUSE_DEMO_DIRECTORY must be 'local' or 'google', not {connector!r}.")
    domain = (settings.GOOGLE.get("DOMAIN") or "").strip().lower()
    if not domain:
        raise DemoDirectoryError("GATEHOUSE_DEMO_DIRECTORY=google needs GOOGLE_DOMAIN (the demo's email domain).")
    return DemoDirectory(connector="google", domain=domain)


def email(handle: str, directory: DemoDirectory | None = None) -> str:
    return f"{handle}@{(directory or demo_directory()).domain}"


def _load_people(directory: DemoDirectory) -> dict[str, Person]:
    people = {}
    now = timezone.now()
    for i, (handle, name, dept, title, _) in enumerate(PEOPLE):
        status = "suspended" if handle in SUSPENDED else "deprovisioned" if handle in DEPROVISIONED else "active"
        people[handle] = Person.objects.create(
            email=email(handle, directory),
            name=name,
            department=dept,
            title=title,
            status=status,
            is_contractor=handle in CONTRACTORS,
            last_login_at=now - timedelta(days=(i * 7) % 150, hours=i),
        )
    for handle, *_, manager in PEOPLE:
        if manager:
            people[handle].manager = people[manager]
            people[handle].save(update_fields=["manager"])
    return people


def _load_apps(people: dict[str, Person], directory: DemoDirectory) -> dict[str, Role]:
    roles = {}
    groups: dict[str, IdpGroup] = {}
    for slug, name, owner, risk, mode, status, role_rows in APPS:
        app = Application.objects.create(
            slug=slug,
            name=name,
            owner=people[owner],
            risk_tier=risk,
            provisioning_mode=mode,
            status=status,
            description=f"{name} at Northwind Robotics.",
        )
        for role_slug, role_name, durations, maximum, required, group_names in role_rows:
            break_glass = f"{slug}/{role_slug}" in BREAK_GLASS
            role = Role.objects.create(
                break_glass_allowed=break_glass,
                break_glass_max_duration=timedelta(hours=1) if break_glass else None,
                application=app,
                slug=role_slug,
                name=role_name,
                allowed_durations=durations,
                max_duration=_iso(maximum),
                duration_required=required,
            )
            for group_name in group_names:
                if group_name not in groups:
                    groups[group_name] = IdpGroup.objects.create(
                        connector=directory.connector, external_id=directory.group_key(group_name), name=group_name
                    )
                RoleGroup.objects.create(role=role, group=groups[group_name])
            roles[f"{slug}/{role_slug}"] = role
    if directory.connector == "local":  # elsewhere the first sync reads who is in the groups
        _load_standing_access(people, groups)
    return roles


def _load_standing_access(people: dict[str, Person], groups: dict[str, IdpGroup]) -> None:
    now = timezone.now()
    for handle, group_name in STANDING:
        LocalMembership.objects.create(person=people[handle], group=groups[group_name])
        GroupMembership.objects.create(
            person=people[handle], group=groups[group_name], origin="external", since=now - timedelta(days=400)
        )


def _iso(value: str | None) -> timedelta | None:
    return parse_iso_duration(value) if value else None


def _load_policies(people: dict[str, Person], roles: dict[str, Role]) -> None:
    fallback = [people[h] for h in FALLBACK_APPROVERS]
    for name, scope, kinds, named in POLICIES:
        policy = ApprovalPolicy(name=name)
        if scope and scope.startswith("tier:"):
            policy.risk_tier = scope[5:]
        elif scope and scope.startswith("app:"):
            policy.application = Application.objects.get(slug=scope[4:])
        elif scope and scope.startswith("role:"):
            policy.role = roles[scope[5:]]
        policy.save()
        policy.fallback_approvers.set(fallback)
        for order, kind in enumerate(kinds, start=1):
            step = PolicyStep.objects.create(policy=policy, order=order, kind=kind)
            if kind == "named":
                step.approvers.set([people[h] for h in named])


def load_demo() -> dict[str, int]:
    """Load Northwind Robotics into an empty database, in the directory GATEHOUSE_DEMO_DIRECTORY
    names. Returns counts; DemoDirectoryError when that directory cannot take the demo."""
    directory = demo_directory()
    with transaction.atomic():
        people = _load_people(directory)
        roles = _load_apps(people, directory)
        _load_policies(people, roles)
        for name, role, departments in BIRTHRIGHT:
            AutoApprovalRule.objects.create(name=name, role=roles[role], departments=departments, grant_on_join=True)
        counts = {"people": len(people), "applications": len(APPS), "roles": len(roles), "policies": len(POLICIES)}
        for extra in _extras:
            counts.update(extra(people, roles))
    return counts
