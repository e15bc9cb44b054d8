"""A process killed mid-reply leaves its reply streaming and its reservation running: the
processes that run on (here, the one that replaces it) end and settle them on their own,
with nobody opening the conversation."""

import asyncio
import json
import uuid
from pathlib import Path

import websockets

from tests.conftest import serving
from tests.live import LiveServer
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
