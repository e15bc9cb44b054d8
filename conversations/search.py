"""Search over a person's own conversations, fast on a large history.

The question is the one it always was: the conversations (temporary ones aside) whose
title or some message holds the words, case aside, newest first; each shown with its
first matching message. What answers it comes
with the database (migration 0010): on SQLite an FTS5 table with the trigram tokenizer
answers the LIKE on the messages from its index; on PostgreSQL a trigram GIN index serves
the ILIKE. One query gives a page: each conversation with its first matching message (for
the snippet) and the number of conversations found in all.

On SQLite a message's text reaches the index in batches (migration 0014): a search first
indexes whatever waits, so it finds everything stored (unless another write holds the
database for over a second: then what is indexed so far).
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass
from typing import Any

from django.db import DatabaseError, OperationalError, connection, transaction

from conversations.models import Conversation
from webchat import inline, sql

log = logging.getLogger(__name__)

PER_PAGE = 20
# Of each conversation's first match, the first this many characters come back for its
# snippet: the words found past them (in a message imported whole, up to a million
# characters long) are not shown; the start of the message is.
FOUND_CHARS = 100_000

# A page of the person's conversations that hold a match (`hits`) or whose title matches,
# with how many there are in all, and the content of each one's first match. The words in
# capitals are filled in per database.
SQL = """
WITH HITS,
page AS (
    SELECT c.id, c.title, c.updated, c.archived, c.pinned, c.folder_id,
           COUNT(*) OVER () AS total
    FROM conversations_conversation c
    WHERE c.owner_id = %s AND c.temporary = %s
      AND (c.id IN (SELECT conversation FROM hits) OR c.title TITLE_LIKE %s ESCAPE '\\')
    ORDER BY c.updated DESC, c.id
    LIMIT %s OFFSET %s
)
SELECT page.*, m.id AS found_message, SUBSTR(m.content, 1, FOUND_CHARS) AS found
FROM page
FIRST
ORDER BY page.updated DESC, page.id
"""
# SQLite: the index's matches among the person's own rows (its `owner` column; the planner
# would otherwise walk the person's messages and ask the index about each), then the key
# table names each one's conversation without reading the messages. Words of three
# characters or more are a phrase of trigrams, which the index answers; shorter ones hold
# no trigram and are a LIKE over the indexed text, the person's rows kept after.
SQLITE = {
    "HITS": """matched AS MATERIALIZED (SELECT rowid AS id FROM message_search WHERE NEEDLE),
hits AS MATERIALIZED (
    SELECT r.conversation_id AS conversation, MIN(r.id) AS first
    FROM matched JOIN message_search_row r ON r.id = matched.id
    WHERE r.owner_id = %s
    GROUP BY r.conversation_id
)""",
    "FIRST": """LEFT JOIN hits h ON h.conversation = page.id
