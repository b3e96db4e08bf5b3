"""Bearer-token authentication and scope checks for the REST API.

Every API view declares the scope it needs in one line, `required_scope = Scope.X` (or a dict
from HTTP method to scope when its methods differ). A view without one refuses every call."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from governance.errors import NotAllowed
from governance.models import ApiToken
from governance.services import verify_api_token


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """`Authorization: Bearer gh_<prefix>_<secret>`; tokens come from `manage.py create_api_token`."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).decode("latin-1")
        if not header:
            return None
        scheme, _, raw = header.partition(" ")
        if scheme.lower() != self.keyword.lower() or not raw.strip():
            raise exceptions.AuthenticationFailed("Use the header 'Authorization: Bearer <token>'.")
        token = verify_api_token(raw.strip())
        if token is None:
            raise exceptions.AuthenticationFailed("Invalid, expired or revoked API token.")
        return (None, token)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="gatehouse"'


def required_scope(view, method: str) -> str | None:
    """The scope `view` declares for `method` (None when it declares none)."""
    declared = getattr(view, "required_scope", None)
    if isinstance(declared, dict):
        method = "get" if method.lower() == "head" else method.lower()
        return declared.get(method)
    return declared


class HasTokenScope(permissions.BasePermission):
    """A valid token holding the scope the view declares; 403 `insufficient_scope` otherwise."""

    message = "An API token is required: send 'Authorization: Bearer <token>'."

    def has_permission(self, request, view) -> bool:
        token = request.auth
        if not isinstance(token, ApiToken):
            return False
        scope = required_scope(view, request.method)
        if scope is None:
            raise NotAllowed(
                f"{request.method} {request.path} declares no scope, so no token may call it.", code="no_scope_declared"
            )
        if not token.has_scope(scope):
            raise NotAllowed(
                f"API token {token.name!r} lacks the scope {scope} this call needs.",
                code="insufficient_scope",
                data={"scope": str(scope)},
            )
        return True


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token from `manage.py create_api_token NAME --scopes …`; each operation names "
            "the scope it needs.",
        }
