"""PostgreSQL restarted between two replies, under a running daphne.

The restart is played by a TCP proxy between the app and PostgreSQL (tests/proxy.py): every
connection is cut and new ones are refused for two seconds, as a restarting server does.
What a person sees: a send during the outage is refused with a sentence saying to try again
(their text goes back to the composer), /healthz says the database is down, and once it is
back the same socket carries the next reply, stored whole, with its ledger row.
"""

import asyncio
import json
import os
import tempfile
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import websockets

from tests import services
from tests.live import LiveServer
from tests.proxy import Proxy

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="runs in the PostgreSQL + Redis pass (make pytest-services)",
)


async def say(sock: Any, content: str, client_id: str) -> list[dict[str, Any]]:
    await sock.send(json.dumps({"type": "send", "content": content, "client_id": client_id}))
    frames = []
    while True:
        frame = json.loads(await asyncio.wait_for(sock.recv(), 20))
        frames.append(frame)
        if frame["type"] == "done" or (
            frame["type"] == "error" and frame.get("client_id") == client_id
        ):
            return frames


def test_a_postgres_restart_between_replies_loses_nothing() -> None:
    database = services.create_database("webchat_pgrestart")
    parts = urlsplit(database)
    proxy = Proxy(parts.port or 5432, parts.hostname or "127.0.0.1")
    proxy.start()
    proxied = database.replace(parts.netloc, f"{parts.username}@127.0.0.1:{proxy.port}", 1)
    server = LiveServer(Path(tempfile.mkdtemp()), proxied)
    try:
        server.start()
        session = server.sign_up("restarted")
        conversation = server.new_conversation(session)
        headers = {"Cookie": f"sessionid={session}", "Origin": server.url}

        async def run() -> tuple[list, list, list, int]:
            async with websockets.connect(
                server.socket_url(conversation), additional_headers=headers
            ) as sock:
                before = await say(sock, "before [sim words=10 delay=5]", "one")
                proxy.stop()  # PostgreSQL goes away
                during = await say(sock, "during the outage", "two")
                health = httpx.get(f"{server.url}/healthz", timeout=10).status_code
                await asyncio.to_thread(proxy.start)  # and comes back
                after = await say(sock, "after [sim words=10 delay=5]", "three")
            return before, during, after, health

        before, during, after, health = asyncio.run(run())
    finally:
        server.stop()
    try:
        assert before[-1]["status"] == "complete"
        # During the outage: a refusal a person can act on, for that very message.
        (refusal,) = [f for f in during if f["type"] == "error"]
        assert refusal["client_id"] == "two" and "try again" in refusal["message"].lower()
        assert health == 503
        assert after[-1]["status"] == "complete"
        rows = server.query(
            "SELECT role, status, content FROM conversations_message ORDER BY created"
        )
        assert [(r[0], r[1]) for r in rows] == [
            ("user", "complete"),
            ("assistant", "complete"),
            ("user", "complete"),
            ("assistant", "complete"),
        ]
        assert "during the outage" not in [r[2] for r in rows]
        # Each reply is stored exactly as it streamed.
        streamed = [
            "".join(f["content"] for f in frames if f["type"] == "delta")
            for frames in (before, after)
        ]
        assert [r[2] for r in rows if r[0] == "assistant"] == streamed
        assert all(len(text.split()) == 10 for text in streamed)
        ledger = server.query("SELECT status, completion_tokens FROM webchat_usagerecord")
        assert sorted(ledger) == [("complete", 10), ("complete", 10)]
    finally:
        proxy.stop()
        services.drop_database(database)
