"""The ORM's INSERT and UPDATE of model instances, written out.

For the statements of a send's transaction, which run one after another in the database's
thread while every other send waits: building a statement through the ORM's compiler cost
several times running it. These take the same values the ORM would (each field's
`pre_save` and `get_db_prep_save`, so `auto_now` stamps and JSON are as it writes them),
and send no signals, as `bulk_create` and `update` send none: the last guard of every save
(webchat.text.refuse_unstorable, on pre_save) is applied here instead.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connections, models

from webchat.text import problem

_TEXT = ("CharField", "TextField", "JSONField")


def _refuse_unstorable(instance: models.Model, fields: Sequence[models.Field]) -> None:
    """As refuse_unstorable: a NUL or lone surrogate is refused, naming the field."""
    for field in fields:
        if field.get_internal_type() in _TEXT:
            found = problem(getattr(instance, field.attname))
            if found:
                raise ValidationError({field.name: found})


def insert(instances: Sequence[models.Model], using: str = "default") -> None:
    """One INSERT of these instances (of one model). An auto-increment key is read back."""
    meta = instances[0]._meta
    connection = connections[using]
    auto = meta.pk if isinstance(meta.pk, models.AutoField) else None
    fields = [f for f in meta.concrete_fields if f is not auto]
    for instance in instances:
        _refuse_unstorable(instance, fields)
    rows = [
        [f.get_db_prep_save(f.pre_save(instance, add=True), connection) for f in fields]
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
