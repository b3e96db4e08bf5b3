"""Long-lived connectors: one client per provider per worker process (and thread), reused by
every batch, instead of a new SDK client, session and event loop per task.

A connector is rebuilt when its provider's configuration or registered factory changes, and
after a fork (a qcluster worker never uses its parent's sockets or event loop).
"""

from __future__ import annotations

import atexit
import contextlib
import hashlib
import os
import threading
from typing import Any

from provisioning.connectors import _FACTORIES, Connector, configured_values, connector_for, declaration_for

_local = threading.local()
_all: list[tuple[int, Connector]] = []  # (the process that built it, the connector)
_all_lock = threading.Lock()


def _identity(name: str) -> tuple[Any, ...]:
    """What the connector was built from: its factory (the object itself, kept alive so that its
    id is never reused by another) and its configuration, hashed."""
    declaration = declaration_for(name)
    values = repr(sorted(configured_values(declaration).items())) if declaration else ""
    return _FACTORIES.get(name), hashlib.sha256(values.encode()).hexdigest()


def _cache() -> dict[str, tuple[tuple[Any, ...], Connector]]:
    if getattr(_local, "pid", None) != os.getpid():
        _local.pid, _local.connectors = os.getpid(), {}
    return _local.connectors


def shared_connector(name: str) -> Connector:
    """This process's (and thread's) connector for provider `name`, built on first use."""
    cache = _cache()
    identity = _identity(name)
    cached = cache.get(name)
    if cached is not None and cached[0] == identity:
        return cached[1]
    if cached is not None:
        _close(cached[1])
    connector = connector_for(name)
    cache[name] = (identity, connector)
    with _all_lock:
        _all.append((os.getpid(), connector))
    return connector


def close_connectors() -> None:
    """Close this thread's connectors (e.g. before a worker thread ends)."""
    for _, connector in _cache().values():
        _close(connector)
    _cache().clear()


def _close(connector: Connector) -> None:
    with contextlib.suppress(Exception):
        connector.close()
    with _all_lock:
        _all[:] = [(pid, kept) for pid, kept in _all if kept is not connector]


@atexit.register
def _close_all() -> None:
    """At exit, close the connectors this process built (never a parent's, inherited by fork)."""
    with _all_lock:
        connectors = [connector for pid, connector in _all if pid == os.getpid()]
    for connector in connectors:
        with contextlib.suppress(Exception):
            connector.close()
