"""Two real daphne processes sharing PostgreSQL and Redis, each with its simulator upstream.

Runs in the PostgreSQL + Redis pass of `make test`.
"""

import asyncio
import io
import json
import os
import time
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import websockets
from PIL import Image

from tests import samples
from tests.helpers import split_at_snapshot
from tests.live import LiveServer, two_processes

LEASE = 3.0

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres")
    or not os.environ.get("REDIS_URL"),
    reason="runs in the PostgreSQL + Redis pass (make pytest-services)",
)


class Cluster:
    def __init__(self, a: LiveServer, b: LiveServer) -> None:
        self.a, self.b = a, b
        self.session = a.sign_up("alice")

    def ensure_running(self) -> None:
        for server in (self.a, self.b):
            if server.process is None or server.process.poll() is not None:
                server.start(prepare=False)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    env = {
        "REDIS_URL": os.environ["REDIS_URL"],
        "REDIS_PREFIX": f"webchat-mp-{uuid.uuid4().hex[:8]}",
        "CHAT_LEASE_SECONDS": str(LEASE),
        "CHAT_CHECKPOINT_SECONDS": "0.5",
    }
    with two_processes(tmp_path_factory.mktemp("cluster"), "webchat_mp", **env) as (a, b):
        yield Cluster(a, b)


class Client:
    def __init__(self, socket: Any) -> None:
        self.socket = socket

    async def send(self, frame: dict[str, Any]) -> None:
        await self.socket.send(json.dumps(frame))

    async def receive(self, timeout: float = 10) -> dict[str, Any]:
        return json.loads(await asyncio.wait_for(self.socket.recv(), timeout))

    async def until(self, kind: str, timeout: float = 20) -> list[dict[str, Any]]:
        frames = []
        while True:
            frames.append(await self.receive(timeout))
            if frames[-1]["type"] == kind:
                return frames


async def connect(server: LiveServer, session: str, conversation: str) -> Client:
    socket = await websockets.connect(
        server.socket_url(conversation),
        additional_headers={"Cookie": f"sessionid={session}", "Origin": server.url},
    )
    return Client(socket)


def text_of(frames: list[dict[str, Any]], message: str) -> str:
    return "".join(f["content"] for f in frames if f["type"] == "delta" and f["message"] == message)


def stored(server: LiveServer, message: str) -> tuple[str, str]:
    [(content, status)] = server.query(
        "SELECT content, status FROM conversations_message WHERE id = %s", uuid.UUID(message)
    )
    return content, status


async def start_reply(client: Client, content: str) -> str:
    await client.send({"type": "send", "content": content, "model": "grok-3"})
    frames = await client.until("start")
    return frames[-1]["messages"][0]


async def test_a_socket_on_b_sees_a_reply_generated_on_a_word_by_word(cluster: Cluster) -> None:
    cluster.ensure_running()
    conversation = cluster.a.new_conversation(cluster.session)
    on_a = await connect(cluster.a, cluster.session, conversation)
    on_b = await connect(cluster.b, cluster.session, conversation)
    reply = await start_reply(on_a, "[sim words=60 delay=30]")
    frames = await on_b.until("done")
    deltas = [f for f in frames if f["type"] == "delta"]
    assert len(deltas) >= 15, "word by word, not in one piece"
    assert [f["seq"] for f in deltas] == list(range(1, len(deltas) + 1))
    assert frames[-1]["status"] == "complete"
    content, status = stored(cluster.a, reply)
    assert status == "complete" and text_of(frames, reply) == content
    assert len(content.split()) == 60
    await on_a.socket.close()
    await on_b.socket.close()


async def test_an_image_sent_through_a_shows_on_b(cluster: Cluster) -> None:
    cluster.ensure_running()
    conversation = cluster.a.new_conversation(cluster.session)
    image = cluster.a.upload(cluster.session, conversation, "pic.jpg", samples.photo(320, 240))
    on_a = await connect(cluster.a, cluster.session, conversation)
    on_b = await connect(cluster.b, cluster.session, conversation)
    frame = {"content": "What is it? [sim words=4]", "attachments": [image["id"]]}
    await on_a.send({"type": "send", "model": "grok-2-vision", **frame})
    frames = await on_b.until("done")
    ack = next(f for f in frames if f["type"] == "ack")
    assert [a["id"] for a in ack["message"]["attachments"]] == [image["id"]]
    reply = next(f for f in frames if f["type"] == "start")["messages"][0]
    assert text_of(frames, reply).startswith("I see 1 image: JPEG 320x240")
    # B serves the file A stored, to its owner.
    async with httpx.AsyncClient(
        base_url=cluster.b.url, cookies={"sessionid": cluster.session}
    ) as b:
        served = await b.get(ack["message"]["attachments"][0]["url"])
    assert served.status_code == 200 and served.headers["content-type"] == "image/jpeg"
    assert Image.open(io.BytesIO(served.content)).size == (320, 240)
    await on_a.socket.close()
    await on_b.socket.close()


