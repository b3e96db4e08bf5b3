"""API tokens: shown once at creation, stored as a SHA-256 hash, compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from django.db import IntegrityError, transaction
from django.utils import timezone

from governance.audit.services import Actor, record
from governance.errors import Conflict, InvalidInput
from governance.models import ApiToken

TOKEN_PREFIX = "gh"


def _hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def create_api_token(*, name: str, actor: Actor) -> tuple[ApiToken, str]:
    """Create a token named `name`; returns it and the full secret, which is never stored."""
    name = (name or "").strip()
    if not name:
        raise InvalidInput("A token needs a name.", field="name")
    prefix = secrets.token_hex(4)
    secret = secrets.token_urlsafe(32)
    try:
        with transaction.atomic():
            token = ApiToken.objects.create(name=name, prefix=prefix, secret_hash=_hash(secret))
            record("api_token.created", f"API token {name!r} created.", actor=actor, data={"prefix": prefix})
    except IntegrityError:
        raise Conflict(f"A token named {name!r} already exists.", field="name") from None
    return token, f"{TOKEN_PREFIX}_{prefix}_{secret}"


def verify_api_token(raw: str) -> ApiToken | None:
    """The live token `raw` stands for, or None."""
    parts = (raw or "").split("_", 2)
    if len(parts) != 3 or parts[0] != TOKEN_PREFIX:
        return None
    token = ApiToken.objects.filter(prefix=parts[1], revoked_at__isnull=True).first()
    if token is None or not hmac.compare_digest(token.secret_hash, _hash(parts[2])):
        return None
    now = timezone.now()
    if token.last_used_at is None or (now - token.last_used_at).total_seconds() > 60:
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


def revoke_api_token(*, token: ApiToken, actor: Actor) -> ApiToken:
    with transaction.atomic():
        token.revoked_at = timezone.now()
        token.save(update_fields=["revoked_at"])
        record("api_token.revoked", f"API token {token.name!r} revoked.", actor=actor, data={"prefix": token.prefix})
    return token
