"""Search that stays fast on a large history.

SQLite: an FTS5 table with the trigram tokenizer (`message_search`), which answers the
substring matches search asks for from its index; `message_search_row` gives each message
a stable integer key for it (a message's own key is a UUID) and keeps its conversation and
owner beside it, so that a search never reads the messages it does not show. Triggers
keep both in step with the messages: a reply is indexed when it stops streaming, not at
each checkpoint. PostgreSQL: a trigram GIN index (pg_trgm) on the messages' content, which
serves ILIKE.
"""

from django.db import migrations

SQLITE = [
    """CREATE TABLE message_search_row (
        id INTEGER PRIMARY KEY,
        message_id char(32) NOT NULL UNIQUE,
        conversation_id char(32) NOT NULL,
        owner_id integer NOT NULL
    )""",
    "CREATE VIRTUAL TABLE message_search USING fts5(content, tokenize = 'trigram')",
    """CREATE TRIGGER message_search_insert AFTER INSERT ON conversations_message BEGIN
        INSERT INTO message_search_row (message_id, conversation_id, owner_id)
            SELECT new.id, new.conversation_id, owner_id FROM conversations_conversation
            WHERE id = new.conversation_id;
        INSERT INTO message_search (rowid, content) VALUES (last_insert_rowid(), new.content);
    END""",
    """CREATE TRIGGER message_search_update AFTER UPDATE OF content, status
        ON conversations_message WHEN new.status != 'streaming' BEGIN
        UPDATE message_search SET content = new.content
            WHERE rowid = (SELECT id FROM message_search_row WHERE message_id = new.id);
    END""",
    """CREATE TRIGGER message_search_delete AFTER DELETE ON conversations_message BEGIN
        DELETE FROM message_search
            WHERE rowid = (SELECT id FROM message_search_row WHERE message_id = old.id);
        DELETE FROM message_search_row WHERE message_id = old.id;
    END""",
    """INSERT INTO message_search_row (message_id, conversation_id, owner_id)
        SELECT m.id, m.conversation_id, c.owner_id FROM conversations_message m
        JOIN conversations_conversation c ON c.id = m.conversation_id""",
    """INSERT INTO message_search (rowid, content)
        SELECT r.id, m.content FROM message_search_row r
        JOIN conversations_message m ON m.id = r.message_id""",
]
SQLITE_UNDO = [
    "DROP TRIGGER message_search_insert",
    "DROP TRIGGER message_search_update",
    "DROP TRIGGER message_search_delete",
    "DROP TABLE message_search",
    "DROP TABLE message_search_row",
]
POSTGRESQL = [
    "CREATE EXTENSION IF NOT EXISTS pg_trgm",
    "CREATE INDEX message_content_trgm ON conversations_message USING gin (content gin_trgm_ops)",
]
POSTGRESQL_UNDO = ["DROP INDEX message_content_trgm"]


def _run(statements: dict[str, list[str]]):  # noqa: ANN202
    def run(apps, schema_editor) -> None:  # noqa: ANN001
        for statement in statements.get(schema_editor.connection.vendor, []):
            schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("conversations", "0009_organise")]

    operations = [
        migrations.RunPython(
            _run({"sqlite": SQLITE, "postgresql": POSTGRESQL}),
            _run({"sqlite": SQLITE_UNDO, "postgresql": POSTGRESQL_UNDO}),
        )
    ]
