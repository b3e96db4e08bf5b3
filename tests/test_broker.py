"""lib.broker: tasks are handed to the cluster through one broker per process, so that with Redis
each queued task costs a push, not a new connection."""

from __future__ import annotations

import shutil

import pytest
import redis
from django_q.conf import Conf
from django_q.signing import SignedPackage

from lib import broker as brokers
from tests.servers import RedisServer


@pytest.fixture
def fresh_brokers(monkeypatch):
    monkeypatch.setattr(brokers, "_brokers", {})


def test_one_broker_per_cluster_in_a_process(fresh_brokers, db):
    default, long = brokers.shared_broker(), brokers.shared_broker("long")
    assert brokers.shared_broker() is default and brokers.shared_broker("long") is long
    assert default is not long


@pytest.fixture
def private_redis(monkeypatch, fresh_brokers):
    """django-q2 pointed at a Redis of this test's own (its connection count is then exact)."""
    if shutil.which("redis-server") is None:
        pytest.skip("Redis is not installed (test.sh installs it)")
    server = RedisServer()
    server.start()
    monkeypatch.setattr(Conf, "ORM", None)
    monkeypatch.setattr(Conf, "REDIS", server.url)
    try:
        yield redis.from_url(server.url)
    finally:
        server.destroy()


def _connections(client: redis.Redis) -> int:
    return int(client.info("stats")["total_connections_received"])


def test_tasks_queued_through_redis_share_one_connection(private_redis):
    before = _connections(private_redis)
    ids = [brokers.queue_task("math.floor", n + 0.5, sync=False) for n in range(5)]
    opened = _connections(private_redis) - before  # this client's own connection is open already

    assert opened == 1
    queued = [SignedPackage.loads(raw) for raw in private_redis.lrange(brokers.shared_broker().list_key, 0, -1)]
    assert [task["id"] for task in queued] == ids
    assert [task["args"] for task in queued] == [(n + 0.5,) for n in range(5)]


def test_the_shared_connection_survives_a_redis_restart(private_redis):
    brokers.queue_task("math.floor", 1.5, sync=False)
    private_redis.connection_pool.disconnect()
    port = private_redis.connection_pool.connection_kwargs["port"]
    private_redis.shutdown(nosave=True)
    restarted = RedisServer()
    restarted.port = port
    restarted.start()
    try:
        brokers.queue_task("math.floor", 2.5, sync=False)  # the pool reconnects
        assert private_redis.llen(brokers.shared_broker().list_key) == 1  # the first was lost with the server
    finally:
        restarted.destroy()
