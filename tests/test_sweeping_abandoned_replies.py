"""A process killed mid-reply leaves its reply streaming and its reservation running: the
processes that run on (here, the one that replaces it) end and settle them on their own,
with nobody opening the conversation. A reply still being written is left alone, whatever
its lease says; one ended elsewhere stops being written."""

import asyncio
import json
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import websockets
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.utils import timezone

from conversations import generation
from conversations.models import Conversation, Message
from tests.conftest import serving
from tests.helpers import open_socket, send, text_of
from tests.live import LiveServer
from webchat import lifecycle
from webchat.models import User
from webchat.simulator import Simulator


async def start_a_long_reply(server: LiveServer, session: str, conversation: str) -> str:
    async with websockets.connect(
        server.socket_url(conversation),
        additional_headers={"Cookie": f"sessionid={session}", "Origin": server.url},
    ) as socket:
        send = {"type": "send", "content": "[sim words=2000 delay=20]", "model": "grok-3"}
        await socket.send(json.dumps(send))
        while (frame := json.loads(await asyncio.wait_for(socket.recv(), 10)))["type"] != "start":
            pass
        return frame["messages"][0]


async def until(server: LiveServer, sql: str, *params: object, expected: tuple) -> None:
    for _ in range(100):
        if server.query(sql, *params) == [expected]:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"{sql}: {server.query(sql, *params)}, not {expected}")


