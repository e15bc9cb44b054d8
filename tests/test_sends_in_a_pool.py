"""On PostgreSQL a send's transaction runs in a pool of threads (webchat/inline.py), not in
the one database thread: a send waiting for a lock holds up no other person's send."""

import asyncio

import psycopg
import pytest
from channels.db import database_sync_to_async
from django.db import connection

from conversations.models import Conversation
from tests.helpers import open_socket, send
from webchat.models import User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("finish_generations", "upstream"),
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="runs in the PostgreSQL + Redis pass (make pytest-services)",
    ),
]


def hold_row(user: User) -> psycopg.Connection:
    """A connection of its own holding `user`'s row, as their send in another process
    holds it while it reserves: until it rolls back."""
    holder = psycopg.connect(**connection.get_connection_params())
    holder.execute("SELECT id FROM webchat_user WHERE id = %s FOR UPDATE", [user.pk])
    return holder


async def test_a_send_waiting_for_its_person_s_row_holds_up_no_other_person_s_send(
    alice: User, bob: User
) -> None:
    mine = await database_sync_to_async(Conversation.objects.create)(owner=alice)
    theirs = await database_sync_to_async(Conversation.objects.create)(owner=bob)
    waiting, _ = await open_socket(alice, mine.id)
    other, _ = await open_socket(bob, theirs.id)
    holder = await asyncio.to_thread(hold_row, alice)
    try:
        await waiting.send({"type": "send", "content": "held [sim words=3]", "model": "grok-3"})
        await asyncio.sleep(0.3)  # its transaction waits for the row
        await send(other, "through [sim words=3]")
        done = (await other.receive_until("done"))[-1]
        assert done["status"] == "complete"
        assert await waiting.nothing(0.1), "the held send went on while its row was held"
    finally:
        await asyncio.to_thread(holder.rollback)
        await asyncio.to_thread(holder.close)
    # The row let go, the send waiting for it goes on.
    assert (await waiting.receive())["type"] == "ack"
    done = (await waiting.receive_until("done"))[-1]
    assert done["status"] == "complete"
    await waiting.close()
    await other.close()
