"""An OpenID Connect provider emulator: Okta (custom and org authorization servers) and Entra ID.

It serves the provider's discovery document at `{issuer}/.well-known/openid-configuration` with the
endpoint paths of the shape it plays, an authorization endpoint that "signs in" `sign_in_as` and
redirects back with a code, a token endpoint that checks the client secret (Basic or form) and the
PKCE S256 verifier, a JWKS, and userinfo. ID tokens are real RS256 JWTs (PyJWT + cryptography).

Shapes (paths as the real providers publish them):
- "okta-custom": issuer `{base}/oauth2/default`, endpoints `{issuer}/v1/authorize|token|keys|userinfo`
- "okta-org":    issuer `{base}`, endpoints `{base}/oauth2/v1/authorize|token|keys|userinfo`
- "entra":       issuer `{base}/{tenant}/v2.0`, endpoints `{base}/{tenant}/oauth2/v2.0/authorize|token`,
  keys `{base}/{tenant}/discovery/v2.0/keys`, userinfo `{base}/oidc/userinfo` (Graph's); no
  `code_challenge_methods_supported` in discovery (as Entra), PKCE still enforced.

Tests bend tokens with `claim_overrides` (a value of None removes the claim), `header_overrides`,
`sign_with` (a key the JWKS does not publish) and `rotate_keys()`.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import itertools
import secrets
import time
import uuid
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from .base import Emulator, Incoming, Reply, route

SHAPES = ("okta-custom", "okta-org", "entra")


@functools.cache
def _private_key(index: int) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


_next_key = itertools.count()


def new_key() -> tuple[str, rsa.RSAPrivateKey]:
    """A fresh key id with an RSA key (from a small pool reused across tests: generating is slow)."""
    return uuid.uuid4().hex[:16], _private_key(next(_next_key) % 4)


class OidcEmulator(Emulator):
    def __init__(
        self,
        shape: str = "okta-custom",
        *,
        client_id: str = "0oa-gatehouse",
        client_secret: str = "emulator-client-secret-of-32-bytes-or-more",
        redirect_uri: str = "http://testserver/oidc/callback/",
        tenant: str = "9188040d-6c67-4c5b-b112-36a304b66dad",
    ) -> None:
        super().__init__()
        assert shape in SHAPES, shape
        self.shape = shape
        self.client_id = client_id
        self.client_secret = client_secret
        self.redirect_uris = {redirect_uri}
        self.tenant = tenant
        self.users: dict[str, dict[str, Any]] = {}
        self.sign_in_as: str | None = None  # the user the authorization endpoint signs in
        self.claim_overrides: dict[str, Any] = {}
        self.header_overrides: dict[str, Any] = {}
        self.userinfo_overrides: dict[str, Any] = {}
        self.sign_with: rsa.RSAPrivateKey | None = None
        self.discovery_overrides: dict[str, Any] = {}
        self.keys: list[tuple[str, rsa.RSAPrivateKey]] = [new_key()]
        self.codes: dict[str, dict[str, Any]] = {}
        self.access_tokens: dict[str, str] = {}

    # -- set-up ---------------------------------------------------------------------------
    def add_user(self, key: str, *, email: str, groups: list[str] | None = None, **claims: Any) -> dict[str, Any]:
        """A user as the shape would describe them in an ID token."""
        if self.shape == "entra":
            user = {
                "sub": secrets.token_urlsafe(32)[:43],  # pairwise per app, not the object id
                "oid": claims.pop("oid", str(uuid.uuid4())),
                "tid": self.tenant,
                "preferred_username": email,
                "name": key.title(),
                "email": email,  # optional and unverified in Entra
            }
        else:
            user = {
                "sub": "00u" + secrets.token_hex(8),
                "email": email,
                "email_verified": True,
                "name": key.title(),
                "preferred_username": email,
            }
        if groups is not None:
            user["groups"] = groups
        user.update(claims)
        self.users[key] = user
        return user

    def rotate_keys(self, *, keep_old: bool = True) -> str:
        """A new signing key (published); the old one stays published only with keep_old."""
        kid, key = new_key()
        self.keys = [(kid, key), *self.keys] if keep_old else [(kid, key)]
        return kid

    # -- shape ----------------------------------------------------------------------------
    @property
    def issuer(self) -> str:
        if self.shape == "okta-custom":
            return f"{self.base_url}/oauth2/default"
        if self.shape == "okta-org":
            return self.base_url
        return f"{self.base_url}/{self.tenant}/v2.0"

    def paths(self) -> dict[str, str]:
        issuer_path = urlsplit(self.issuer).path
        if self.shape == "okta-custom":
            names = {n: f"{issuer_path}/v1/{n}" for n in ("authorize", "token", "keys", "userinfo")}
        elif self.shape == "okta-org":
            names = {n: f"/oauth2/v1/{n}" for n in ("authorize", "token", "keys", "userinfo")}
        else:
            names = {
                "authorize": f"/{self.tenant}/oauth2/v2.0/authorize",
                "token": f"/{self.tenant}/oauth2/v2.0/token",
                "keys": f"/{self.tenant}/discovery/v2.0/keys",
                "userinfo": "/oidc/userinfo",
            }
        names["discovery"] = issuer_path + "/.well-known/openid-configuration"
        return names

    def discovery_document(self) -> dict[str, Any]:
        paths = self.paths()
        document = {
            "issuer": self.issuer,
            "authorization_endpoint": self.base_url + paths["authorize"],
            "token_endpoint": self.base_url + paths["token"],
            "jwks_uri": self.base_url + paths["keys"],
            "userinfo_endpoint": self.base_url + paths["userinfo"],
            "response_types_supported": ["code", "id_token", "code id_token"],
            "subject_types_supported": ["pairwise"] if self.shape == "entra" else ["public"],
            "id_token_signing_alg_values_supported": ["RS256"],
            "scopes_supported": ["openid", "profile", "email", "offline_access"],
        }
        if self.shape == "entra":
            document["token_endpoint_auth_methods_supported"] = [
                "client_secret_post",
                "private_key_jwt",
                "client_secret_basic",
            ]
        else:
            document["token_endpoint_auth_methods_supported"] = [
                "client_secret_basic",
                "client_secret_post",
                "client_secret_jwt",
                "private_key_jwt",
                "none",
            ]
            document["code_challenge_methods_supported"] = ["S256"]
        document.update(self.discovery_overrides)
        return document

    # -- tokens ---------------------------------------------------------------------------
    def id_token(self, user: dict[str, Any], *, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {
            **user,
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": now,
            "exp": now + 3600,
            "auth_time": now,
        }
        if nonce is not None:
            claims["nonce"] = nonce
        if self.shape == "entra":
            claims.update({"nbf": now, "ver": "2.0"})
        else:
            claims.update({"ver": 1, "jti": "ID." + secrets.token_urlsafe(16), "amr": ["pwd"], "idp": "00o-okta"})
        for name, value in self.claim_overrides.items():
            if value is None:
                claims.pop(name, None)
            else:
                claims[name] = value
        kid, key = self.keys[0]
        header = {"kid": kid, **self.header_overrides}
        algorithm = header.pop("alg", "RS256")
        if algorithm == "HS256":
            return jwt.encode(claims, self.client_secret, algorithm="HS256", headers=header)
        if algorithm == "none":
            return jwt.encode(claims, None, algorithm="none", headers=header)
        return jwt.encode(claims, self.sign_with or key, algorithm="RS256", headers=header)

    # -- routes ---------------------------------------------------------------------------
    @route("GET", r"/.*")
    def get(self, incoming: Incoming) -> Reply:
        paths = self.paths()
        if incoming.path == paths["discovery"]:
            return Reply(200, self.discovery_document())
        if incoming.path == paths["keys"]:
            keys = [
                {**RSAAlgorithm.to_jwk(k.public_key(), as_dict=True), "kid": kid, "use": "sig", "alg": "RS256"}
                for kid, k in self.keys
            ]
            return Reply(200, {"keys": keys})
        if incoming.path == paths["authorize"]:
            return self.authorize(incoming)
        if incoming.path == paths["userinfo"]:
            return self.userinfo(incoming)
        return Reply(404, {"error": "not_found"})

    @route("POST", r"/.*")
    def post(self, incoming: Incoming) -> Reply:
        if incoming.path == self.paths()["token"]:
            return self.token(incoming)
        return Reply(404, {"error": "not_found"})

    def authorize(self, incoming: Incoming) -> Reply:
        arg = incoming.arg
        if arg("client_id") != self.client_id or arg("redirect_uri") not in self.redirect_uris:
            # Providers show an error page, never redirect, for an unknown client or redirect URI.
            return Reply(400, "The redirect_uri or client_id is not registered.", content_type="text/html")

        def back(**params: str) -> Reply:
            return Reply(302, None, {"Location": f"{arg('redirect_uri')}?{urlencode(params)}"})

        state = arg("state") or ""
        if arg("response_type") != "code" or "openid" not in (arg("scope") or "").split():
            return back(error="invalid_request", error_description="response_type=code and scope openid", state=state)
        if arg("code_challenge_method") != "S256" or not arg("code_challenge"):
            return back(error="invalid_request", error_description="PKCE code_challenge (S256) required", state=state)
        if self.sign_in_as is None:
            return back(
                error="access_denied", error_description="User is not assigned to the client application.", state=state
            )
        code = secrets.token_urlsafe(24)
        self.codes[code] = {
            "user": self.sign_in_as,
            "redirect_uri": arg("redirect_uri"),
            "nonce": arg("nonce"),
            "challenge": arg("code_challenge"),
            "scope": arg("scope"),
        }
        return back(code=code, state=state)

    def _client(self, incoming: Incoming, form: dict[str, str]) -> tuple[str | None, str | None]:
        header = incoming.headers.get("authorization", "")
        if header.startswith("Basic "):
            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return client_id, secret
        return form.get("client_id"), form.get("client_secret")

    def token(self, incoming: Incoming) -> Reply:
        form = {k: v[0] for k, v in parse_qs(incoming.body.decode()).items()}
        client_id, secret = self._client(incoming, form)
        if client_id != self.client_id or secret != self.client_secret:
            return Reply(401, {"error": "invalid_client", "error_description": "Client authentication failed."})
        if form.get("grant_type") != "authorization_code":
            return Reply(400, {"error": "unsupported_grant_type", "error_description": "authorization_code only"})
        grant = self.codes.pop(form.get("code", ""), None)
        if grant is None or grant["redirect_uri"] != form.get("redirect_uri"):
            return Reply(400, {"error": "invalid_grant", "error_description": "The authorization code is invalid."})
        verifier = form.get("code_verifier", "")
        digest = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if digest != grant["challenge"]:
            return Reply(400, {"error": "invalid_grant", "error_description": "PKCE verification failed."})
        access = secrets.token_urlsafe(24)
        self.access_tokens[access] = grant["user"]
        return Reply(
            200,
            {
                "token_type": "Bearer",
                "expires_in": 3600,
                "access_token": access,
                "scope": grant["scope"],
                "id_token": self.id_token(self.users[grant["user"]], nonce=grant["nonce"]),
            },
            {"Cache-Control": "no-store", "Pragma": "no-cache"},
        )

    def userinfo(self, incoming: Incoming) -> Reply:
        header = incoming.headers.get("authorization", "")
        user = self.access_tokens.get(header.removeprefix("Bearer "))
        if user is None:
            return Reply(401, {"error": "invalid_token"}, {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        return Reply(200, {**self.users[user], **self.userinfo_overrides})
