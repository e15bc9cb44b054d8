"""An offline, Grok-compatible chat completion server: real HTTP/1.1 on a loopback port.

What to answer is decided by script.py; this module only serves it. It is a small h11 loop
on asyncio rather than an ASGI app under daphne because in demo mode it runs inside the
app's own daphne process, on a thread with its own event loop, and Twisted's reactor (what
daphne serves with) is one per process.

Run it alone with `python -m webchat.simulator --port 8001`.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import zlib
from collections import Counter, deque
from typing import Any

import h11

from webchat.simulator import script

# The last requests are kept for /sim/requests, up to this many bytes of request bodies.
REQUEST_BYTES_KEPT = 64 * 1024 * 1024


class Simulator:
    """The server. `await start()` in a running loop, or `start_in_thread()` from sync code."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        token_delay: float = 0.035,
        first_token_delay: float = 0.3,
        default_words: int = 80,
    ) -> None:
        self.host = host
        self.port = port
        self.pace = script.Pace(token_delay, first_token_delay, default_words)
        self.requests: deque[dict[str, Any]] = deque(maxlen=200)
        # Every request answered, counted (`requests` keeps only the last ones).
        self.received = 0
        # The bodies' sizes, oldest first: requests with images are kept up to a budget.
        self._request_bytes: deque[int] = deque(maxlen=200)
        self.completed = 0  # streams that reached [DONE]
        self.aborted: deque[str] = deque(maxlen=200)  # prompts of streams the client left
        self._fail_counts: Counter[str] = Counter()
        self._asked: Counter[str] = Counter()
        self._server: asyncio.AbstractServer | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    async def start(self) -> str:
        self._server = await asyncio.start_server(self._connection, self.host, self.port)
        self.port = self._server.sockets[0].getsockname()[1]
        return self.url

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), 1)

    def start_in_thread(self) -> str:
        ready = threading.Event()

        def serve() -> None:
            self._loop = asyncio.new_event_loop()
            self._loop.run_until_complete(self.start())
            ready.set()
            self._loop.run_forever()

        self._thread = threading.Thread(target=serve, name="grok-simulator", daemon=True)
        self._thread.start()
        ready.wait(10)
        return self.url

    def stop_thread(self) -> None:
        if self._loop is not None and self._thread is not None:
            asyncio.run_coroutine_threadsafe(self._shutdown(), self._loop).result(5)
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(5)

    async def _shutdown(self) -> None:
        await self.close()
        current = asyncio.current_task()
        tasks = [t for t in asyncio.all_tasks() if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    # --- HTTP plumbing ----------------------------------------------------------------------
    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        conn = h11.Connection(h11.SERVER)
        try:
            while True:
                request, body = await self._read_request(conn, reader)
                if request is None:
                    return
                keep_open = await self._dispatch(conn, writer, request, body)
                if not keep_open or conn.our_state is h11.MUST_CLOSE:
                    return
                conn.start_next_cycle()
        except (ConnectionError, h11.ProtocolError, asyncio.IncompleteReadError):
            return
        except asyncio.CancelledError:
            return  # the server is closing
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _read_request(
        self, conn: h11.Connection, reader: asyncio.StreamReader
    ) -> tuple[h11.Request | None, bytes]:
        request = None
        body = bytearray()
        while True:
            event = conn.next_event()
            if event is h11.NEED_DATA:
                data = await reader.read(65536)
                conn.receive_data(data)
                if not data and conn.their_state is not h11.DONE and request is None:
                    return None, b""
            elif isinstance(event, h11.Request):
                request = event
            elif isinstance(event, h11.Data):
                body += event.data
            elif isinstance(event, h11.EndOfMessage):
                return request, bytes(body)
            elif isinstance(event, h11.ConnectionClosed):
                return None, b""

    async def _send(self, conn: h11.Connection, writer: asyncio.StreamWriter, event: Any) -> None:
        data = conn.send(event)
        if data:
            writer.write(data)
            await writer.drain()

    async def _respond(
        self,
        conn: h11.Connection,
        writer: asyncio.StreamWriter,
        status: int,
        body: bytes,
        content_type: str = "application/json",
        headers: dict[str, str] | None = None,
    ) -> None:
        all_headers = {"content-type": content_type, "content-length": str(len(body))}
        all_headers.update(headers or {})
        await self._send(
            conn, writer, h11.Response(status_code=status, headers=list(all_headers.items()))
        )
        await self._send(conn, writer, h11.Data(data=body))
        await self._send(conn, writer, h11.EndOfMessage())

    async def _dispatch(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, request: h11.Request, body: bytes
    ) -> bool:
        target = request.target.decode().split("?")[0]
        if request.method == b"GET" and target == "/sim/requests":
            await self._respond(conn, writer, 200, json.dumps(list(self.requests)).encode())
            return True
        if request.method == b"GET" and target in ("/", "/healthz"):
            await self._respond(conn, writer, 200, b'{"ok":true}')
            return True
        if request.method != b"POST" or not target.endswith("/chat/completions"):
            await self._respond(conn, writer, 404, b'{"success":false,"error":{"code":"no_api"}}')
            return True
        auth = dict(request.headers).get(b"authorization", b"")
        if auth == b"Bearer bad-token":
            return await self._whole(conn, writer, script.error_response("401"))
        try:
            payload = json.loads(body)
            messages = payload["messages"]
            assert isinstance(messages, list) and messages
        except (ValueError, KeyError, AssertionError, TypeError):
            return await self._whole(conn, writer, script.error_response("400"))
        self._remember(payload, len(body))
        return await self._complete(conn, writer, payload)

    def _remember(self, payload: dict[str, Any], size: int) -> None:
        self.received += 1
        if len(self.requests) == self.requests.maxlen:
            self._request_bytes.popleft()
        self.requests.append(payload)
        self._request_bytes.append(size)
        while len(self.requests) > 1 and sum(self._request_bytes) > REQUEST_BYTES_KEPT:
            self.requests.popleft()
            self._request_bytes.popleft()

    # --- Chat completions -------------------------------------------------------------------
    async def _complete(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, payload: dict[str, Any]
    ) -> bool:
        prompt = script.last_prompt(payload)
        options = script.parse_directive(prompt)
        if "fail" in options:
            self._fail_counts[options["_raw"]] += 1
            if self._fail_counts[options["_raw"]] <= int(options["fail"] or 1):
                return await self._whole(conn, writer, script.error_response("503"))
        # The same prompt gives the same reply each run, and a different one when asked again
        # (a regeneration) in the same run.
        self._asked[prompt] += 1
        seed = zlib.crc32(prompt.encode()) + 1000 * (self._asked[prompt] - 1)
        response = script.answer(payload, options, seed=seed, pace=self.pace)
        if isinstance(response, script.Reset):
            return False
        if isinstance(response, script.Whole):
            return await self._whole(conn, writer, response)
        await asyncio.sleep(response.wait)
        headers = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
        try:
            await self._send(conn, writer, h11.Response(status_code=200, headers=headers))
            for step in response.steps:
                if isinstance(step, float):
                    await asyncio.sleep(step)
                elif isinstance(step, script.Fault):
                    if await self._fault(conn, writer, step.kind, step.stall):
                        return False
                else:
                    await self._send(conn, writer, h11.Data(data=step))
            await self._send(conn, writer, h11.EndOfMessage())
            self.completed += 1
            return True
        except (ConnectionError, RuntimeError):
            self.aborted.append(prompt)
            return False
        except asyncio.CancelledError:
            self.aborted.append(prompt)
            raise

    async def _whole(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, response: script.Whole
    ) -> bool:
        await asyncio.sleep(response.wait)
        await self._respond(
            conn, writer, response.status, response.body, response.content_type, response.headers
        )
        return True

    async def _fault(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, fault: str, stall: float
    ) -> bool:
        """Play a mid-stream fault; True when the connection must then be dropped."""
        if fault == "stall-mid":
            await asyncio.sleep(stall)
            return False
        if fault == "cut":
            await self._send(conn, writer, h11.EndOfMessage())
            return True
        if fault == "drop":
            writer.transport.abort()
            return True
        if fault == "malformed":
            await self._send(conn, writer, h11.Data(data=b'data: {"choices": [oops\n\n'))
            return False
        if fault == "error-frame":
            frame = {
                "code": "The service is currently unavailable",
                "error": "Timed out waiting for first token",
            }
            await self._send(
                conn, writer, h11.Data(data=b"data: " + json.dumps(frame).encode() + b"\n\n")
            )
            await asyncio.sleep(0.05)
            writer.transport.abort()
            return True
        return False
