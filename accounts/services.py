"""Who a verified SSO identity is in Gatehouse, and the audit trail of every sign-in.

The identity maps to one directory person (`catalog.Person`) and the Django login linked to it
(`Person.user`, created on first sign-in). Admin access follows `OIDC_ADMIN_GROUPS` on every
sign-in: staff with exactly the mapped Django groups, or no staff at all. Refusals raise
`SignInRefused`; `record_refusal` writes their audit event.
"""

from __future__ import annotations

import contextlib
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, Group
from django.db import transaction
from django.utils import timezone

from catalog.models import Person
from governance.audit.services import Actor, record
from governance.notifications.services import send_email_later

from .oidc import SignInRefused, summary


def _identifier(claims: dict[str, Any]) -> str:
    name = settings.OIDC["EMAIL_CLAIM"]
    value = claims.get(name)
    if not isinstance(value, str) or not value.strip():
        raise SignInRefused("missing_claim", f"The identity provider sent no {name!r} claim.", claims=claims)
    if name == "email" and claims.get("email_verified") is not True:
        raise SignInRefused(
            "email_not_verified",
            "The identity provider does not vouch for this email address (email_verified is not true).",
            claims=claims,
        )
    return value.strip()


def find_person(claims: dict[str, Any]) -> Person:
    """The directory person the claims name: by email, or by directory id for a non-email claim."""
    value = _identifier(claims)
    people = Person.objects.filter(email__iexact=value) if "@" in value else Person.objects.filter(external_id=value)
    found = list(people[:2])
    if len(found) != 1:
        raise SignInRefused(
            "unknown_person",
            f"{value} is not a person in Gatehouse's directory{' (more than one match)' if found else ''}.",
            claims=claims,
        )
    person = found[0]
    if not person.is_active:
        raise SignInRefused("inactive", f"{person.email} is {person.get_status_display().lower()}.", claims=claims)
    return person


def admin_groups(claims: dict[str, Any]) -> set[str]:
    """The Django groups the provider's groups map to (an Entra groups overage maps to none)."""
    groups = claims.get(settings.OIDC["GROUPS_CLAIM"]) or []
    if not isinstance(groups, list):
        groups = [groups]
    mapping = settings.OIDC["ADMIN_GROUPS"]
    return {mapping[group] for group in groups if isinstance(group, str) and group in mapping}


def _login_for(person: Person, claims: dict[str, Any]) -> AbstractBaseUser:
    user = person.user
    if user is None:
        model = get_user_model()
        if model.objects.filter(username__iexact=person.email).exists():
            raise SignInRefused(
                "login_conflict",
                f"A login named {person.email} exists but belongs to no person; ask IT.",
                claims=claims,
            )
        user = model.objects.create_user(username=person.email, email=person.email)
        user.set_unusable_password()
        user.save(update_fields=["password"])
        person.user = user
        person.save(update_fields=["user", "updated_at"])
    if not user.is_active:
        raise SignInRefused("inactive", f"The login {user.get_username()} is deactivated.", claims=claims)
    if user.is_superuser:
        raise SignInRefused(
            "break_glass_account",
            f"{person.email} is linked to the break-glass superuser {user.get_username()}; SSO never signs in as it.",
            claims=claims,
        )
    return user


def _apply_admin_groups(user: AbstractBaseUser, mapped: set[str]) -> None:
    managed = set(settings.OIDC["ADMIN_GROUPS"].values())
    groups = {name: Group.objects.get_or_create(name=name)[0] for name in mapped}
    user.groups.remove(*Group.objects.filter(name__in=managed - mapped))
    user.groups.add(*groups.values())
    if user.is_staff != bool(mapped):
        user.is_staff = bool(mapped)
        user.save(update_fields=["is_staff"])


@transaction.atomic
def sign_in_with_sso(*, claims: dict[str, Any], to_admin: bool) -> AbstractBaseUser:
    """The Django login for verified claims (refused: `SignInRefused`), with its audit event."""
    person = find_person(claims)
    mapped = admin_groups(claims)
    if to_admin and not mapped:
        raise SignInRefused(
            "not_in_admin_group", f"{person.email} is in none of the groups that may use the admin.", claims=claims
        )
    user = _login_for(person, claims)
    _apply_admin_groups(user, mapped)
    record(
        "sso.signed_in",
        f"{person.email} signed in with company SSO" + (f" (admin: {', '.join(sorted(mapped))})" if mapped else ""),
        actor=Actor.of_person(person),
        subject=person,
        data={**summary(claims), "admin_groups": sorted(mapped)},
    )
    return user


def record_refusal(refusal: SignInRefused, *, ip: str = "") -> None:
    """The audit event of a refused sign-in (which check, and who the provider said it was)."""
    person = None
    with contextlib.suppress(SignInRefused):
        person = find_person(refusal.claims) if refusal.claims else None
    record(
        "sso.refused",
        f"SSO sign-in refused ({refusal.code}): {refusal.message}",
        actor=Actor.of_person(person) if person else Actor.system("sso"),
        subject=person,
        data={"code": refusal.code, "ip": ip, **summary(refusal.claims)},
    )


@transaction.atomic
def record_break_glass(*, user: AbstractBaseUser, ip: str) -> None:
    """A password sign-in while SSO is on: audited, and IT is told by email."""
    name = user.get_username()
    when = timezone.now().strftime("%Y-%m-%d %H:%M UTC")
    record(
        "auth.break_glass",
        f"Break-glass password sign-in as {name} from {ip or 'an unknown address'}",
        actor=Actor.of_admin(user),
        subject=getattr(user, "person", None),
        data={"username": name, "ip": ip},
    )
    body = (
        f"The break-glass superuser {name} signed in to Gatehouse with a password at {when}, from {ip or 'unknown'}.\n"
        "Company SSO is on, so this should only happen when SSO is unavailable. If you did not expect it, "
        "change that password now (manage.py changepassword) and review the audit log."
    )
    for address in settings.GATEHOUSE["IT_EMAIL"]:
        send_email_later(address, subject=f"Gatehouse: break-glass sign-in as {name}", body=body)
