"""Asking for more time on a grant: extended at once when the role's policy allows it, otherwise
an extension request routed like a new one (and applied by `grants.extensions` once approved)."""

from __future__ import annotations

from datetime import timedelta

from django.db import transaction

from catalog.durations import format_iso_duration
from governance.audit.services import Actor, record
from governance.errors import Conflict, InvalidInput, NotAllowed
from governance.grants import extensions
from governance.grants import services as grants
from governance.models import AccessRequest, Grant
from governance.requests.services import Draft, RequestInput, create_request


def extend_grant(
    *, grant: Grant, actor: Actor, added: timedelta, reason: str, jira_issue_key: str | None = None
) -> tuple[Grant, AccessRequest | None]:
    """Extend now when the policy allows it; otherwise open an extension request routed like a new
    one. Returns (grant, the routed request or None)."""
    if not (reason or "").strip():
        raise InvalidInput("A reason is required.", field="reason")
    with transaction.atomic():
        grant = (
            Grant.objects.select_for_update(of=("self",))
            .select_related("person__manager", "role__application__owner", "request")
            .get(pk=grant.pk)
        )
        if actor.user is None and (actor.person is None or not grants.may_revoke(actor.person, grant)):
            raise NotAllowed(f"{actor.label} may not extend grant #{grant.pk}.", field="by")
        extensions.check_extension(grant, added)
        exception = extensions.exception_route(grant, added)
        ok, why = extensions.within_policy(grant, added)
        if ok:
            extensions.apply_extension(grant, added, actor=actor, reason=reason, request=None, without_round=True)
            return grant, None
        if AccessRequest.objects.filter(extends_grant=grant, status__in=AccessRequest.OPEN).exists():
            raise Conflict(f"An extension of grant #{grant.pk} is already awaiting approval.", code="duplicate_request")
        data = RequestInput(
            requester=actor.person.email if actor.person else grant.person.email,
            beneficiary=grant.person.email,
            application=grant.role.application.slug,
            role=grant.role.slug,
            reason=reason,
            duration=added,
            jira_issue_key=jira_issue_key,
        )
        draft = Draft(
            data,
            actor.person or grant.person,
            grant.person,
            grant.role,
            "extension",
            added,
            f"extension ({why})",
            extends_grant=grant,
            policy=exception,
        )
        request = create_request(draft)
        record(
            "grant.extension_requested",
            f"Extension of {format_iso_duration(added)} needs approval: {why}.",
            actor=actor,
            grant=grant,
            data={"request": request.pk, "why": why},
        )
        return grant, request
