"""SQLite: a message's text reaches the search index in batches, not one by one.

FTS5 writes a segment of its index for every transaction that changes it, and merges the
segments as they pile up: a message indexed alone cost about 0.4 ms, in the send's own
transaction (and a reply's end as much again). Now the triggers only note which rows wait
(`message_search_pending`, keys of `message_search_row`, which still gets its row at once
and so keeps the messages' order); conversations.search.index_pending indexes them,
several dozen to a transaction, and before every search, so a search still finds
everything stored. PostgreSQL: unchanged.
"""

from django.db import migrations

INDEX_PENDING = [
    "DELETE FROM message_search WHERE rowid IN (SELECT id FROM message_search_pending)",
    """INSERT INTO message_search (rowid, content, owner)
        SELECT r.id, m.content, '<' || r.owner_id || '>' FROM message_search_pending p
        JOIN message_search_row r ON r.id = p.id
        JOIN conversations_message m ON m.id = r.message_id""",
    "DELETE FROM message_search_pending",
]
SQLITE = [
    "CREATE TABLE message_search_pending (id INTEGER PRIMARY KEY)",
    "DROP TRIGGER message_search_insert",
    "DROP TRIGGER message_search_update",
    "DROP TRIGGER message_search_delete",
    # A streaming reply waits for its end, as before.
    """CREATE TRIGGER message_search_insert AFTER INSERT ON conversations_message BEGIN
    INSERT INTO message_search_row (message_id, conversation_id, owner_id)
        SELECT new.id, new.conversation_id, owner_id FROM conversations_conversation
        WHERE id = new.conversation_id;
    INSERT INTO message_search_pending (id)
        SELECT id FROM message_search_row WHERE message_id = new.id AND new.status != 'streaming';
END""",
    """CREATE TRIGGER message_search_update AFTER UPDATE OF content, status
    ON conversations_message WHEN new.status != 'streaming' BEGIN
    INSERT OR IGNORE INTO message_search_pending (id)
        SELECT id FROM message_search_row WHERE message_id = new.id;
END""",
    """CREATE TRIGGER message_search_delete AFTER DELETE ON conversations_message BEGIN
    DELETE FROM message_search
        WHERE rowid = (SELECT id FROM message_search_row WHERE message_id = old.id);
    DELETE FROM message_search_pending
        WHERE id = (SELECT id FROM message_search_row WHERE message_id = old.id);
    DELETE FROM message_search_row WHERE message_id = old.id;
END""",
]
# Back to one message at a time (0011's and 0010's triggers), with nothing left waiting
# and the replies streaming now indexed, as those triggers had them.
SQLITE_UNDO = [
    *INDEX_PENDING,
    # (A reply streaming since before 0014 has its row from 0011's trigger already.)
    """DELETE FROM message_search WHERE rowid IN (SELECT r.id FROM message_search_row r
        JOIN conversations_message m ON m.id = r.message_id WHERE m.status = 'streaming')""",
    """INSERT INTO message_search (rowid, content, owner)
        SELECT r.id, m.content, '<' || r.owner_id || '>' FROM message_search_row r
        JOIN conversations_message m ON m.id = r.message_id WHERE m.status = 'streaming'""",
    "DROP TRIGGER message_search_insert",
    "DROP TRIGGER message_search_update",
    "DROP TRIGGER message_search_delete",
    "DROP TABLE message_search_pending",
    """CREATE TRIGGER message_search_insert AFTER INSERT ON conversations_message BEGIN
    INSERT INTO message_search_row (message_id, conversation_id, owner_id)
        SELECT new.id, new.conversation_id, owner_id FROM conversations_conversation
        WHERE id = new.conversation_id;
    INSERT INTO message_search (rowid, content, owner)
        SELECT id, new.content, '<' || owner_id || '>' FROM message_search_row
        WHERE message_id = new.id;
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
]


def _run(statements: list[str]):  # noqa: ANN202
    def run(apps, schema_editor) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor == "sqlite":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("conversations", "0013_message_client_id")]

    operations = [migrations.RunPython(_run(SQLITE), _run(SQLITE_UNDO))]
