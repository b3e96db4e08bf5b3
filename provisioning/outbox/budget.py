"""The shared rate budget of provider calls: in Redis when `REDIS_URL` is set, else in the
database (`RateBucket`); one per process."""

from __future__ import annotations

from django.conf import settings

from lib.ratelimit.budget import DatabaseStore, RateBudget, RedisStore

_budgets: dict[str, RateBudget] = {}


def shared_budget() -> RateBudget:
    url = getattr(settings, "REDIS_URL", "") or ""
    if url not in _budgets:
        if url:
            _budgets[url] = RateBudget(RedisStore.from_url(url))
        else:
            from provisioning.models import RateBucket

            _budgets[url] = RateBudget(DatabaseStore(RateBucket))
    return _budgets[url]


def provider_concurrency(name: str) -> int:
    """How many calls to provider `name` one worker process makes at once."""
    config = settings.GATEHOUSE
    by_name = config.get("PROVIDER_CONCURRENCY_BY_NAME") or {}
    return max(int(by_name.get(name, config.get("PROVIDER_CONCURRENCY", 8))), 1)
