"""The database refuses a reply's writes for longer than the busy timeout (another writer
holds the lock: a backup, an admin command, a disk that stalls): the reply goes on, and
is stored whole, and settled, once the database answers again."""

import asyncio
import sqlite3

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from conversations.models import Conversation, Message
from tests.helpers import open_socket, send
from webchat import inline
from webchat.models import UsageRecord, User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("finish_generations"),
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="another connection holds SQLite's write lock"
    ),
]


@database_sync_to_async
def busy_timeout(ms: int) -> int:
    """The database thread's connection gives up on a lock after `ms`; returns what it had."""
    connection.ensure_connection()
    was = connection.connection.execute("PRAGMA busy_timeout").fetchone()[0]
    connection.connection.execute(f"PRAGMA busy_timeout = {ms}")
    return was


@database_sync_to_async
def stored(conversation: Conversation) -> tuple[Message, UsageRecord]:
    reply = conversation.messages.get(role="assistant")
    return reply, UsageRecord.objects.get(generation__startswith="generation.")


async def test_a_reply_outlasts_a_database_locked_past_the_busy_timeout(
    alice: User,
    conversation: Conversation,
    settings,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings.CHAT_CHECKPOINT_SECONDS = 0.05
    monkeypatch.setattr(inline, "_busy_ms", lambda: 50)  # what a brief wait goes back to
    was = await busy_timeout(50)  # not 20 s
    try:
        await reply_while_locked(alice, conversation)
    finally:
        await busy_timeout(was)
    refused = [r.getMessage() for r in caplog.records if "trying again" in r.getMessage()]
    assert refused == [
        "a checkpoint failed; trying again",
        "the end of a reply was not stored; trying again",
    ]


async def reply_while_locked(alice: User, conversation: Conversation) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "[sim words=40 delay=10]")  # 0.4 s of words
    writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        # Checkpoints and the end of the reply are refused meanwhile; the words go on.
        words = []
        while len(words) < 40:
            frame = await socket.receive()
            assert frame["type"] == "delta", frame
            words += frame["content"].split()
        await asyncio.sleep(1)
        assert await socket.communicator.receive_nothing(0.1), "done before it was stored"
    finally:
        writer.execute("COMMIT")
        writer.close()
    done = (await socket.receive_until("done", timeout=15))[-1]
    assert done["status"] == "complete"
    reply, record = await stored(conversation)
    assert reply.status == Message.Status.COMPLETE
    assert reply.content.split() == words
    assert record.status == "complete" and record.completion_tokens == 40
    await socket.close()
