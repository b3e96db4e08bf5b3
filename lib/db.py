"""PostgreSQL connections that reuse parsed and planned statements.

Django binds query parameters on the client by default, so every query is a new text that
PostgreSQL parses and plans again. With server-side binding, psycopg prepares a statement the
second time a connection runs it and PostgreSQL then skips both steps: for the ORM's many-join
queries that is most of the database's CPU per query.
"""

from __future__ import annotations

from typing import Any

from django.db.backends.postgresql.base import ServerBindingCursor
from psycopg import ClientCursor

# Statements with many values (bulk writes, sweeps over id lists) are bound on the client as
# before: their texts vary from batch to batch, and PostgreSQL spends more CPU on a statement with
# hundreds of bound parameters than on the same values written out (measured on the outbox drain).
# The wire protocol could not carry more than 65,535 anyway.
MAX_SERVER_PARAMETERS = 50

# psycopg prepares a statement once it has run this many times before on the connection.
PREPARE_THRESHOLD = 1


class PreparingCursor(ServerBindingCursor):
    """Server-side binding (so psycopg prepares repeated statements), except for statements with
    more parameters than `MAX_SERVER_PARAMETERS`, which are merged on the client."""

    def execute(self, query: Any, params: Any = None, *, prepare: bool | None = None, binary: bool | None = None):
        if params is not None and len(params) > MAX_SERVER_PARAMETERS:
            merged = ClientCursor(self.connection).mogrify(query, params)
            return super().execute(merged, None, prepare=False, binary=binary)
        return super().execute(query, params, prepare=prepare, binary=binary)


def prepared_statement_options(enabled: bool) -> dict[str, Any]:
    """Connection OPTIONS for PostgreSQL: prepared statements when `enabled` (off behind a
    connection pooler that cannot carry them from one transaction to the next)."""
    if not enabled:
        return {}
    # server_side_binding tells Django's backend features; the cursor class is ours.
    return {"server_side_binding": True, "cursor_factory": PreparingCursor, "prepare_threshold": PREPARE_THRESHOLD}
