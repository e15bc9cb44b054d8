"""A viewer that stops reading is dropped, so the server never holds its frames for long.

daphne pings every socket (`--ping-interval`) and drops one that does not answer in time
(`--ping-timeout`); a browser that was only busy reconnects and resumes, losing nothing.
Here a raw client opens a socket and then never reads while replies stream to it.
"""

import asyncio
import base64
import json
import os
import socket
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import websockets

from tests.live import LiveServer


def stalled_socket(server: LiveServer, conversation: str, session: str) -> socket.socket:
    """A websocket handshake by hand, then nothing: the client never reads again."""
    sock = socket.create_connection(("127.0.0.1", server.port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET /ws/conversations/{conversation}/ HTTP/1.1\r\n"
            f"Host: 127.0.0.1:{server.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Origin: {server.url}\r\nCookie: sessionid={session}\r\n\r\n"
        ).encode()
    )
    assert b"101 Switching Protocols" in sock.recv(4096)
    return sock


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


@pytest.fixture(scope="module")
def server() -> LiveServer:
    live = LiveServer(
        Path(tempfile.mkdtemp()), daphne_args=("--ping-interval", "1", "--ping-timeout", "2")
    )
    live.start()
    yield live
    live.stop()


def test_a_viewer_that_stops_reading_is_dropped_and_the_others_get_everything(
    server: LiveServer,
) -> None:
    session = server.sign_up("stalled")
    conversation = server.new_conversation(session)
    stalled = stalled_socket(server, conversation, session)
    headers = {"Cookie": f"sessionid={session}", "Origin": server.url}
    assert server.process is not None
    before = rss_mib(server.process.pid)

    async def stream_replies() -> list[tuple[str, str]]:
        replies = []
        async with websockets.connect(
            server.socket_url(conversation), additional_headers=headers, max_size=None
        ) as reader:
            for _ in range(3):
                await reader.send(
                    json.dumps({"type": "send", "content": "[sim words=2000 delay=1]"})
                )
                text = ""
                while True:
                    frame = json.loads(await asyncio.wait_for(reader.recv(), 60))
                    if frame["type"] == "delta":
                        text += frame["content"]
                    if frame["type"] == "done":
                        break
                replies.append((frame["message"], text))
        return replies

    started = time.monotonic()
    replies = asyncio.run(stream_replies())
    elapsed = time.monotonic() - started
    # The reading socket got every word of every reply, whatever the stalled one did: each
    # exactly as stored.
    assert [len(text.split()) for _, text in replies] == [2000] * 3
    for message, text in replies:
        [(stored,)] = server.query(
            "SELECT content FROM conversations_message WHERE id = %s", uuid.UUID(message)
        )
        assert stored == text
    # The stalled socket was dropped: reading it now ends in its closing, not in more frames.
    stalled.settimeout(5)
    ended = False
    try:
        while stalled.recv(65536):
            pass
        ended = True
    except ConnectionResetError:
        ended = True
    except TimeoutError:
        ended = False
    stalled.close()
    assert ended, f"the stalled socket was still open after {elapsed:.0f} s of replies"
    # What it did not read was not kept: the server grew by far less than it was sent.
    assert rss_mib(server.process.pid) - before < 40
