"""Signed, expiring links to a page (approver page, review page): one way to make and read them.

A token carries a few ids under short keys, signed with a salt of its own (a token made for one
page is refused by another) and refused once older than its maximum age.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core import signing
from django.urls import reverse


@dataclass(frozen=True)
class SignedLink:
    """A kind of link: the URL name of its page, its salt, its id keys and its maximum age in days."""

    view: str
    salt: str
    keys: tuple[str, ...]
    max_age_days: Callable[[], int]

    def url(self, *ids: int) -> str:
        """An absolute URL (BASE_URL) to the page, with the ids signed into its token."""
        token = signing.dumps(dict(zip(self.keys, ids, strict=True)), salt=self.salt, compress=True)
        return settings.GATEHOUSE["BASE_URL"].rstrip("/") + reverse(self.view, args=[token])

    def read(self, token: str) -> tuple[int, ...]:
        """The ids from a token; raises signing.SignatureExpired / BadSignature (and KeyError,
        ValueError or TypeError for a validly signed token of another shape)."""
        data = signing.loads(token, salt=self.salt, max_age=self.max_age_days() * 86400)
        return tuple(int(data[key]) for key in self.keys)
