"""Redis restarted in the middle of a reply, two daphne processes on PostgreSQL.

What a person sees: the words pause while Redis is away; when it is back, the browser
notices the gap in `seq`, resumes, and gets the whole reply: nothing lost, nothing doubled.
The reply itself never stops: its generation streams from upstream and checkpoints to the
database whatever Redis does.
"""

import asyncio
import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import websockets

from tests.live import LiveServer, free_port, two_processes

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="runs in the PostgreSQL + Redis pass (make pytest-services)",
)


class PrivateRedis:
    """A Redis of this test's own, so restarting it disturbs nothing else."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            if os.environ.get("CI") == "true":
                pytest.fail("redis-server is missing")
            pytest.skip("redis-server is missing")
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
        )
        import redis

        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                redis.Redis.from_url(self.url, socket_connect_timeout=0.2).ping()
                return
            except redis.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


@pytest.fixture(scope="module")
def setup(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[LiveServer, LiveServer, PrivateRedis]]:
    redis_server = PrivateRedis()
    redis_server.start()
    env = {
        "REDIS_URL": redis_server.url,
        "CHAT_CHECKPOINT_SECONDS": "0.5",
        "CHAT_LEASE_SECONDS": "6",
    }
    try:
        with two_processes(tmp_path_factory.mktemp("redis"), "webchat_redis", **env) as (a, b):
            yield a, b, redis_server
    finally:
        redis_server.stop()


class Browser:
    """What static/js/chat.js does with frames: append in order, resume on a gap."""

    def __init__(self, sock: Any) -> None:
        self.sock = sock
        self.text = ""
        self.seq = 0
        self.resumes = 0
        self.longest_pause = 0.0

    async def follow(self, message: str, timeout: float = 40) -> dict[str, Any]:
        last = time.monotonic()
        while True:
            frame = json.loads(await asyncio.wait_for(self.sock.recv(), timeout))
            now = time.monotonic()
            if frame.get("message") != message:
                continue
            self.longest_pause = max(self.longest_pause, now - last)
            last = now
            if frame["type"] == "delta":
                if frame["seq"] <= self.seq:
                    continue
                if frame["seq"] > self.seq + 1:
                    self.resumes += 1
                    await self.sock.send(
                        json.dumps({"type": "resume", "message": message, "seq": self.seq})
                    )
                    continue
                self.seq = frame["seq"]
                self.text += frame["content"]
            elif frame["type"] == "snapshot":
                self.seq, self.text = frame["seq"], frame["content"]
            elif frame["type"] == "done":
                return frame


async def test_a_redis_restart_mid_reply_loses_nothing(
    setup: tuple[LiveServer, LiveServer, PrivateRedis],
) -> None:
    a, b, redis_server = setup
    session = a.sign_up("alice")
    conversation = a.new_conversation(session)

    def open_on(server: LiveServer) -> Any:
        return websockets.connect(
            server.socket_url(conversation),
            additional_headers={"Cookie": f"sessionid={session}", "Origin": server.url},
        )

    async with open_on(a) as sock_a, open_on(b) as sock_b:
        await sock_a.send(json.dumps({"type": "send", "content": "[sim words=300 delay=20]"}))
        while (frame := json.loads(await sock_a.recv()))["type"] != "start":
            pass
        reply = frame["messages"][0]
        on_a, on_b = Browser(sock_a), Browser(sock_b)
        follow_a = asyncio.create_task(on_a.follow(reply))
        follow_b = asyncio.create_task(on_b.follow(reply))
        await asyncio.sleep(1.0)
        redis_server.stop()
        await asyncio.sleep(1.5)
        redis_server.start()
        done_a, done_b = await asyncio.gather(follow_a, follow_b)

    [(stored, status)] = a.query(
        "SELECT content, status FROM conversations_message WHERE id = %s", uuid.UUID(reply)
    )
    assert status == "complete" and len(stored.split()) == 300
    for browser, done in ((on_a, done_a), (on_b, done_b)):
        assert done["status"] == "complete"
        assert browser.text == stored, "the whole reply, no gap, no duplicate"
        assert browser.longest_pause >= 1.0  # the words did pause while Redis was away
