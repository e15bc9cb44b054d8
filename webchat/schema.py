"""Migration operations that keep a running site writable while they run."""

from __future__ import annotations

from typing import Any

from django.db import migrations


class AddIndexWithoutLocking(migrations.AddIndex):
    """AddIndex, built on PostgreSQL with CREATE INDEX CONCURRENTLY: the table's writes (a
    reply's checkpoints, sends) go on while it is built, on a table of any size. Its
    migration must say `atomic = False`; one that failed half-way can be run again. SQLite
    builds it as AddIndex does."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            super().database_forwards(app_label, schema_editor, from_state, to_state)
            return
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            # A build that failed leaves an invalid index of that name: it goes first.
            name = schema_editor.quote_name(self.index.name)
            schema_editor.execute(f"DROP INDEX CONCURRENTLY IF EXISTS {name}")
            schema_editor.add_index(model, self.index, concurrently=True)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        if schema_editor.connection.vendor != "postgresql":
            super().database_backwards(app_label, schema_editor, from_state, to_state)
            return
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            schema_editor.remove_index(model, self.index, concurrently=True)
