"""Related rows a service has just written, kept on the instance as if prefetched.

A service that creates an object and its related rows in one transaction knows them already;
keeping them on the instance lets the caller render `instance.<name>.all()` without reading them
back, and lets `prefetch_related_objects` skip that lookup.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Model


def _cache_name(manager) -> str:
    # Many-to-many managers name their cache; reverse foreign-key managers keep it under the field's.
    return getattr(manager, "prefetch_cache_name", None) or manager.field.remote_field.cache_name


def kept_related(instance: Model, name: str) -> list[Model] | None:
    """`instance`'s related set `name` as prefetched or kept (the same objects), or None when it
    was not: for a service that changes those rows with a queryset update and keeps them in step."""
    cache = instance.__dict__.get("_prefetched_objects_cache", {})
    queryset = cache.get(_cache_name(getattr(instance, name)))
    return None if queryset is None else list(queryset)


def keep_as_prefetched(instance: Model, name: str, objects: Iterable[Model]) -> None:
    """Record `objects` as `instance`'s related set `name` (a reverse foreign key or a
    many-to-many), in the cache `prefetch_related` fills: `instance.<name>.all()` then reads no rows.
    Any later add/remove through the manager drops the cache again, as Django does."""
    manager = getattr(instance, name)
    cache_name = _cache_name(manager)
    cache = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    cache.pop(cache_name, None)  # so get_queryset() below is a fresh (unevaluated) queryset
    queryset = manager.get_queryset()
    queryset._result_cache = list(objects)
    queryset._prefetch_done = True
    cache[cache_name] = queryset
