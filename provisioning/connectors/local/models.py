"""The embedded `local` directory's own state."""

from __future__ import annotations

from django.db import models

from catalog.models import IdpGroup, Person


class LocalMembership(models.Model):
    """The embedded `local` directory's own state: who is in which local group.

    This plays the identity provider when no external one is configured; Gatehouse's view of
    memberships (catalog.GroupMembership) is kept separately, as it is for real providers.
    """

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(IdpGroup, on_delete=models.CASCADE, related_name="+")
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "local directory membership"
        constraints = [models.UniqueConstraint(fields=["person", "group"], name="local_membership_unique")]

    def __str__(self) -> str:
        return f"{self.person.email} ∈ {self.group.name}"
