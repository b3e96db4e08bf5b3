"""The abstract row of a database-held rate bucket (an app declares the concrete table)."""

from __future__ import annotations

from django.db import models


class RateBucketRow(models.Model):
    """One provider bucket's window as the workers know it (see lib.ratelimit.budget)."""

    key = models.CharField(max_length=200, unique=True)
    limit = models.IntegerField(null=True, blank=True)
    remaining = models.IntegerField(null=True, blank=True)
    #: epoch seconds at which the window ends
    reset_at = models.FloatField(null=True, blank=True)
    #: True while the window's end is our guess (the provider has not answered in it yet)
    estimated = models.BooleanField(default=False)
    #: bumped on every write: a write is applied only if nobody wrote since it was read
    version = models.BigIntegerField(default=0)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return f"{self.key}: {self.remaining}/{self.limit}"
