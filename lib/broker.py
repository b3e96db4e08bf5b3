"""Handing tasks to the django-q2 cluster through one broker per process.

`async_task` builds a new broker for every task it queues unless it is given one, and django-q2's
Redis broker opens a new Redis connection (connect, handshake) each time: a few milliseconds of
CPU per queued task in the web and worker processes alike, and a connection per task at the
server. `queue_task` reuses this process's broker (one per cluster name), whose connection pool
survives reconnects; after a fork, the child builds its own.
"""

from __future__ import annotations

import os
import threading
from typing import Any

from django_q.brokers import Broker, get_broker
from django_q.tasks import async_task

_brokers: dict[tuple[int, str | None], Broker] = {}
_lock = threading.Lock()


def shared_broker(cluster: str | None = None) -> Broker:
    """This process's broker for `cluster` (default: the configured cluster's queue)."""
    key = (os.getpid(), cluster)
    broker = _brokers.get(key)
    if broker is None:
        with _lock:
            broker = _brokers.get(key)
            if broker is None:
                broker = _brokers[key] = get_broker(cluster)
    return broker


def queue_task(func: str, *args: Any, cluster: str | None = None, **kwargs: Any) -> str:
    """`async_task(func, *args, **kwargs)` through this process's broker; returns the task id."""
    if cluster is not None:
        kwargs["cluster"] = cluster
    return async_task(func, *args, broker=shared_broker(cluster), **kwargs)
