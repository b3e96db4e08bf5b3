"""lib.sqlite: a transaction waiting for SQLite's write lock tries BEGIN again until its busy timeout."""

from __future__ import annotations

import sqlite3
import threading

import pytest
from django.db import OperationalError, connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog.models import Person

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(connection.vendor != "sqlite", reason="the SQLite backend's own behaviour"),
]


@pytest.fixture
def other_writer():
    """Another connection to the same file (as another process would hold it), in autocommit mode."""
    connection.ensure_connection()
    other = sqlite3.connect(connection.settings_dict["NAME"], timeout=10, isolation_level=None, check_same_thread=False)
    other.execute("CREATE TABLE lock_probe (note TEXT)")
    yield other
    other.execute("DROP TABLE lock_probe")
    other.close()


def test_a_transaction_waits_for_the_write_lock_then_begins(other_writer):
    other_writer.execute("BEGIN IMMEDIATE")
    other_writer.execute("INSERT INTO lock_probe VALUES ('written while holding the lock')")
    committed = threading.Timer(0.2, lambda: other_writer.execute("COMMIT"))
    committed.start()

    with transaction.atomic():
        # Begun only once the other writer committed: its row is there to read.
        with connection.cursor() as cursor:
            cursor.execute("SELECT note FROM lock_probe")
            assert cursor.fetchall() == [("written while holding the lock",)]
        Person.objects.create(email="second@example.com", name="Second")
    committed.join()

    assert Person.objects.filter(email="second@example.com").exists()


def test_it_gives_up_after_the_busy_timeout(other_writer):
    connection.ensure_connection()
    configured = connection.busy_timeout_ms
    other_writer.execute("BEGIN IMMEDIATE")
    try:
        connection.busy_timeout_ms = 50
        with pytest.raises(OperationalError, match="locked"), transaction.atomic():
            Person.objects.create(email="late@example.com", name="Late")
    finally:
        other_writer.execute("ROLLBACK")
        connection.busy_timeout_ms = configured

    assert connection.get_autocommit() and not connection.in_atomic_block
    assert not Person.objects.filter(email="late@example.com").exists()
    with transaction.atomic():  # the connection is usable again
        Person.objects.create(email="later@example.com", name="Later")


def test_statements_inside_keep_the_busy_timeout_and_the_query_log_shows_only_the_begin():
    with CaptureQueriesContext(connection) as captured, transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("PRAGMA busy_timeout")
        inside = cursor.fetchone()[0]

    assert inside == connection.busy_timeout_ms == 10000
    assert [query["sql"] for query in captured][:1] == ["BEGIN IMMEDIATE"]
    assert not any(query["sql"].startswith("PRAGMA busy_timeout =") for query in captured)
