"""On the embedded setup a send's transaction runs on the event loop's thread (webchat/inline.py):
never held up by the database thread, and never holding up the loop on a locked database."""

import asyncio
import sqlite3
import threading
import time

import pytest
from channels.db import database_sync_to_async
from django.db import connection

from conversations.models import Conversation, Message
from tests.helpers import open_socket, send
from webchat import inline
from webchat.models import User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("finish_generations"),
    pytest.mark.skipif(
        connection.vendor != "sqlite", reason="the database thread stays for a networked database"
    ),
]


@database_sync_to_async
def user_messages(conversation: Conversation) -> list[str]:
    return list(conversation.messages.filter(role="user").values_list("content", flat=True))


async def test_the_setting_chooses_the_thread(settings) -> None:
    loop_thread = threading.get_ident()
    assert await inline.database(threading.get_ident) == loop_thread
    settings.DATABASE_ON_EVENT_LOOP = False
    assert await inline.database(threading.get_ident) != loop_thread


async def test_a_send_does_not_wait_for_the_database_thread(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    busy = asyncio.ensure_future(database_sync_to_async(time.sleep)(3))
    await asyncio.sleep(0.05)
    await send(socket, "quick [sim words=3]")  # ack and start
    assert not busy.done(), "the send waited for the database thread"
    await busy
    done = (await socket.receive_until("done"))[-1]
    assert done["status"] == "complete"
    await socket.close()


async def largest_pause(seconds: float) -> float:
    """The longest the event loop went without running this task, over `seconds`."""
    last = start = time.perf_counter()
    largest = 0.0
    while last - start < seconds:
        await asyncio.sleep(0.01)
        now = time.perf_counter()
        largest, last = max(largest, now - last), now
    return largest


async def test_a_locked_database_is_waited_for_in_the_database_thread_not_on_the_loop(
    alice: User, conversation: Conversation
) -> None:
    """Another writer holds the lock: the loop goes on, and the send is stored once, whole,
    when the lock is released."""
    socket, _ = await open_socket(alice, conversation.id)
    writer = sqlite3.connect(connection.settings_dict["NAME"], isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    try:
        await socket.send({"type": "send", "content": "[sim words=3]", "client_id": "c1"})
        pause = await largest_pause(0.5)
        assert await socket.communicator.receive_nothing(0.2)  # no ack while it is held
    finally:
        writer.execute("COMMIT")
        writer.close()
    assert pause < 1, "the event loop waited for the lock"
    frames = await socket.receive_until("done", timeout=30)
    assert frames[0]["type"] == "ack" and frames[-1]["status"] == "complete"
    assert await user_messages(conversation) == ["[sim words=3]"]
    await socket.close()


@database_sync_to_async
def long_thread(conversation: Conversation, messages: int) -> None:
    rows, parent = [], None
    for i in range(messages):
        role = "user" if i % 2 == 0 else "assistant"
        parent = Message(
            conversation=conversation, parent=parent, role=role, content=f"{i} " + "word " * 50
        )
        rows.append(parent)
    Message.objects.bulk_create(rows)
    Conversation.objects.filter(pk=conversation.pk).update(current_leaf=parent)


async def test_a_send_that_reads_too_long_goes_to_the_database_thread_before_it_writes(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A long history is read in the database thread, not on the loop; the message is stored
    once, and the reply runs as any other."""
    await long_thread(conversation, 2000)
    handed = []
    in_thread = inline.database_sync_to_async

    def spy(fn):
        handed.append(getattr(fn, "__name__", fn))
        return in_thread(fn)

    monkeypatch.setattr(inline, "database_sync_to_async", spy)
    monkeypatch.setattr(inline, "BUDGET_SECONDS", 0.001)
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "after a long thread [sim words=3]")
    assert handed == ["begin"]
    assert (await socket.receive_until("done", timeout=30))[-1]["status"] == "complete"
    stored = await user_messages(conversation)
    assert len(stored) == 1001 and stored.count("after a long thread [sim words=3]") == 1
    # A short send still runs on the loop.
    handed.clear()
    monkeypatch.setattr(inline, "BUDGET_SECONDS", 1.0)
    other = await database_sync_to_async(Conversation.objects.create)(owner=alice)
    socket2, _ = await open_socket(alice, other.id)
    await send(socket2, "short [sim words=2]")
    assert handed == []
    await socket2.receive_until("done")
    await socket.close()
    await socket2.close()


async def test_the_connection_keeps_its_busy_timeout(
    alice: User, conversation: Conversation
) -> None:
    """Only the loop's own calls never wait (on a lock, or on a checkpoint's fsyncs): the
    thread's other work waits its turn, and checkpoints the log."""

    def busy_ms() -> int:
        return connection.connection.execute("PRAGMA busy_timeout").fetchone()[0]

    def checkpoint_pages() -> int:
        return connection.connection.execute("PRAGMA wal_autocheckpoint").fetchone()[0]

    assert await inline.database(busy_ms) == 0
    assert await inline.database(checkpoint_pages) == 0
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "[sim words=2]")
    await socket.receive_until("done")
    with inline.synchronous():
        assert busy_ms() == inline._busy_ms() == 20_000
        assert checkpoint_pages() == inline.AUTOCHECKPOINT_PAGES
    assert (await database_sync_to_async(Message.objects.count)()) == 2
    await socket.close()
