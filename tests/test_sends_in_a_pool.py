"""On PostgreSQL a send's transaction runs in a pool of threads (webchat/inline.py), not in
the one database thread: sends waiting for their person's row, more of them than the pool
has threads, hold up no other person's send (a person's sends go one after another)."""

import asyncio
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.db import connection

from conversations.models import Conversation
from tests.helpers import open_socket, send
from webchat import inline
from webchat.models import User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("finish_generations", "upstream"),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="runs in the PostgreSQL + Redis pass (make pytest-services)",
    ),
]


@pytest.fixture(autouse=True)
def small_pool(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Three threads, fewer than the sends below, whatever the machine's cores."""
    pool = ThreadPoolExecutor(3, thread_name_prefix="database-test")
    monkeypatch.setattr(inline, "_pool", pool)
    yield
    pool.shutdown(wait=False)


def hold_row(user: User) -> psycopg.Connection:
    """A connection of its own holding `user`'s row, as their send in another process
    holds it while it reserves: until it rolls back."""
    holder = psycopg.connect(**connection.get_connection_params())
    holder.execute("SELECT id FROM webchat_user WHERE id = %s FOR UPDATE", [user.pk])
    return holder


async def test_a_send_waiting_for_its_person_s_row_holds_up_no_other_person_s_send(
    alice: User, bob: User
) -> None:
    create = database_sync_to_async(Conversation.objects.create)
    theirs = await create(owner=bob)
    # More of the person's sockets sending at once than the pool has threads.
    waiting = [(await open_socket(alice, (await create(owner=alice)).id))[0] for _ in range(8)]
    other, _ = await open_socket(bob, theirs.id)
    holder = hold_row(alice)  # here, not in a pool a failing server may have filled
    try:
        for socket in waiting:
            await socket.send({"type": "send", "content": "held [sim words=3]", "model": "grok-3"})
        await asyncio.sleep(0.3)  # their transactions wait for the row
        await asyncio.wait_for(send(other, "through [sim words=3]"), 10)
        done = (await other.receive_until("done"))[-1]
        assert done["status"] == "complete"
        assert await waiting[0].nothing(0.1), "a held send went on while its row was held"
    finally:
        holder.rollback()
        holder.close()
    # The row let go, the sends waiting for it go on: each stored and answered, or told
    # it is one reply too many at once (the plan's concurrent_generations).
    answers = [await socket.receive() for socket in waiting]
    assert all(a["type"] == "ack" or a.get("code") == "busy" for a in answers), answers
    assert any(a["type"] == "ack" for a in answers)
    for socket, answer in zip(waiting, answers, strict=True):
        if answer["type"] == "ack":
            done = (await socket.receive_until("done"))[-1]
            assert done["status"] == "complete"
        await socket.close()
    await other.close()
