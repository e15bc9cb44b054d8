"""The ORM's INSERT, UPDATE and SELECT of model instances, written out.

For the statements of a send's transaction, which run one after another in the database's
thread while every other send waits: building a statement through the ORM's compiler cost
several times running it. These take the same values the ORM would (each field's
`pre_save` and `get_db_prep_save`, so `auto_now` stamps and JSON are as it writes them),
and send no signals, as `bulk_create` and `update` send none: the last guard of every save
(webchat.text.refuse_unstorable, on pre_save) is applied here instead.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from typing import Any, TypeVar

from django.core.exceptions import ValidationError
from django.db import connections, models
from django.db.backends.base.base import BaseDatabaseWrapper

from webchat.text import problem

_TEXT = ("CharField", "TextField", "JSONField")


def _refuse_unstorable(instance: models.Model, fields: Sequence[models.Field]) -> None:
    """As refuse_unstorable: a NUL or lone surrogate is refused, naming the field."""
    for field in fields:
        if field.get_internal_type() in _TEXT:
            found = problem(getattr(instance, field.attname))
            if found:
                raise ValidationError({field.name: found})


def insert(
    instances: Sequence[models.Model], using: str = "default", kept: Collection[str] = ()
) -> None:
    """One INSERT of these instances (of one model). An auto-increment key is read back.
    The fields named in `kept` are written as the instances hold them, not stamped (an
    imported message's own times)."""
    meta = instances[0]._meta
    connection = connections[using]
    auto = meta.pk if isinstance(meta.pk, models.AutoField) else None
    fields = [f for f in meta.concrete_fields if f is not auto]
    for instance in instances:
        _refuse_unstorable(instance, fields)
    rows = [
        [
            f.get_db_prep_save(
                getattr(instance, f.attname) if f.name in kept else f.pre_save(instance, add=True),
                connection,
            )
            for f in fields
        ]
        for instance in instances
    ]
    quote = connection.ops.quote_name
    placeholders = f"({', '.join(['%s'] * len(fields))})"
    # The names are the model's own, never input.
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "  # noqa: S608
        f"VALUES {', '.join([placeholders] * len(rows))}"
    )
    returning = auto is not None and connection.features.can_return_columns_from_insert
    if returning:
        sql += f" RETURNING {quote(auto.column)}"
    with connection.cursor() as cursor:
        cursor.execute(sql, [value for row in rows for value in row])
        if auto is not None:
            assert len(instances) == 1, "one instance at a time when the database numbers it"
            instances[0].pk = cursor.fetchone()[0] if returning else cursor.lastrowid
    for instance in instances:
        instance._state.adding = False
        instance._state.db = using


def insert_all(
    instances: Sequence[models.Model], using: str = "default", kept: Collection[str] = ()
) -> None:
    """`insert`, as many INSERTs as the database's limit on parameters asks (thousands of
    rows, where `bulk_create` built each statement at several times the cost of running it).
    Not for a model whose key the database numbers."""
    if not instances:
        return
    fields = instances[0]._meta.concrete_fields
    step = max(1, connections[using].ops.bulk_batch_size(fields, instances))
    for start in range(0, len(instances), step):
        insert(instances[start : start + step], using, kept)


def update(
    instance: models.Model,
    names: Sequence[str],
    using: str = "default",
    where: Mapping[str, Any] | None = None,
) -> int:
    """UPDATE these fields of `instance`'s row (an `auto_now` field among them is stamped),
    only while the row's fields in `where` still hold those values. Returns the rows
    changed: 1, or 0 when the row is gone or no longer matches."""
    meta = instance._meta
    connection = connections[using]
    fields = [meta.get_field(name) for name in names]
    _refuse_unstorable(instance, fields)
    values = [f.get_db_prep_save(f.pre_save(instance, add=False), connection) for f in fields]
    quote = connection.ops.quote_name
    assignments = ", ".join(f"{quote(f.column)} = %s" for f in fields)
    conditions = [f"{quote(meta.pk.column)} = %s"]
    values.append(meta.pk.get_db_prep_value(instance.pk, connection))
    for name, value in (where or {}).items():
        field = meta.get_field(name)
        if value is None:
            conditions.append(f"{quote(field.column)} IS NULL")
        else:
            conditions.append(f"{quote(field.column)} = %s")
            values.append(field.get_db_prep_value(value, connection))
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {quote(meta.db_table)} SET {assignments} WHERE {' AND '.join(conditions)}",  # noqa: S608
            values,
        )
        return cursor.rowcount


M = TypeVar("M", bound=models.Model)


def select(
    model: type[M],
    sql: str,
    params: Sequence[Any] | Mapping[str, Any],
    using: str = "default",
) -> list[M]:
    """The rows of a written-out SELECT, read whole, as `model.objects.raw(sql, params)`
    reads them: each parameter adapted to the database as a raw query adapts it (a
    datetime to UTC on SQLite, say); a column named as a field is that field, converted
    from the database as the ORM converts it; any other column is an attribute as it
    came. Without the raw queryset's setup on every call, which cost more than a short
    query itself."""
    connection = connections[using]
    adapt = connection.ops.adapt_unknown_value
    if isinstance(params, Mapping):
        params = {name: adapt(value) for name, value in params.items()}
    else:
        params = [adapt(value) for value in params]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        columns = tuple(column[0] for column in cursor.description)
        rows = cursor.fetchall()
    if not rows:
        return []
    names, convert, extras = _reader(connection, model, columns)
    found = []
    for row in rows:
        values = convert(row)
        instance = model.from_db(using, names, values[: len(names)])
        for name, value in zip(extras, values[len(names) :], strict=True):
            setattr(instance, name, value)
        found.append(instance)
    return found


Reader = tuple[list[str], Callable[[Sequence[Any]], list[Any]], list[str]]


def _reader(
    connection: BaseDatabaseWrapper, model: type[models.Model], columns: tuple[str, ...]
) -> Reader:
    """For rows of these columns: the model's field names they hold (in the model's
    order), a function that orders and converts a row (those fields' values, then the
    other columns'), and the other columns' names. Made once per connection, model and
    columns: the queries are the code's own, so their columns are a handful of sets."""
    readers = connection.__dict__.setdefault("_webchat_readers", {})
    key = (model, columns)
    if key not in readers:
        by_column = {f.column: f for f in model._meta.concrete_fields}
        fields = [f for f in model._meta.concrete_fields if f.column in columns]
        if model._meta.pk not in fields:
            raise ValueError(f"A SELECT of {model.__name__} must read its primary key.")
        extras = [c for c in columns if c not in by_column]
        order = [columns.index(f.column) for f in fields] + [columns.index(c) for c in extras]
        converters = [
            (
                i,
                [*connection.ops.get_db_converters(col), *col.get_db_converters(connection)],
                col,
            )
            for i, col in enumerate(f.get_col(model._meta.db_table) for f in fields)
        ]
        converters = [(i, funcs, col) for i, funcs, col in converters if funcs]

        def convert(row: Sequence[Any]) -> list[Any]:
            values = [row[i] for i in order]
            for i, funcs, col in converters:
                for func in funcs:
                    values[i] = func(values[i], col, connection)
            return values

        readers[key] = ([f.attname for f in fields], convert, extras)
    return readers[key]
