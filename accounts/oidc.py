"""OpenID Connect relying party: discovery, the authorization-code + PKCE flow, and ID-token checks.

authlib builds the authorization URL (PKCE S256) and exchanges the code; every check of the ID
token is made here, because the libraries skip some of them (see docs/sso.md): RS256 signature
against the provider's JWKS (an unknown `kid` refetches the JWKS once, for key rotation), `iss`
equal to the configured issuer, `aud` naming this client and nothing else, `azp` (when present)
this client, `exp`/`iat`/`nbf` within a small leeway, and the `nonce` of this sign-in. Userinfo is
read only to fill claims the ID token lacks, and only when its `sub` is the ID token's.
Every failure raises `SignInRefused` with a short code; nothing here raises anything else.
"""

from __future__ import annotations

import hmac
import json
from dataclasses import dataclass
from typing import Any

import jwt
import requests
from authlib.common.security import generate_token
from authlib.integrations.base_client.errors import OAuthError
from authlib.integrations.requests_client import OAuth2Session
from django.conf import settings
from django.core.cache import cache
from django.urls import reverse

CACHE_SECONDS = 3600
ALGORITHM = "RS256"


class SignInRefused(Exception):
    """A sign-in that must not go ahead; `code` names the failed check (audit data, tests)."""

    def __init__(self, code: str, message: str, *, claims: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.claims = claims or {}


@dataclass(frozen=True)
class Pending:
    """What one started sign-in keeps in the session until its callback."""

    state: str
    nonce: str
    code_verifier: str
    next_url: str


def enabled() -> bool:
    """SSO is on when an issuer and a client are configured."""
    conf = settings.OIDC
    return bool(conf["ISSUER"] and conf["CLIENT_ID"])


def redirect_uri() -> str:
    return settings.GATEHOUSE["BASE_URL"].rstrip("/") + reverse("accounts:oidc-callback")


def _get_json(url: str, **kwargs: Any) -> dict[str, Any]:
    try:
        response = requests.get(url, timeout=settings.OIDC["TIMEOUT_SECONDS"], **kwargs)
        response.raise_for_status()
        body = response.json()
    except (requests.RequestException, ValueError) as error:
        raise SignInRefused("provider_unreachable", f"The identity provider did not answer ({url}): {error}") from None
    if not isinstance(body, dict):
        raise SignInRefused("provider_error", f"The identity provider sent no JSON object from {url}.")
    return body


def discovery() -> dict[str, Any]:
    """`{issuer}/.well-known/openid-configuration`, cached; its `issuer` must be ours exactly."""
    issuer = settings.OIDC["ISSUER"]
    key = f"oidc.discovery:{issuer}"
    document = cache.get(key)
    if document is None:
        document = _get_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
        if document.get("issuer") != issuer:
            raise SignInRefused(
                "bad_issuer", f"The discovery document names issuer {document.get('issuer')!r}, not {issuer!r}."
            )
        for field in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not document.get(field):
                raise SignInRefused("provider_error", f"The discovery document has no {field}.")
        cache.set(key, document, CACHE_SECONDS)
    return document


def _jwks(uri: str, *, refresh: bool = False) -> dict[str, Any]:
    key = f"oidc.jwks:{uri}"
    keys = None if refresh else cache.get(key)
    if keys is None:
        keys = _get_json(uri)
        cache.set(key, keys, CACHE_SECONDS)
    return keys


def _signing_key(token: str, jwks_uri: str) -> Any:
    """The provider's public key for this token's `kid`; an unknown kid refetches the JWKS once."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise SignInRefused("bad_token", "The ID token is not a well-formed JWT.") from None
    if header.get("alg") != ALGORITHM:
        raise SignInRefused("bad_algorithm", f"The ID token is signed with {header.get('alg')!r}, not {ALGORITHM}.")
    kid = header.get("kid")
    for refresh in (False, True):
        for jwk in _jwks(jwks_uri, refresh=refresh).get("keys", []):
            if jwk.get("kid") == kid and jwk.get("kty") == "RSA" and jwk.get("use", "sig") == "sig":
                try:
                    return jwt.PyJWK(jwk, algorithm=ALGORITHM).key
                except jwt.PyJWTError:
                    raise SignInRefused("unknown_key", f"The provider's key {kid!r} cannot be read.") from None
    raise SignInRefused("unknown_key", f"The ID token's key {kid!r} is not among the provider's keys.")


_DECODE_ERRORS: list[tuple[type[Exception], str, str]] = [
    (jwt.ExpiredSignatureError, "expired", "The ID token has expired."),
    (jwt.ImmatureSignatureError, "not_yet_valid", "The ID token is issued in the future (check clocks)."),
    (jwt.InvalidAudienceError, "bad_audience", "The ID token is for another application."),
    (jwt.InvalidIssuerError, "bad_issuer", "The ID token comes from another issuer."),
    (jwt.InvalidSignatureError, "bad_signature", "The ID token's signature does not verify."),
    (jwt.MissingRequiredClaimError, "missing_claim", "The ID token lacks a required claim."),
]


def verify_id_token(token: str, *, nonce: str) -> dict[str, Any]:
    """The ID token's claims once every check passed; else `SignInRefused`."""
    conf = settings.OIDC
    key = _signing_key(token, discovery()["jwks_uri"])
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=conf["CLIENT_ID"],
            issuer=conf["ISSUER"],
            leeway=conf["LEEWAY_SECONDS"],
            options={"require": ["iss", "sub", "aud", "exp", "iat", "nonce"], "verify_iat": True},
        )
    except jwt.PyJWTError as error:
        for kind, code, message in _DECODE_ERRORS:
            if isinstance(error, kind):
                raise SignInRefused(code, f"{message} ({error})") from None
        raise SignInRefused("bad_token", f"The ID token was refused: {error}") from None
    audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
    if audiences != [conf["CLIENT_ID"]]:
        raise SignInRefused("bad_audience", f"The ID token is also for {audiences!r}; it must be for this app only.")
    if "azp" in claims and claims["azp"] != conf["CLIENT_ID"]:
        raise SignInRefused("bad_azp", f"The ID token was issued to {claims['azp']!r}, not this app.")
    if not isinstance(claims.get("nonce"), str) or not hmac.compare_digest(claims["nonce"], nonce):
        raise SignInRefused("bad_nonce", "The ID token's nonce is not this sign-in's (a replayed token?).")
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise SignInRefused("missing_claim", "The ID token has no subject.")
    return claims


