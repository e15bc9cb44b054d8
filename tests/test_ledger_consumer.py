"""Every reply leaves one ledger row, settled however it ends; limits answer on the socket."""

import asyncio

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message
from tests.helpers import open_socket, send
from webchat.models import Plan, UsageRecord, User
from webchat.simulator import Simulator

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("finish_generations"),
]


@database_sync_to_async
def records(user: User) -> list[UsageRecord]:
    return list(UsageRecord.objects.filter(user=user).order_by("created"))


@database_sync_to_async
def give_plan(user: User, **limits: int) -> None:
    user.plan = Plan.objects.create(name=f"p{Plan.objects.count()}", **limits)
    user.save()


async def test_a_complete_reply_is_settled_with_real_usage_and_cost(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "hello [sim words=25]")
    done = (await socket.receive_until("done"))[-1]
    [record] = await records(alice)
    assert record.status == "complete" and record.completion_tokens == 25
    assert record.prompt_tokens == done["usage"]["prompt_tokens"] > 0
    assert record.cost > 0 and record.ttft_ms is not None and record.duration_ms >= record.ttft_ms
    assert record.upstream_id.startswith("foaicmpl-")
    # What was reserved went upstream as max_tokens.
    assert simulator.requests[-1]["max_tokens"] == record.max_tokens
    await socket.close()


async def test_a_stopped_reply_is_settled_from_what_arrived(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "[sim words=500 delay=20]")
    for _ in range(3):
        await socket.receive()
    await socket.send({"type": "stop"})
    await socket.receive_until("done")
    [record] = await records(alice)
    assert record.status == "stopped" and 0 < record.completion_tokens < record.max_tokens
    await socket.close()


async def test_an_upstream_error_is_settled_with_its_code(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "[sim error=403]")
    await socket.receive_until("done")
    [record] = await records(alice)
    assert record.status == "error" and record.error_code == "upstream_balance"
    await socket.close()


async def test_a_reply_goes_on_and_is_settled_after_its_tab_closes(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "[sim words=40 delay=5]")
    await socket.close()
    for _ in range(100):
        [record] = await records(alice)
        if record.status != "running":
            break
        await asyncio.sleep(0.05)
    assert record.status == "complete" and record.completion_tokens == 40
    reply = await database_sync_to_async(Message.objects.get)(pk=start["messages"][0])
    assert len(reply.content.split()) == 40


@pytest.mark.parametrize(
    ("limits", "code"),
    [
        ({"tokens_per_day": 10}, "quota_exceeded"),
        ({"requests_per_minute": 0}, "rate_limited"),
        ({"concurrent_generations": 0}, "busy"),
    ],
)
async def test_limits_answer_with_their_code_and_store_nothing(
    alice: User, conversation: Conversation, limits: dict[str, int], code: str
) -> None:
    await give_plan(alice, **limits)
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send({"type": "send", "content": "hi", "client_id": "c7"})
    error = await socket.receive()
    assert error["type"] == "error" and error["code"] == code and error["client_id"] == "c7"
    assert error["retry_after"] >= 1 and error["message"]
    assert await database_sync_to_async(conversation.messages.count)() == 0
    assert await records(alice) == []
    await socket.close()


async def test_concurrent_sends_beyond_the_cap_are_busy(alice: User) -> None:
    await give_plan(alice, concurrent_generations=2)
    conversations = [
        await database_sync_to_async(Conversation.objects.create)(owner=alice) for _ in range(5)
    ]
    sockets = [(await open_socket(alice, c.id))[0] for c in conversations]
    await asyncio.gather(
        *(s.send({"type": "send", "content": "[sim words=200 delay=10]"}) for s in sockets)
    )
    firsts = [await s.receive() for s in sockets]
    assert sorted(f["type"] for f in firsts) == ["ack", "ack", "error", "error", "error"]
    assert {f["code"] for f in firsts if f["type"] == "error"} == {"busy"}
    for socket, first in zip(sockets, firsts, strict=True):
        if first["type"] == "ack":
            await socket.send({"type": "stop"})
            await socket.receive_until("done")
        await socket.close()


async def test_deactivating_a_user_closes_their_sockets_and_stops_their_replies(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "[sim words=500 delay=20]")
    await socket.receive()
    alice.is_active = False
    await database_sync_to_async(alice.save)()
    close = await socket.communicator.receive_output(5)
    assert close == {"type": "websocket.close", "code": 4401}
    for _ in range(100):
        reply = await database_sync_to_async(Message.objects.get)(pk=start["messages"][0])
        if reply.status != "streaming":
            break
        await asyncio.sleep(0.05)
    assert reply.status == "stopped"
    [record] = await records(alice)
    assert record.status == "stopped"


async def test_taking_the_plan_away_closes_the_socket(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    alice.plan = None
    await database_sync_to_async(alice.save)()
    assert (await socket.communicator.receive_output(5))["code"] == 1008
    again, connected = await open_socket(alice, conversation.id)
    assert connected  # reading stays possible; sending does not
    await again.send({"type": "send", "content": "hi"})
    assert (await again.receive())["code"] == "quota_exceeded"
    await again.close()


async def test_another_users_changes_leave_my_socket_alone(
    alice: User, bob: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    bob.is_active = False
    await database_sync_to_async(bob.save)()
    assert await socket.nothing(0.3)
    await socket.close()


async def test_a_reply_declared_dead_meanwhile_keeps_that_ending_and_its_words(
    alice: User, conversation: Conversation
) -> None:
    """Another socket found the generation not answering and interrupted its reply (and
    settled its row from the last checkpoint); the generation then ends after all: the
    interruption stands, every word is kept, and the row is charged what the call used."""
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "go on [sim words=40 delay=20]")
    (reply_id,) = start["messages"]
    await socket.receive_until("delta")
    channel = await database_sync_to_async(lambda: Message.objects.get(pk=reply_id).channel)()
    assert await database_sync_to_async(Message.objects.interrupt)(channel) == 1
    frames = await socket.receive_until("done", timeout=20)
    assert frames[-1]["status"] == "interrupted"
    reply = await database_sync_to_async(Message.objects.get)(pk=reply_id)
    assert reply.status == Message.Status.INTERRUPTED and len(reply.content.split()) == 40
    (record,) = await records(alice)
    assert record.status == "interrupted"
    assert record.completion_tokens == 40  # the simulator's own count, not the checkpoint's
    await socket.close()


async def test_a_reply_whose_conversation_is_deleted_meanwhile_is_settled_with_what_it_used(
    alice: User, conversation: Conversation
) -> None:
    from conversations.views import delete_conversation

    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "go on [sim words=40 delay=20]")
    await socket.receive_until("delta")
    await delete_conversation(conversation)
    for _ in range(100):  # the reply stops, finds no row to save into, and settles
        (record,) = await records(alice)
        if record.status != "running":
            break
        await asyncio.sleep(0.05)
    assert record.status == "stopped" and record.settled is not None
    assert record.completion_tokens > 0  # what arrived before the stop, not nothing
    await socket.close()
