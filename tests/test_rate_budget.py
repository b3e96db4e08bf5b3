"""The shared rate budget: its rules, and its two stores (database, Redis) shared by workers."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from email.utils import formatdate
from pathlib import Path

import pytest
from django.db import connection

from lib.http import RateWindow, parse_rate_window
from lib.ratelimit.budget import BucketState, DatabaseStore, RateBudget, RedisStore, grant, observe
from provisioning.models import RateBucket

NOW = 1_800_000_000.0
ROOT = Path(__file__).resolve().parent.parent


def test_it_grants_what_remains_and_names_the_reset_for_the_rest():
    state = BucketState(limit=600, remaining=3, reset_at=NOW + 40)
    state, given = grant(state, 5, NOW)
    assert (given.granted, given.until, state.remaining) == (3, NOW + 40, 0)
    assert grant(state, 1, NOW)[1].granted == 0


def test_it_lets_calls_through_on_a_bucket_it_knows_nothing_of():
    assert grant(BucketState(), 50, NOW)[1].granted == 50


def test_a_new_window_starts_full_with_a_guessed_end_until_the_provider_says():
    spent = BucketState(limit=10, remaining=0, reset_at=NOW - 1)
    state, given = grant(spent, 4, NOW)
    assert (given.granted, state.remaining, state.estimated) == (4, 6, True)
    told = observe(state, RateWindow(10, 8, NOW + 17), NOW)
    assert told == BucketState(10, 6, NOW + 17)  # ours is lower: calls still in flight


def test_the_provider_count_wins_when_others_spent_more():
    state = BucketState(limit=600, remaining=500, reset_at=NOW + 30)
    assert observe(state, RateWindow(600, 120, NOW + 30.5), NOW).remaining == 120


def test_a_429_closes_the_bucket_until_the_time_named():
    state = BucketState(limit=600, remaining=500, reset_at=NOW + 30)
    closed = observe(state, RateWindow(None, 0, NOW + 5), NOW)
    assert (closed.remaining, closed.reset_at, closed.limit) == (0, NOW + 5, 600)


def test_a_late_answer_from_an_old_window_is_ignored():
    state = BucketState(limit=600, remaining=590, reset_at=NOW + 50)
    assert observe(state, RateWindow(600, 2, NOW - 3), NOW) == state


def test_it_reads_oktas_headers_against_the_answers_date_and_a_retry_after():
    date = formatdate(NOW, usegmt=True)
    headers = {"X-Rate-Limit-Limit": "600", "X-Rate-Limit-Remaining": "17", "X-Rate-Limit-Reset": str(int(NOW) + 30)}
    window = parse_rate_window({**headers, "Date": date}, status=204)
    assert (window.limit, window.remaining) == (600, 17)
    throttled = parse_rate_window({**headers, "Date": date}, status=429)
    assert throttled.remaining == 0
    graph = parse_rate_window({"Retry-After": "7"}, status=429)
    assert (graph.limit, graph.remaining) == (None, 0)
    assert parse_rate_window({"Retry-After": "7"}, status=503) is None


def _take_concurrently(budget_for, workers: int, takes: int) -> int:
    """Threads, each with its own connection, taking one call at a time; total granted."""
    granted = []
    lock = threading.Lock()

    def work() -> None:
        budget = budget_for()
        mine = sum(budget.take("okta:/api/v1/groups").granted for _ in range(takes))
        with lock:
            granted.append(mine)
        connection.close()

    threads = [threading.Thread(target=work) for _ in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sum(granted)


@pytest.mark.django_db(transaction=True)
def test_the_database_budget_is_shared_by_workers_without_overspending():
    budget = RateBudget(DatabaseStore(RateBucket), clock=lambda: NOW)
    budget.observe("okta:/api/v1/groups", RateWindow(600, 25, NOW + 30))

    total = _take_concurrently(lambda: RateBudget(DatabaseStore(RateBucket), clock=lambda: NOW), 4, 10)

    assert total == 25
    assert RateBucket.objects.get(key="okta:/api/v1/groups").remaining == 0


def redis_url() -> str:
    url = os.environ.get("GATEHOUSE_TEST_REDIS_URL")
    if not url:
        pytest.skip("GATEHOUSE_TEST_REDIS_URL is not set (test.sh starts Redis and sets it)")
    return url


def test_the_redis_budget_is_shared_by_workers_and_processes_without_overspending():
    import redis

    url = redis_url()
    client = redis.Redis.from_url(url)
    client.delete(RedisStore.PREFIX + "okta:/api/v1/groups")
    budget = RateBudget(RedisStore(client), clock=lambda: NOW)
    budget.observe("okta:/api/v1/groups", RateWindow(600, 40, NOW + 30))
    script = (
        "import sys, redis; from lib.ratelimit.budget import RateBudget, RedisStore;"
        f"b = RateBudget(RedisStore(redis.Redis.from_url({url!r})), clock=lambda: {NOW});"
        "print(sum(b.take('okta:/api/v1/groups').granted for _ in range(15)))"
    )
    other = subprocess.Popen([sys.executable, "-c", script], cwd=ROOT, stdout=subprocess.PIPE, text=True)

    here = _take_concurrently(lambda: RateBudget(RedisStore(redis.Redis.from_url(url)), clock=lambda: NOW), 3, 10)
    there = int(other.communicate(timeout=60)[0])

    assert here + there == 40
    assert budget.state("okta:/api/v1/groups").remaining == 0


def test_an_unreachable_redis_lets_calls_through_rather_than_stopping_the_drain():
    import socket

    import redis

    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    budget = RateBudget(RedisStore(redis.Redis(port=port, socket_connect_timeout=0.5)), clock=lambda: NOW)

    assert budget.take("okta:/api/v1/groups", 7).granted == 7
    budget.observe("okta:/api/v1/groups", RateWindow(600, 0, NOW + 30))  # logged, not raised