async def test_stop_sent_to_b_stops_the_generation_on_a(cluster: Cluster) -> None:
    cluster.ensure_running()
    conversation = cluster.a.new_conversation(cluster.session)
    on_a = await connect(cluster.a, cluster.session, conversation)
    on_b = await connect(cluster.b, cluster.session, conversation)
    reply = await start_reply(on_a, "[sim words=500 delay=20]")
    seen = [await on_b.receive() for _ in range(5)]
    await on_b.send({"type": "stop"})
    frames = seen + await on_b.until("done")
    assert frames[-1]["status"] == "stopped"
    frames_a = await on_a.until("done")
    assert frames_a[-1]["status"] == "stopped"
    content, status = stored(cluster.a, reply)
    assert status == "stopped" and 0 < len(content.split()) < 500
    assert content == text_of(frames, reply)
    await on_a.socket.close()
    await on_b.socket.close()


async def test_a_client_moving_from_a_to_b_gets_the_reply_whole(cluster: Cluster) -> None:
    cluster.ensure_running()
    conversation = cluster.a.new_conversation(cluster.session)
    on_a = await connect(cluster.a, cluster.session, conversation)
    reply = await start_reply(on_a, "[sim words=150 delay=20]")
    held = [await on_a.receive() for _ in range(6)]
    held_seq = max(f["seq"] for f in held if f["type"] == "delta")
    await on_a.socket.close()
    on_b = await connect(cluster.b, cluster.session, conversation)
    await on_b.send({"type": "resume", "message": reply, "seq": held_seq})
    frames = await on_b.until("done")
    snapshot, after = split_at_snapshot(frames)
    assert snapshot["status"] == "streaming"
    assert snapshot["seq"] >= held_seq and snapshot["content"].startswith(text_of(held, reply))
    assert [f["seq"] for f in after] == list(
        range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(after))
    )
    content, status = stored(cluster.b, reply)
    assert status == "complete"
    assert snapshot["content"] + text_of(after, reply) == content
    assert len(content.split()) == 150
    await on_b.socket.close()


async def test_a_killed_process_leaves_an_interrupted_reply_visible_from_b(
    cluster: Cluster,
) -> None:
    cluster.ensure_running()
    conversation = cluster.a.new_conversation(cluster.session)
    on_a = await connect(cluster.a, cluster.session, conversation)
    on_b = await connect(cluster.b, cluster.session, conversation)
    reply = await start_reply(on_a, "[sim words=1000 delay=20]")
    seen = [await on_b.receive() for _ in range(40)]  # ~1.5 s: checkpoints have happened
    cluster.a.kill()
    killed = time.monotonic()
    frames = seen + await on_b.until("done", timeout=4 * LEASE)
    shown_after = time.monotonic() - killed
    assert frames[-1]["status"] == "interrupted"
    assert shown_after <= LEASE + LEASE / 3 + 1.5, f"shown {shown_after:.1f} s after the kill"
    content, status = stored(cluster.b, reply)
    assert status == "interrupted"
    assert content and text_of(frames, reply).startswith(content), "the checkpointed text is kept"
    # The conversation takes a new message at once, on B.
    await on_b.send({"type": "send", "content": "still there? [sim words=5]", "model": "grok-3"})
    assert (await on_b.until("done"))[-1]["status"] == "complete"
    await on_b.socket.close()


async def test_after_a_kill_the_conversation_accepts_a_message_once_the_lease_ran_out(
    cluster: Cluster,
) -> None:
    """Right after the kill a send is busy: A's generation does not answer B's ping, but an
    unanswered ping alone ends no reply (a busy process's pong can be late). Once the lease
    has run out, the next send frees the conversation itself, without waiting for a
    sweep or a page load."""
    cluster.ensure_running()
    conversation = cluster.a.new_conversation(cluster.session)
    on_a = await connect(cluster.a, cluster.session, conversation)
    reply = await start_reply(on_a, "[sim words=1000 delay=20]")
    for _ in range(30):
        await on_a.receive()
    cluster.a.kill()
    on_b = await connect(cluster.b, cluster.session, conversation)
    await on_b.send({"type": "send", "content": "hello?", "model": "grok-3", "client_id": "c1"})
    refused = await on_b.receive(timeout=30)
    assert refused["type"] == "error" and refused["code"] == "busy", refused
    [(lease,)] = cluster.b.query(
        "SELECT lease_until FROM conversations_message WHERE id = %s", uuid.UUID(reply)
    )
    wait = (lease - cluster.b.query("SELECT now()")[0][0]).total_seconds()
    await asyncio.sleep(max(wait, 0) + 0.2)
    await on_b.send({"type": "send", "content": "hello? [sim words=5]", "model": "grok-3"})
    first = await on_b.until("ack", timeout=30)
    assert first[-1]["type"] == "ack", first
    assert (await on_b.until("done"))[-1]["status"] == "complete"
    content, status = stored(cluster.b, reply)
    assert status == "interrupted" and content
    await on_b.socket.close()
