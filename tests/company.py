"""Test personas and catalog builders (plain functions, no mocks)."""

from __future__ import annotations

from datetime import timedelta

from catalog.models import Application, IdpGroup, Person, Role, RoleGroup
from governance.models import ApprovalPolicy, PolicyStep


def person(email: str, name: str | None = None, manager: Person | None = None, **extra) -> Person:
    return Person.objects.create(email=email, name=name or email.split("@")[0].title(), manager=manager, **extra)


def app(
    slug: str, owner: Person | None = None, *, risk: str = "medium", mode: str = "automatic", status: str = "approved"
) -> Application:
    return Application.objects.create(
        slug=slug, name=slug.title(), owner=owner, risk_tier=risk, provisioning_mode=mode, status=status
    )


def group(name: str, connector: str = "local") -> IdpGroup:
    return IdpGroup.objects.create(connector=connector, external_id=name, name=name)


def role(
    application: Application,
    slug: str,
    *groups: IdpGroup,
    durations: list[str] | None = None,
    max_duration: timedelta | None = None,
    **extra,
) -> Role:
    r = Role.objects.create(
        application=application,
        slug=slug,
        name=slug.title(),
        allowed_durations=durations or [],
        max_duration=max_duration,
        **extra,
    )
    for g in groups:
        RoleGroup.objects.create(role=r, group=g)
    return r


def policy(
    name: str,
    *kinds: str,
    application: Application | None = None,
    role: Role | None = None,
    risk_tier: str = "",
    named: list[Person] | None = None,
    fallback: list[Person] | None = None,
) -> ApprovalPolicy:
    p = ApprovalPolicy.objects.create(name=name, application=application, role=role, risk_tier=risk_tier)
    for order, kind in enumerate(kinds, start=1):
        step = PolicyStep.objects.create(policy=p, order=order, kind=kind)
        if kind in ("named", "named_all"):
            step.approvers.set(named or [])
    p.fallback_approvers.set(fallback or [])
    return p


def submit(
    key: str | None = "IT-1",
    *,
    requester: str = "bob@example.com",
    beneficiary: str | None = None,
    application: str = "wiki",
    role: str = "editor",
    duration: timedelta | None = timedelta(hours=6),
    reason: str = "docs sprint",
):
    """Submit a request through the service, as the API would; returns the request."""
    from governance import services

    data = services.RequestInput(
        jira_issue_key=key,
        requester=requester,
        beneficiary=beneficiary,
        application=application,
        role=role,
        duration=duration,
        reason=reason,
    )
    request, _ = services.submit_request(data=data)
    return request


def decide(request, who: Person, *, approve: bool = True, comment: str = "", override: bool = False):
    """`who` approves (or denies) the request's current step."""
    from governance import services

    return services.decide_step(
        request=request, actor=services.Actor.of_person(who), approve=approve, comment=comment, override=override
    )


def grant_of(request):
    """The request's grant, fresh from the database."""
    from governance.models import Grant

    return Grant.objects.get(request_id=request.pk)