LEFT JOIN message_search_row r ON r.id = h.first
LEFT JOIN conversations_message m ON m.id = r.message_id""",
    "TITLE_LIKE": "LIKE",
}
# PostgreSQL: the trigram index serves the ILIKE; the set of conversations is all the
# page needs of the matches, and each of the page's own first match is looked up alone.
POSTGRESQL = {
    "HITS": """hits AS MATERIALIZED (
    SELECT DISTINCT m.conversation_id AS conversation
    FROM conversations_message m
    JOIN conversations_conversation c ON c.id = m.conversation_id
    WHERE m.content ILIKE %s ESCAPE '\\' AND c.owner_id = %s
)""",
    "FIRST": """LEFT JOIN LATERAL (
    SELECT m.id, m.content FROM conversations_message m
    WHERE m.conversation_id = page.id AND m.content ILIKE %s ESCAPE '\\'
    ORDER BY m.created, m.id LIMIT 1
) m ON TRUE""",
    "TITLE_LIKE": "ILIKE",
}


@dataclass
class Page:
    """One page of results, as the pager template reads a Django Page."""

    number: int
    total: int

    @property
    def num_pages(self) -> int:
        return max(1, -(-self.total // PER_PAGE))

    @property
    def paginator(self) -> Page:
        return self

    def has_next(self) -> bool:
        return self.number < self.num_pages

    def has_previous(self) -> bool:
        return self.number > 1

    def has_other_pages(self) -> bool:
        return self.num_pages > 1

    def next_page_number(self) -> int:
        return self.number + 1

    def previous_page_number(self) -> int:
        return self.number - 1


# SQLite: the messages whose text waits for the index (migration 0014), indexed this many
# at least at a time after a reply's end, and every one of them before a search.
BATCH = 64
# The most indexed in one transaction, in messages and in characters (at least one message):
# others' writes go between (an import's thousands, a fork's long messages).
STEP = 2_000
STEP_CHARS = 500_000
_WAITING_SQL = "SELECT 1 FROM message_search_pending LIMIT 1 OFFSET %s"
_NEXT_SQL = """SELECT p.id, coalesce(length(m.content), 0) FROM message_search_pending p
    LEFT JOIN message_search_row r ON r.id = p.id
    LEFT JOIN conversations_message m ON m.id = r.message_id
    ORDER BY p.id LIMIT %s"""
# Each statement takes the waiting rows up to the step's last.
_INDEX_SQL = [
    """DELETE FROM message_search WHERE rowid IN
    (SELECT id FROM message_search_pending WHERE id <= %s)""",
    """INSERT INTO message_search (rowid, content, owner)
    SELECT r.id, m.content, '<' || r.owner_id || '>' FROM message_search_row r
    JOIN conversations_message m ON m.id = r.message_id
    WHERE r.id IN (SELECT id FROM message_search_pending WHERE id <= %s)""",
    "DELETE FROM message_search_pending WHERE id <= %s",
]


def index_pending(at_least: int = 1, steps: int | None = None) -> None:
    """SQLite: the messages waiting for the search index indexed, if `at_least` wait; in
    at most `steps` transactions of STEP messages or STEP_CHARS (None: until none waits).
    (Indexing one message a transaction cost FTS5 a segment of its index each time.)"""
    if connection.vendor != "sqlite":
        return  # PostgreSQL's trigram index follows the table itself
    with connection.cursor() as cursor:
        cursor.execute(_WAITING_SQL, [at_least - 1])
        if cursor.fetchone() is None:
            return
        for _ in itertools.count() if steps is None else range(steps):
            with transaction.atomic():
                cursor.execute(_NEXT_SQL, [STEP])
                waiting = cursor.fetchall()
                if not waiting:
                    return
                last, chars = waiting[0]
                for key, length in waiting[1:]:
                    chars += length
                    if chars > STEP_CHARS:
                        break
                    last = key
                for statement in _INDEX_SQL:
                    cursor.execute(statement, [last])
                if last == waiting[-1][0] and len(waiting) < STEP:
                    return  # none left


def catch_up(at_least: int = 1, steps: int | None = None, wait_ms: int = 1000) -> None:
    """index_pending, unless another write holds the database past `wait_ms` (an import):
    the messages then wait for the next time, and a search reads what is indexed. Never
    raises: what was stored stays stored, indexed or not."""
    try:
        with inline.brief_lock_wait(wait_ms):
            index_pending(at_least, steps)
    except OperationalError:
        log.info("the search index waits for a write that holds the database")
    except DatabaseError:
        log.warning("the search index could not take the messages waiting", exc_info=True)


def _quoted(text: str) -> str:
    """A phrase of FTS5's query language."""
    return '"' + text.replace('"', '""') + '"'


def find(user: Any, words: str, number: int = 1) -> tuple[list[Conversation], Page]:
    """Page `number` of the person's conversations holding `words`; each carries `found`,
    the content of its first matching message, its first `FOUND_CHARS` characters, and
    `found_message`, that message's id (both None: its title matched)."""
    catch_up()
    pattern = "%" + words.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    markers, needles = POSTGRESQL, [pattern]
    if connection.vendor == "sqlite":
        mine = f"owner : {_quoted(f'<{int(user.pk)}>')}"
        if len(words) >= 3:
            where = "message_search MATCH %s"
            needles = [f"{mine} AND content : {_quoted(words)}"]
        else:  # a scan of the text: the person's rows are kept after (that is faster)
            where = "content LIKE %s ESCAPE '\\'"
            needles = [pattern]
        markers = {**SQLITE, "NEEDLE": where}
    query = SQL.replace("FOUND_CHARS", str(FOUND_CHARS))
    for marker, text in markers.items():
        query = query.replace(marker, text)
    params = [*needles, user.pk, user.pk, False, pattern, PER_PAGE, (number - 1) * PER_PAGE]
    if connection.vendor != "sqlite":
        params.append(pattern)  # each first match, looked up alone
    rows = sql.select(Conversation, query, params)
    return rows, Page(number, rows[0].total if rows else 0)
