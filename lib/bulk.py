"""Set-based inserts for the bulk paths: hundreds of thousands of rows without per-row ORM work.

`insert_rows` writes unsaved model instances with PostgreSQL's COPY (a handful of rows: one
multi-row INSERT), or one prepared statement executed for many parameter rows elsewhere (SQLite);
`insert_values` writes plain tuples of named fields (what `.values_list()` reads), with every other
column at its model default, so a caller builds no model instance at all. It is for rows nobody
needs the primary keys of afterwards (the objects stay unsaved): a campaign's snapshot, for example — or rows that carry
the ids they are given (`with_ids`, e.g. generated data whose rows refer to each other; the caller
then resets the table's sequence). Values are prepared once per field kind, not through the
per-value path of `bulk_create`. `update_values` sets a few fields of many existing rows with one
prepared UPDATE executed for every row (not the CASE per row and field that `bulk_update` writes).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from itertools import islice
from typing import Any

from django.db import connections, models, router
from django.utils import timezone

Prepare = Callable[[Any], Any]

#: on PostgreSQL, up to this many rows go in one multi-row INSERT: a COPY costs the server more
#: for a handful of rows (0.62 ms against about 0.2 ms for a decision's five audit events)
FEW_ROWS = 20


def _insertable(model: type[models.Model], *, with_ids: bool = False) -> list[models.Field]:
    """Every concrete column a new row sets: all but an auto-incremented primary key (unless given)."""
    return [
        field
        for field in model._meta.concrete_fields
        if with_ids or not (field.primary_key and getattr(field, "db_returning", False))
    ]


def _preparer(field: models.Field, connection, *, native: bool) -> Prepare:
    """How one field's Python value becomes what the driver takes: text, numbers and flags as their
    plain type; dates and times natively to PostgreSQL and as Django's text format to SQLite."""
    if isinstance(field, models.CharField | models.TextField):
        return _as(str)  # choices are str subclasses: drivers would write an enum's name, not its value
    if isinstance(field, models.BooleanField):
        return _as(bool)
    if isinstance(field, models.IntegerField | models.ForeignKey) and not isinstance(field, models.AutoField):
        return _as(int) if isinstance(field, models.IntegerField) else lambda value: value
    if native and isinstance(field, models.DateTimeField | models.DateField):
        return lambda value: value
    return lambda value: field.get_db_prep_save(value, connection)


def _as(kind: type) -> Prepare:
    return lambda value: value if value is None or type(value) is kind else kind(value)


def _stamp_auto_times(objects: list[models.Model], fields: list[models.Field], now: datetime) -> None:
    """Fill auto_now / auto_now_add columns left empty, as saving would (a time already set is kept)."""
    for field in fields:
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            for obj in objects:
                if getattr(obj, field.attname) is None:
                    setattr(obj, field.attname, now)


def insert_rows(
    model: type[models.Model], objects: Iterable[models.Model], *, batch_size: int = 5000, with_ids: bool = False
) -> int:
    """Insert every object of `objects` (unsaved instances of `model`); returns how many.

    With `with_ids`, each object's primary key is written as it is set."""
    using = router.db_for_write(model)
    connection = connections[using]
    fields = _insertable(model, with_ids=with_ids)
    copying = connection.vendor == "postgresql"
    prepare = [_preparer(field, connection, native=copying) for field in fields]
    now = timezone.now()
    iterator = iter(objects)
    count = 0
    while batch := list(islice(iterator, batch_size)):
        _stamp_auto_times(batch, fields, now)
        rows = [tuple(p(getattr(obj, f.attname)) for f, p in zip(fields, prepare, strict=True)) for obj in batch]
        _write(connection, model, fields, rows, copying=copying)
        count += len(rows)
    return count


