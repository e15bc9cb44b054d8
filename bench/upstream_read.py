"""What reading a streamed reply from the upstream costs the server, by HTTP layer.

A server in its own process answers every request with a reply of `--words` SSE events
in chunked encoding, one event every 20 ms (50 words a second, as the simulator's
stamped words in bench/curve.py). `--streams` requests are made at once, and the client
process's CPU time is counted for reading them whole:

- app: the server's own upstream client (webchat.grok's httpx client on webchat/streams.py's
  aiohttp transport), each answer's bytes through the SSE parser;
- bare: an asyncio Protocol per connection, the chunked encoding read by hand, the same
  SSE parser: what the bytes cost without an HTTP client between.

The difference is what the HTTP client's layers cost per reply. Rounds alternate.

    python bench/upstream_read.py [--streams 200] [--words 60] [--rounds 3]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


async def serve(port: int, words: int) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                await reader.readexactly(length)
                writer.write(
                    b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                    b"transfer-encoding: chunked\r\n\r\n"
                )
                for n in range(words + 1):
                    if n < words:
                        delta = {"choices": [{"index": 0, "delta": {"content": f" word{n}"}}]}
                        event = b"data: " + json.dumps(delta).encode() + b"\n\n"
                    else:
                        event = b"data: [DONE]\n\n"
                    writer.write(b"%x\r\n%s\r\n" % (len(event), event))
                    await asyncio.sleep(0.02)
                writer.write(b"0\r\n\r\n")
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass

    server = await asyncio.start_server(answer, "127.0.0.1", port, backlog=1024)
    async with server:
        await server.serve_forever()


async def read_app(url: str) -> int:
    from webchat import grok
    from webchat.sse import SSEParser

    events = 0
    async with grok.client().stream("POST", url, content=b"{}") as response:
        parser = SSEParser()
        async for raw in response.aiter_bytes():
            events += len(parser.feed(raw))
    return events


class _Bare(asyncio.Protocol):
    def __init__(self) -> None:
        self.pieces: asyncio.Queue[bytes | None] = asyncio.Queue()

    def data_received(self, data: bytes) -> None:
        self.pieces.put_nowait(data)

    def connection_lost(self, exc: Exception | None) -> None:
        self.pieces.put_nowait(None)


async def read_bare(port: int) -> int:
    from webchat.sse import SSEParser

    transport, protocol = await asyncio.get_running_loop().create_connection(
        _Bare, "127.0.0.1", port
    )
    transport.write(b"POST / HTTP/1.1\r\nhost: bench\r\ncontent-length: 2\r\n\r\n{}")
    parser = SSEParser()
    buffer = b""
    headed = False
    events = 0
    try:
        while (piece := await protocol.pieces.get()) is not None:
            buffer += piece
            if not headed:
                if b"\r\n\r\n" not in buffer:
                    continue
                buffer = buffer.split(b"\r\n\r\n", 1)[1]
                headed = True
            while (line_end := buffer.find(b"\r\n")) >= 0:
                size = int(buffer[:line_end], 16)
                if len(buffer) < line_end + size + 4:
                    break
                if size == 0:
                    return events
                events += len(parser.feed(buffer[line_end + 2 : line_end + 2 + size]))
                buffer = buffer[line_end + size + 4 :]
    finally:
        transport.close()
    raise RuntimeError("the answer ended before its last chunk")


async def measure(args: argparse.Namespace) -> None:
    url = f"http://127.0.0.1:{args.port}/v1/chat/completions"
    print(f"{args.streams} streams at once, {args.words} words each; client CPU:")
    for round_ in range(args.rounds):
        for name in ("app", "bare"):
            started, cpu = time.monotonic(), time.process_time()
            if name == "app":
                counts = await asyncio.gather(*(read_app(url) for _ in range(args.streams)))
            else:
                counts = await asyncio.gather(*(read_bare(args.port) for _ in range(args.streams)))
            cpu = time.process_time() - cpu
            assert all(count == args.words + 1 for count in counts), counts
            print(
                f"  round {round_ + 1} {name:4}: {cpu * 1000 / args.streams:6.2f} ms a reply,"
                f" {cpu * 1e6 / sum(counts):5.1f} µs an event"
                f" ({time.monotonic() - started:.2f} s)"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--streams", type=int, default=200)
    parser.add_argument("--words", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--port", type=int, default=8931)
    parser.add_argument("--serve", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.port, args.words))
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webchat.settings")
    os.environ.setdefault("SECRET_KEY_FILE", str(ROOT / ".secret_key"))
    import django

    django.setup()
    command = [sys.executable, __file__, "--serve", f"--port={args.port}", f"--words={args.words}"]
    server = subprocess.Popen(command)
    try:
        time.sleep(1.0)
        asyncio.run(measure(args))
    finally:
        server.terminate()
        server.wait()


if __name__ == "__main__":
    main()
