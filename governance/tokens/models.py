"""API tokens for integrations such as Jira Automation (only a hash of the secret is stored)."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ApiToken(models.Model):
    """A bearer token for the REST API, limited to its scopes and, optionally, to the people it
    may speak for. Only a SHA-256 hash of the secret is stored; after a rotation the previous
    secret keeps working until `previous_valid_until`."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part, to find the token.")
    secret_hash = models.CharField(max_length=64)
    scopes = models.JSONField(default=list, blank=True, help_text="What the token may do, e.g. requests:submit.")
    actors = models.JSONField(
        default=list,
        blank=True,
        help_text="Emails or @domains the token may name as approver, by or requester; empty means anyone.",
    )
    expires_at = models.DateTimeField(null=True, blank=True)
    previous_secret_hash = models.CharField(max_length=64, blank=True)
    previous_valid_until = models.DateTimeField(null=True, blank=True)
    rotated_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        permissions = [("revoke_token", "Can revoke API tokens"), ("rotate_token", "Can rotate API tokens")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    def has_scope(self, scope: str) -> bool:
        return scope in (self.scopes or [])
