"""Generated rows as plain tuples, written to PostgreSQL as one COPY text stream per table and batch.

The evidence generator makes millions of rows; building a model instance for each and preparing it
field by field costs more than the database spends storing it. A `Table` takes the columns the
generator sets as a tuple per row and gives every other column the model's default (auto times:
the time the table was opened). Other databases (SQLite, for the small runs and the test) get the
same rows through `lib.bulk.insert_rows`, as model instances.
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any

from django.core.management.color import no_style
from django.db import connection, models

from lib.bulk import insert_rows

NULL = "\\N"
_SPECIAL = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def copy_text(value: Any) -> str:
    """One value in COPY's text format."""
    if value is None:
        return NULL
    kind = type(value)
    if kind is str:
        return value.translate(_SPECIAL)
    if kind is datetime:
        return value.isoformat()
    if kind is bool:
        return "t" if value else "f"
    if kind is int:
        return str(value)
    if kind is timedelta:
        return f"{value.days} days {value.seconds}.{value.microseconds:06d} seconds"
    if kind is dict or kind is list:
        return json.dumps(value, separators=(",", ":")).translate(_SPECIAL)
    if isinstance(value, enum.Enum):
        return copy_text(value.value)
    raise TypeError(f"no COPY text for {kind.__name__}")


def _default(field: models.Field, now: datetime) -> Any:
    if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
        return now
    return field.get_default()


class Table:
    """The rows of one model waiting for their batch: `columns` given per row, the rest defaults."""

    def __init__(self, model: type[models.Model], columns: tuple[str, ...], now: datetime) -> None:
        self.model = model
        self.columns = columns
        self.fields = [f for f in model._meta.concrete_fields if f.attname in columns or not f.primary_key]
        missing = set(columns) - {f.attname for f in self.fields}
        if missing:
            raise ValueError(f"{model.__name__} has no columns {sorted(missing)}")
        index = {field.attname: n for n, field in enumerate(self.fields)}
        self.positions = tuple(index[name] for name in columns)
        self.defaults = [_default(field, now) for field in self.fields]
        self.copying = connection.vendor == "postgresql"
        self.template = [copy_text(value) for value in self.defaults] if self.copying else []
        self.rows: list[Any] = []

    def add(self, *values: Any) -> None:
        if not self.copying:
            self.rows.append(values)
            return
        line = self.template.copy()
        for position, value in zip(self.positions, values, strict=True):
            line[position] = copy_text(value)
        self.rows.append("\t".join(line))

    def __len__(self) -> int:
        return len(self.rows)

    def flush(self) -> int:
        """Write the waiting rows; returns how many."""
        count, rows, self.rows = len(self.rows), self.rows, []
        if not rows:
            return 0
        if self.copying:
            self._copy(rows)
        else:
            with_ids = "id" in self.columns
            insert_rows(self.model, (self._instance(row) for row in rows), batch_size=len(rows), with_ids=with_ids)
        return count

    def _copy(self, lines: list[str]) -> None:
        quote = connection.ops.quote_name
        names = ", ".join(quote(field.column) for field in self.fields)
        statement = f"COPY {quote(self.model._meta.db_table)} ({names}) FROM STDIN"
        with connection.cursor() as cursor, cursor.cursor.copy(statement) as copy:
            for start in range(0, len(lines), 10_000):
                copy.write("\n".join(lines[start : start + 10_000]) + "\n")

    def _instance(self, values: tuple) -> models.Model:
        return self.model(**dict(zip(self.columns, values, strict=True)))


@contextmanager
def without_reference_triggers() -> Iterator[None]:
    """On PostgreSQL as a superuser, skip the per-row foreign-key triggers while the rows go in
    (`session_replication_role = replica`, as a restore does); `check_references` checks after."""
    skipping = connection.vendor == "postgresql" and _superuser()
    if skipping:
        with connection.cursor() as cursor:
            cursor.execute("SET session_replication_role = replica")
    try:
        yield
    finally:
        if skipping:
            with connection.cursor() as cursor:
                cursor.execute("RESET session_replication_role")


def _superuser() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT rolsuper FROM pg_roles WHERE rolname = current_user")
        row = cursor.fetchone()
    return bool(row and row[0])


def check_references(model_types: Iterable[type[models.Model]]) -> None:
    """Every foreign key of the written rows names a row that exists: one anti-join per key."""
    quote = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in model_types:
            for field in model._meta.concrete_fields:
                if not field.is_relation:
                    continue
                child, parent = quote(field.column), quote(field.target_field.column)
                cursor.execute(
                    f"SELECT count(*) FROM {quote(model._meta.db_table)} child "
                    f"LEFT JOIN {quote(field.related_model._meta.db_table)} parent ON parent.{parent} = child.{child} "
                    f"WHERE child.{child} IS NOT NULL AND parent.{parent} IS NULL"
                )
                dangling = cursor.fetchone()[0]
                if dangling:
                    raise AssertionError(f"{dangling} rows of {model.__name__}.{field.name} refer to no row")


def reset_sequences(model_types: Iterable[type[models.Model]]) -> None:
    """After rows were written with their ids, the next id the database hands out follows them."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(model_types))
    with connection.cursor() as cursor:
        for sql in statements:
            cursor.execute(sql)