def insert_values(
    model: type[models.Model], field_names: Sequence[str], rows: Iterable[tuple], *, batch_size: int = 5000
) -> int:
    """Insert one new row of `model` per tuple of `rows`, whose values are those of `field_names`
    (attribute names such as "person_id", in that order); every other column gets its model
    default (auto_now / auto_now_add times: now; a NULL default is left to the database, whose
    columns Django creates without defaults). Returns how many.

    Values are plain Python values: str (not an enum member), int, bool, aware datetimes, None."""
    using = router.db_for_write(model)
    connection = connections[using]
    by_name = {field.attname: field for field in _insertable(model)}
    unknown = [name for name in field_names if name not in by_name]
    if unknown:
        raise ValueError(f"{model.__name__} has no insertable field {', '.join(unknown)}")
    given = [by_name[name] for name in field_names]
    named = set(field_names)
    now = timezone.now()
    copying = connection.vendor == "postgresql"
    rest = _sent_defaults([field for name, field in by_name.items() if name not in named], now, connection, copying)
    columns = [*given, *(field for field, _ in rest)]
    defaults = tuple(value for _, value in rest)
    convert = [] if copying else [(i, field) for i, field in enumerate(given) if _needs_preparing(field)]
    iterator = iter(rows)
    count = 0
    while batch := list(islice(iterator, batch_size)):
        if convert:
            batch = [_prepared(row, convert, connection) for row in batch]
        _write(connection, model, columns, [row + defaults for row in batch], copying=copying)
        count += len(batch)
    return count


def _sent_defaults(
    fields: list[models.Field], now: datetime, connection, copying: bool
) -> list[tuple[models.Field, Any]]:
    """(column, value) of the unset columns a statement must name. A column left out gets the
    database's default: NULL where Django declared none, so NULL defaults are not sent, nor
    columns with a `db_default`."""
    sent = []
    for field in fields:
        if field.db_default is not models.NOT_PROVIDED:
            continue
        value = _default(field, now, connection, native=copying)
        if value is not None:
            sent.append((field, value))
    return sent


def _default(field: models.Field, now: datetime, connection, *, native: bool) -> Any:
    """What a new row holds in a column nobody set, prepared for the driver."""
    value = now if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False) else field.get_default()
    return _preparer(field, connection, native=native)(value)


def _needs_preparing(field: models.Field) -> bool:
    """Columns whose plain Python value SQLite's driver cannot take as it is (times, dates, JSON…)."""
    simple = models.CharField | models.TextField | models.BooleanField | models.IntegerField | models.ForeignKey
    return not isinstance(field, simple) or isinstance(field, models.AutoField)


def _prepared(row: tuple, convert: list[tuple[int, models.Field]], connection) -> tuple:
    values = list(row)
    for index, field in convert:
        values[index] = field.get_db_prep_save(values[index], connection)
    return tuple(values)


def _write(connection, model: type[models.Model], fields: list[models.Field], rows: list[tuple], *, copying: bool):
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    columns = ", ".join(quote(field.column) for field in fields)
    placeholders = f"({', '.join(['%s'] * len(fields))})"
    with connection.cursor() as cursor:
        if copying and len(rows) > FEW_ROWS:
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        elif copying:  # a handful (a decision's audit events): COPY's own cost would outweigh the rows'
            # on the driver's cursor, as the COPY: either is the one statement of a bulk write
            values = ", ".join([placeholders] * len(rows))
            cursor.cursor.execute(f"INSERT INTO {table} ({columns}) VALUES {values}", [v for row in rows for v in row])
        else:
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES {placeholders}", rows)


def update_values(model: type[models.Model], field_names: Sequence[str], rows: Iterable[tuple]) -> int:
    """Set `field_names` (attribute names such as "manager_id") of existing rows of `model`: each
    tuple holds those values, then the row's primary key. One prepared statement executed for
    every row (the driver's executemany). Returns how many tuples were given."""
    by_name = {field.attname: field for field in model._meta.concrete_fields}
    unknown = [name for name in field_names if name not in by_name or by_name[name].primary_key]
    if unknown:
        raise ValueError(f"{model.__name__} has no updatable field {', '.join(unknown)}")
    rows = list(rows)
    if not rows:
        return 0
    connection = connections[router.db_for_write(model)]
    given = [by_name[name] for name in field_names]
    convert = [(i, field) for i, field in enumerate(given) if _needs_preparing(field)]
    if convert:
        rows = [_prepared(row, convert, connection) for row in rows]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(field.column)} = %s" for field in given)
    statement = f"UPDATE {quote(model._meta.db_table)} SET {assignments} WHERE {quote(model._meta.pk.column)} = %s"
    with connection.cursor() as cursor:
        cursor.executemany(statement, rows)
    return len(rows)
