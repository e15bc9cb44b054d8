"""Search kept to its person inside the SQLite index.

The FTS5 table gains an `owner` column ("<id>", delimited so that one person's id is
never found inside another's): a search asks the index for the person's rows holding the
words, so a word common in other people's messages costs nothing in one's own search (it
used to read every match of everyone's, then keep the person's). PostgreSQL: unchanged.
"""

from django.db import migrations

INSERT_TRIGGER = """CREATE TRIGGER message_search_insert AFTER INSERT ON conversations_message BEGIN
    INSERT INTO message_search_row (message_id, conversation_id, owner_id)
        SELECT new.id, new.conversation_id, owner_id FROM conversations_conversation
        WHERE id = new.conversation_id;
    INSERT INTO message_search (rowid, content, owner)
        SELECT id, new.content, '<' || owner_id || '>' FROM message_search_row
        WHERE message_id = new.id;
END"""
SQLITE = [
    "DROP TRIGGER message_search_insert",
    "DROP TABLE message_search",
    "CREATE VIRTUAL TABLE message_search USING fts5(content, owner, tokenize = 'trigram')",
    """INSERT INTO message_search (rowid, content, owner)
        SELECT r.id, m.content, '<' || r.owner_id || '>' FROM message_search_row r
        JOIN conversations_message m ON m.id = r.message_id""",
    INSERT_TRIGGER,
]
SQLITE_UNDO = [
    "DROP TRIGGER message_search_insert",
    "DROP TABLE message_search",
    "CREATE VIRTUAL TABLE message_search USING fts5(content, tokenize = 'trigram')",
    """INSERT INTO message_search (rowid, content)
        SELECT r.id, m.content FROM message_search_row r
        JOIN conversations_message m ON m.id = r.message_id""",
    """CREATE TRIGGER message_search_insert AFTER INSERT ON conversations_message BEGIN
        INSERT INTO message_search_row (message_id, conversation_id, owner_id)
            SELECT new.id, new.conversation_id, owner_id FROM conversations_conversation
            WHERE id = new.conversation_id;
        INSERT INTO message_search (rowid, content) VALUES (last_insert_rowid(), new.content);
    END""",
]


def _run(statements: list[str]):  # noqa: ANN202
    def run(apps, schema_editor) -> None:  # noqa: ANN001
        if schema_editor.connection.vendor == "sqlite":
            for statement in statements:
                schema_editor.execute(statement)

    return run


class Migration(migrations.Migration):
    dependencies = [("conversations", "0010_search")]

    operations = [migrations.RunPython(_run(SQLITE), _run(SQLITE_UNDO))]
