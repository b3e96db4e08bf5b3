"""Bearer-token authentication for the REST API."""

from __future__ import annotations

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

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
            raise exceptions.AuthenticationFailed("Invalid or revoked API token.")
        return (None, token)

    def authenticate_header(self, request) -> str:
        return f'{self.keyword} realm="gatehouse"'


class HasApiToken(permissions.BasePermission):
    message = "An API token is required: send 'Authorization: Bearer <token>'."

    def has_permission(self, request, view) -> bool:
        return isinstance(request.auth, ApiToken)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = "governance.api.authentication.BearerTokenAuthentication"
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {"type": "http", "scheme": "bearer", "description": "A token from `manage.py create_api_token NAME`."}
