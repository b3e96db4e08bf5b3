"""Authentication backends: local passwords (limited while SSO is on) and SSO sessions."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.backends import ModelBackend

from . import oidc


def password_allowed(user) -> bool:
    """Local passwords: everyone while SSO is off; with SSO on, only a superuser, and only when
    GATEHOUSE_LOCAL_LOGIN allows break-glass sign-in."""
    if not oidc.enabled():
        return True
    return bool(settings.GATEHOUSE["LOCAL_LOGIN"] and user.is_superuser)


class PasswordBackend(ModelBackend):
    """Django's username/password check, refused by `password_allowed` (django-axes counts refusals)."""

    def authenticate(self, request, username=None, password=None, **kwargs):
        user = super().authenticate(request, username=username, password=password, **kwargs)
        if user is not None and not password_allowed(user):
            return None
        return user


class SsoBackend(ModelBackend):
    """The backend recorded in sessions started by company SSO; it never checks credentials."""

    def authenticate(self, request, **credentials):
        return None
