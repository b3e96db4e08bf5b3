"""API tokens for integrations such as Jira Automation (only a hash of the secret is stored)."""

from __future__ import annotations

from django.db import models


class ApiToken(models.Model):
    """A bearer token for the REST API. Only a SHA-256 hash of the secret is stored."""

    name = models.CharField(max_length=100, unique=True)
    prefix = models.CharField(max_length=16, unique=True, help_text="Public part, to find the token.")
    secret_hash = models.CharField(max_length=64)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "API token"
        permissions = [("revoke_token", "Can revoke API tokens")]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