def _session(**extra: Any) -> OAuth2Session:
    conf = settings.OIDC
    methods = discovery().get("token_endpoint_auth_methods_supported") or ["client_secret_basic"]
    auth_method = "client_secret_basic" if "client_secret_basic" in methods else "client_secret_post"
    return OAuth2Session(
        client_id=conf["CLIENT_ID"],
        client_secret=conf["CLIENT_SECRET"],
        scope=" ".join(conf["SCOPES"]),
        redirect_uri=redirect_uri(),
        code_challenge_method="S256",
        token_endpoint_auth_method=auth_method,
        **extra,
    )


def start(next_url: str) -> tuple[str, Pending]:
    """The provider's authorization URL and what the callback must find in the session."""
    pending = Pending(
        state=generate_token(32), nonce=generate_token(32), code_verifier=generate_token(64), next_url=next_url
    )
    url, _ = _session().create_authorization_url(
        discovery()["authorization_endpoint"],
        state=pending.state,
        nonce=pending.nonce,
        code_verifier=pending.code_verifier,
    )
    return url, pending


def finish(*, pending: Pending, state: str, code: str) -> dict[str, Any]:
    """Exchange the code (PKCE) and return the verified identity claims."""
    if not hmac.compare_digest(state, pending.state):
        raise SignInRefused("bad_state", "The sign-in answer does not belong to this browser session.")
    try:
        token = _session().fetch_token(
            discovery()["token_endpoint"],
            code=code,
            code_verifier=pending.code_verifier,
            timeout=settings.OIDC["TIMEOUT_SECONDS"],
        )
    except OAuthError as error:
        raise SignInRefused("provider_error", f"The identity provider refused the code: {error.error}.") from None
    except (requests.RequestException, ValueError) as error:
        raise SignInRefused("provider_unreachable", f"The identity provider's token endpoint failed: {error}") from None
    if not token.get("id_token"):
        raise SignInRefused("provider_error", "The identity provider sent no ID token (is the openid scope allowed?).")
    claims = verify_id_token(token["id_token"], nonce=pending.nonce)
    return _with_userinfo(claims, token.get("access_token"))


def _with_userinfo(claims: dict[str, Any], access_token: str | None) -> dict[str, Any]:
    """Fill the email and groups claims from userinfo when the ID token lacks them (same `sub` only)."""
    conf = settings.OIDC
    wanted = {conf["EMAIL_CLAIM"], "email_verified", conf["GROUPS_CLAIM"]}
    endpoint = discovery().get("userinfo_endpoint")
    if conf["EMAIL_CLAIM"] in claims or not endpoint or not access_token:
        return claims
    info = _get_json(endpoint, headers={"Authorization": f"Bearer {access_token}"})
    if info.get("sub") != claims["sub"]:
        raise SignInRefused("userinfo_sub_mismatch", "The provider's userinfo is about someone else.", claims=claims)
    return {**{k: v for k, v in info.items() if k in wanted}, **claims}


def summary(claims: dict[str, Any]) -> dict[str, Any]:
    """The identifying claims worth keeping in an audit event (never tokens)."""
    keep = ("iss", "sub", "email", "email_verified", "oid", "tid", "preferred_username", settings.OIDC["EMAIL_CLAIM"])
    return json.loads(json.dumps({k: claims[k] for k in keep if k in claims}, default=str))
