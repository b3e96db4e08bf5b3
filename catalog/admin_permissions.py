"""Admin action permissions: every state-changing action names a specific permission.

`@admin.action(permissions=["revoke_grant"])` makes Django ask `has_revoke_grant_permission(request)`;
`requires("governance.revoke_grant")` builds that method, so a view-only user is never offered the
action and a POST of it anyway is refused before it runs.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest


def requires(*perms: str) -> Callable[..., bool]:
    """A `has_<name>_permission` method true when the user holds any of `perms` ("app.codename")."""

    def has_permission(self, request: HttpRequest, obj=None) -> bool:
        return any(request.user.has_perm(perm) for perm in perms)

    has_permission.__doc__ = f"Holds one of: {', '.join(perms)}."
    return has_permission