async def test_a_reply_cut_off_by_a_kill_is_ended_and_settled_without_anyone_opening_it(
    tmp_path: Path, simulator: Simulator
) -> None:
    with serving(
        tmp_path,
        GROK_SIMULATOR="off",
        GROK_API_BASE=simulator.url,
        CHAT_LEASE_SECONDS="1",
        CHAT_CHECKPOINT_SECONDS="0.2",
        CHAT_SWEEP_SECONDS="0.5",
    ) as server:
        session = server.sign_up("swept")
        conversation = server.new_conversation(session)
        reply = uuid.UUID(await start_a_long_reply(server, session, conversation))
        # The reply goes on without its socket; once a checkpoint has its first words…
        checkpointed = "SELECT content <> '' FROM conversations_message WHERE id = %s"
        await until(server, checkpointed, reply, expected=(True,))
        server.kill()
        [(reserved,)] = server.query("SELECT status FROM webchat_usagerecord")
        assert reserved == "running"
        server.start(prepare=False)
        # …it is ended with them, and its reservation settled, by the sweep alone.
        ended = "SELECT status, content <> '' FROM conversations_message WHERE id = %s"
        await until(server, ended, reply, expected=("interrupted", True))
        await until(server, "SELECT status FROM webchat_usagerecord", expected=("interrupted",))


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_a_reply_being_written_is_not_swept_though_its_lease_ran_out(
    alice: User, conversation: Conversation
) -> None:
    """Its checkpoints refused for a while (a long lock), its lease has run out: the sweep
    asks its generation, which answers, and the reply goes on to its end."""
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "[sim words=40 delay=20]")
    reply = start["messages"][0]
    frames = await socket.receive_until("delta")
    past = timezone.now() - timedelta(seconds=1)
    await database_sync_to_async(Message.objects.filter(pk=reply).update)(lease_until=past)
    await lifecycle.sweep()
    frames += await socket.receive_until("done")
    assert frames[-1]["status"] == "complete"
    stored = await database_sync_to_async(Message.objects.get)(pk=reply)
    assert stored.status == "complete" and stored.content == text_of(frames, reply)
    assert len(stored.content.split()) == 40
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_a_reply_being_written_is_not_cut_off_by_a_look_though_its_lease_ran_out(
    alice: User, conversation: Conversation
) -> None:
    """The same reply as above, looked at meanwhile: a page load, another tab resuming it
    and sending to its conversation (busy). Each asks its generation (or leaves it to a
    socket that does), so none ends it."""
    from tests.helpers import logged_in

    socket, _ = await open_socket(alice, conversation.id)
    reply = (await send(socket, "[sim words=60 delay=20]"))["messages"][0]
    frames = await socket.receive_until("delta")
    past = timezone.now() - timedelta(seconds=1)
    await database_sync_to_async(Message.objects.filter(pk=reply).update)(lease_until=past)

    def page() -> str:
        return logged_in(alice).get(f"/c/{conversation.id}/").content.decode()

    assert 'data-status="streaming"' in await database_sync_to_async(page)()
    other, _ = await open_socket(alice, conversation.id)
    await other.send({"type": "resume", "message": reply, "seq": 0})
    snapshot = await other.receive_until("snapshot", message=reply)
    assert snapshot[-1]["status"] == "streaming"
    await other.send({"type": "send", "content": "and?", "client_id": "c2"})
    assert (await other.receive_until("error"))[-1]["code"] == "busy"
    frames += await socket.receive_until("done")
    assert frames[-1]["status"] == "complete"
    stored = await database_sync_to_async(Message.objects.get)(pk=reply)
    assert stored.status == "complete" and len(stored.content.split()) == 60
    await other.close()
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_a_reply_ended_elsewhere_while_being_written_stops_at_its_next_checkpoint(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    settings.CHAT_CHECKPOINT_SECONDS = 0.1
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "[sim words=2000 delay=10]")  # 20 s if left to run
    reply = start["messages"][0]
    frames = await socket.receive_until("delta")
    ended = Message.objects.filter(pk=reply).update
    await database_sync_to_async(ended)(status="interrupted", channel="")
    frames += await socket.receive_until("done", timeout=5)
    assert frames[-1]["status"] == "interrupted"
    stored = await database_sync_to_async(Message.objects.get)(pk=reply)
    assert stored.status == "interrupted"
    assert stored.content == text_of(frames, reply)  # the words shown, kept
    assert len(stored.content.split()) < 1000  # stopped well before its end
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_a_generation_answers_pings_until_its_end_is_stored(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its end may take a while (a slow rendering, a database refusing it for a time):
    until stored, it is not to be taken for dead, nor its reply ended as interrupted."""
    rendering = asyncio.Event()
    render_markdown = generation.render.render_markdown

    def slow(text: str) -> str:
        rendering.set()
        time.sleep(2)
        return render_markdown(text)

    monkeypatch.setattr(generation.render, "render_markdown", slow)
    socket, _ = await open_socket(alice, conversation.id)
    reply = (await send(socket, "[sim words=3]"))["messages"][0]
    channel = (await database_sync_to_async(Message.objects.get)(pk=reply)).channel
    await asyncio.wait_for(rendering.wait(), 10)
    assert await generation.alive(channel)
    assert (await socket.receive_until("done", timeout=10))[-1]["status"] == "complete"
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_an_answered_ping_leaves_no_channel_behind(
    alice: User, conversation: Conversation
) -> None:
    """channels_redis's pub/sub layer keeps a channel subscribed until a receive on it is
    cancelled: a ping answered must not leave one per ping."""
    socket, _ = await open_socket(alice, conversation.id)
    reply = (await send(socket, "[sim words=200 delay=20]"))["messages"][0]
    channel = (await database_sync_to_async(Message.objects.get)(pk=reply)).channel
    layer = get_channel_layer()
    before = {c for c in layer.channels if "ping." in c}
    for _ in range(5):
        assert await generation.alive(channel)
    assert {c for c in layer.channels if "ping." in c} == before
    await socket.send({"type": "stop"})
    await socket.receive_until("done")
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_a_send_refused_as_busy_leaves_no_channel_behind(
    alice: User, conversation: Conversation
) -> None:
    """Each send takes a channel for its generation before its turn is stored: a send
    refused (busy) must give it back, or channels_redis keeps it subscribed."""
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "[sim words=200 delay=20]")
    layer = get_channel_layer()

    def generations() -> set[str]:  # (a socket's own channel comes and goes in memory)
        return {c for c in layer.channels if "generation." in c}

    before = generations()
    for number in range(3):
        await socket.send({"type": "send", "content": "and?", "client_id": f"c{number + 2}"})
        assert (await socket.receive_until("error"))[-1]["code"] == "busy"
    assert generations() - before == set()
    await socket.send({"type": "stop"})
    await socket.receive_until("done")
    await socket.close()
