"""The demo's Auto Reclaim policy: Salesforce seats unused for 90 days, as a dry run.

Northwind's Salesforce has standing seats that predate Gatehouse, one of them unused for months:
`manage.py reclaim --app salesforce` reports it (switch the policy to Enforce in the admin to warn,
then remove after the grace period)."""

from __future__ import annotations

from catalog.models import Person, Role
from reviews.reclaim.models import ReclaimPolicy

APPLICATION = "salesforce"
EXCLUDED = ["marc"]  # the application owner keeps his seat whatever his sign-ins say


def load_reclaim_policy(people: dict[str, Person], roles: dict[str, Role]) -> dict[str, int]:
    """Called by the demo loader (governance.demo.add_to_demo) inside its transaction."""
    application = roles[f"{APPLICATION}/user"].application
    policy = ReclaimPolicy.objects.create(
        application=application,
        threshold_days=90,
        grace_days=14,
        mode=ReclaimPolicy.Mode.DRY_RUN,
        activity_source=ReclaimPolicy.ActivitySource.PROVIDER_LOGIN,
    )
    policy.excluded_people.set([people[handle] for handle in EXCLUDED])
    return {"reclaim policies": 1}
