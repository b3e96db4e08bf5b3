"""SQLite for several processes writing one file: a transaction waiting for the write lock tries
again every millisecond.

With `transaction_mode` IMMEDIATE a transaction takes the database's one write lock at BEGIN. SQLite's
own busy handler waits for it in growing sleeps (1, 2, 5, 10 … then 100 ms), so under contention
the lock often sits free while every waiter sleeps, and twenty concurrent approvals queue up
for seconds. Here BEGIN is tried again every millisecond instead, up to the connection's busy timeout;
statements inside the transaction keep SQLite's handler (in WAL mode, once a transaction holds the
write lock they rarely wait).
"""

from __future__ import annotations

import time

from django.db import OperationalError
from django.db.backends.sqlite3 import base

#: seconds between two tries of BEGIN while another connection holds the write lock
RETRY_SECONDS = 0.001


class DatabaseWrapper(base.DatabaseWrapper):
    def get_new_connection(self, conn_params):
        connection = super().get_new_connection(conn_params)
        # What the init command (or the connect timeout) set: restored after each BEGIN.
        self.busy_timeout_ms = connection.execute("PRAGMA busy_timeout").fetchone()[0]
        return connection

    def _start_transaction_under_autocommit(self) -> None:
        if self.transaction_mode != "IMMEDIATE":
            super()._start_transaction_under_autocommit()
            return
        raw = self.connection
        raw.execute("PRAGMA busy_timeout = 0")  # on the driver: the query log shows only the BEGIN
        try:
            deadline = time.monotonic() + self.busy_timeout_ms / 1000
            while True:
                try:
                    super()._start_transaction_under_autocommit()
                    return
                except OperationalError as error:
                    if "locked" not in str(error) or time.monotonic() >= deadline:
                        raise
                    time.sleep(RETRY_SECONDS)
        finally:
            raw.execute(f"PRAGMA busy_timeout = {int(self.busy_timeout_ms)}")
