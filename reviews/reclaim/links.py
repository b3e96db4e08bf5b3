"""How a person keeps access an Auto Reclaim warning is about: the warning's signed link (email
and Slack) and its Slack button, both handled by `reviews.reclaim.keep`."""

from __future__ import annotations

from catalog.models import Person
from governance.signed_links import SignedLink
from reviews.models import ReclaimPolicy

KEEP_ACTION = "gatehouse_reclaim_keep"  # the Slack button's action id
KEEP_LINK_MAX_AGE_DAYS = 31  # past the longest usual grace period; after it, using the application counts

KEEP_LINK = SignedLink(
    view="reviews:reclaim-keep",
    salt="gatehouse.reclaim-keep",
    keys=("r", "p"),
    max_age_days=lambda: KEEP_LINK_MAX_AGE_DAYS,
)


def keep_link(policy: ReclaimPolicy, person: Person) -> str:
    """An absolute, signed URL where `person` keeps their access under `policy`."""
    return KEEP_LINK.url(policy.pk, person.pk)


def read_keep_link(token: str) -> tuple[int, int]:
    """(policy id, person id); raises signing.SignatureExpired / BadSignature."""
    policy_id, person_id = KEEP_LINK.read(token)
    return policy_id, person_id
