"""API tokens: shown once at creation, stored as a SHA-256 hash, compared in constant time;
scoped, optionally limited to the people they speak for, expiring and rotatable."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta

from django.db import IntegrityError, transaction
from django.utils import timezone

from catalog.durations import format_iso_duration
from governance.audit.services import Actor, record
from governance.errors import Conflict, InvalidInput, NotAllowed
from governance.models import ApiToken
from governance.tokens.scopes import actor_allowed, parse_actors, parse_scopes
from lib import readable

TOKEN_PREFIX = "gh"
#: last_used_at is written at most this often per token (a read-mostly hot path).
LAST_USED_RESOLUTION = timedelta(minutes=1)


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def _full(token: ApiToken, secret: str) -> str:
    return f"{TOKEN_PREFIX}_{token.prefix}_{secret}"


def _clean(name: str, scopes: list[str] | str, actors: list[str] | str) -> tuple[str, list[str], list[str]]:
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A token needs a name.", field="name")
    if len(name) > ApiToken._meta.get_field("name").max_length:
        raise InvalidInput("A token's name is at most 100 characters.", field="name")
    try:
        chosen = parse_scopes(scopes)
    except ValueError as error:
        raise InvalidInput(str(error), field="scopes") from None
    if not chosen:
        raise InvalidInput("A token needs at least one scope.", field="scopes")
    try:
        return name, chosen, parse_actors(actors)
    except ValueError as error:
        raise InvalidInput(str(error), field="actors") from None


def create_api_token(
    *,
    name: str,
    scopes: list[str] | str,
    actor: Actor,
    actors: list[str] | str = (),
    expires_in: timedelta | None = None,
) -> tuple[ApiToken, str]:
    """Create a token named `name`; returns it and the full secret, which is never stored."""
    name, chosen, speaks_for = _clean(name, scopes, list(actors) if not isinstance(actors, str) else actors)
    if expires_in is not None and expires_in <= timedelta(0):
        raise InvalidInput("The expiry must be in the future.", field="expires_in")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    expires_at = timezone.now() + expires_in if expires_in else None
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(
                name=name,
                prefix=prefix,
                secret_hash=_hash(secret),
                scopes=chosen,
                actors=speaks_for,
                expires_at=expires_at,
            )
            record(
                "api_token.created",
                f"API token {name!r} created with scopes {', '.join(chosen)}"
                + (f", speaking only for {', '.join(speaks_for)}" if speaks_for else "")
                + (f", expiring {readable.moment(expires_at)}." if expires_at else ", not expiring."),
                actor=actor,
                data={"prefix": prefix, "scopes": chosen, "actors": speaks_for, "expires_at": _iso(expires_at)},
            )
    except IntegrityError:
        raise Conflict(f"A token named {name!r} already exists.", field="name") from None
    return token, _full(token, secret)


def _iso(value) -> str | None:
    return value.isoformat() if value else None


def rotate_api_token(
    *, token: ApiToken, actor: Actor, overlap: timedelta = timedelta(hours=24)
) -> tuple[ApiToken, str]:
    """A new secret for `token`; the current one keeps working for `overlap` (zero: not at all)."""
    if overlap < timedelta(0):
        raise InvalidInput("The overlap cannot be negative.", field="overlap")
    secret = secrets.token_urlsafe(32)
    with transaction.atomic():
        token = ApiToken.objects.select_for_update().get(pk=token.pk)
        if token.revoked_at is not None:
            raise Conflict(f"API token {token.name!r} is revoked; create a new one.", code="token_revoked")
        now = timezone.now()
        token.previous_secret_hash = token.secret_hash if overlap else ""
        token.previous_valid_until = now + overlap if overlap else None
        token.secret_hash = _hash(secret)
        token.rotated_at = now
        token.save(update_fields=["previous_secret_hash", "previous_valid_until", "secret_hash", "rotated_at"])
        record(
            "api_token.rotated",
            f"API token {token.name!r} rotated; the previous secret "
            + (f"works until {readable.moment(token.previous_valid_until)}." if overlap else "stopped working."),
            actor=actor,
            data={"prefix": token.prefix, "overlap": format_iso_duration(overlap) if overlap else None},
        )
    return token, _full(token, secret)


def _secret_matches(token: ApiToken, secret: str, now) -> bool:
    hashed = _hash(secret)
    if hmac.compare_digest(token.secret_hash, hashed):
        return True
    in_overlap = token.previous_valid_until is not None and now < token.previous_valid_until
    return bool(in_overlap and token.previous_secret_hash and hmac.compare_digest(token.previous_secret_hash, hashed))


def verify_api_token(raw: str) -> ApiToken | None:
    """The live (unrevoked, unexpired) token `raw` stands for, or None."""
    parts = (raw or "").split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    found = list(ApiToken.objects.filter(prefix=parts[1], revoked_at__isnull=True)[:1])  # prefixes are unique
    token = found[0] if found else None
    now = timezone.now()
    if token is None or token.is_expired or not _secret_matches(token, parts[2], now):
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def check_actor(token: ApiToken, email: str, *, field: str) -> None:
    """Raise NotAllowed (`actor_not_allowed`) unless `token` may speak for `email`."""
    if not actor_allowed(token.actors, email):
        raise NotAllowed(
            f"API token {token.name!r} may not act as {email}; it speaks only for {', '.join(token.actors)}.",
            field=field,
            code="actor_not_allowed",
        )


def revoke_api_token(*, token: ApiToken, actor: Actor) -> ApiToken:
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record("api_token.revoked", f"API token {token.name!r} revoked.", actor=actor, data={"prefix": token.prefix})
    return token
