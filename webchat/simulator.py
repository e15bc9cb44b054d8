"""An offline, Grok-compatible chat completion server: real HTTP/1.1 on a loopback port.

It streams in AceData's exact shape (a role chunk, one chunk per word, a finish chunk with
all-zero usage, a usage chunk with no choices, then [DONE]), honours `n`, `max_tokens` and
`stream`, streams reasoning for grok-3-mini, and produces each error and fault of
GROK_API.md on request, through a directive in the last user message:

    [sim words=200 delay=20 ttft=100]   length and pace (milliseconds)
    [sim error=429-retry]               an HTTP error (see ERRORS)
    [sim fault=cut]                     a fault mid-stream (see FAULTS)
    [sim fail=2]                        the first 2 requests with this directive answer 503
    [sim echo]                          the reply lists the messages it received
    [sim repeat]                        the reply is the message itself, minus the directive
    [sim stamp]                         each word is the time it was sent (for benchmarks)

Run it alone with `python -m webchat.simulator --port 8001`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import re
import threading
import time
import uuid
import zlib
from collections import Counter, deque
from typing import Any

import h11

DIRECTIVE = re.compile(r"\[sim(?:\s+([^\]]*))?\]")

# kind → (status, body, extra headers); AceData's and xAI's error bodies (GROK_API.md §5).
ERRORS: dict[str, tuple[int, Any, dict[str, str]]] = {
    "400": (
        400,
        {"success": False, "error": {"code": "bad_request", "message": "bad request"}},
        {},
    ),
    "400-mismatch": (
        400,
        {"success": False, "error": {"code": "token_mismatched", "message": "token mismatched"}},
        {},
    ),
    "400-not-implemented": (
        400,
        {"success": False, "error": {"code": "api_not_implemented", "message": "not implemented"}},
        {},
    ),
    "401": (
        401,
        {"success": False, "error": {"code": "invalid_token", "message": "invalid token"}},
        {},
    ),
    "403": (
        403,
        {"success": False, "error": {"code": "used_up", "message": "balance used up"}},
        {},
    ),
    "403-moderation": (
        403,
        {"success": False, "error": {"code": "forbidden", "message": "content blocked"}},
        {},
    ),
    "404": (404, {"success": False, "error": {"code": "no_api", "message": "no such api"}}, {}),
    "413": (
        413,
        {"success": False, "error": {"code": "request_too_large", "message": "too large"}},
        {},
    ),
    "429": (
        429,
        {"success": False, "error": {"code": "too_many_requests", "message": "slow down"}},
        {},
    ),
    "429-retry": (
        429,
        {"success": False, "error": {"code": "too_many_requests", "message": "slow down"}},
        {"retry-after": "1"},
    ),
    "429-retry-long": (
        429,
        {"success": False, "error": {"code": "too_many_requests", "message": "slow down"}},
        {"retry-after": "120"},
    ),
    "500": (
        500,
        {"success": False, "error": {"code": "api_error", "message": "internal error"}},
        {},
    ),
    "503": (503, {"success": False, "error": {"code": "api_error", "message": "unavailable"}}, {}),
    "xai-400-key": (
        400,
        {"code": "Client specified an invalid argument", "error": "Incorrect API key provided"},
        {},
    ),
    "xai-400-context": (
        400,
        {
            "code": "Client specified an invalid argument",
            "error": "This model's maximum prompt length is 131072 but the request "
            "contains 150000 tokens.",
        },
        {},
    ),
    "xai-401": (401, {"code": "Unauthorized", "error": "No API key provided"}, {}),
    "xai-403": (403, {"code": "Forbidden", "error": "The API key does not have permission"}, {}),
    "xai-404": (404, {"code": "Not Found", "error": "The model grok-9 does not exist"}, {}),
    "xai-410": (410, {"code": "Gone", "error": "Live search is deprecated"}, {}),
    "xai-422": (
        422,
        {"code": "Unprocessable Entity", "error": "Failed to deserialize the JSON body"},
        {},
    ),
    "xai-429": (429, {"code": "Too Many Requests", "error": "Rate limit reached for requests"}, {}),
    "xai-429-credit": (
        429,
        {
            "code": "Too Many Requests",
            "error": "Your team has either used all available credits or reached its "
            "monthly spending limit.",
        },
        {},
    ),
    "html-502": (502, "<html><body>Bad Gateway</body></html>", {"content-type": "text/html"}),
}
FAULTS = {
    "stall-first": "no response at all for `stall` seconds (default 3600)",
    "stall-mid": "half the reply, then silence for `stall` seconds",
    "cut": "half the reply, then the response ends cleanly but without [DONE]",
    "drop": "half the reply, then the connection is torn down",
    "malformed": "half the reply, then a chunk that is not JSON",
    "error-frame": "half the reply, then xAI's in-stream error frame",
    "reset": "the connection closes before any response",
    "html": "a 200 answer whose body is an HTML page",
}
REASONING_MODELS = ("grok-3-mini",)

_OPENERS = [
    "Good question.",
    "Here is how I see it.",
    "Short answer: yes, with one caveat.",
    "Let me walk through it.",
    "It depends on what you need.",
]
_SENTENCES = [
    "The simplest approach is usually the right place to start.",
    "Once that works, measure before you change anything else.",
    "Most of the cost hides in the part nobody looks at twice.",
    "A small example often explains more than a long description.",
    "Keep the first version boring, and make it correct.",
    "Write down the decision and the reason, so the next person can follow it.",
    "If the numbers surprise you, check the measurement first.",
    "There is a trade-off here between speed and simplicity.",
    "In practice, the edge cases matter more than the happy path.",
    "You can always add a cache later; removing one is harder.",
    "Think about what happens when the network fails halfway through.",
    "Good defaults save more time than good documentation.",
    "Try it on a small input, then on the largest one you expect.",
    "The error message is part of the interface, so make it kind and precise.",
    "Tests that fail for the right reason are worth more than many that never fail.",
    "**In short:** start small, measure, and keep what helps.",
    "- First, make it work.\n- Then, make it clear.\n- Last, make it fast.",
]
_CODE = '```python\ndef greet(name: str) -> str:\n    return f"Hello, {name}!"\n```'


def parse_directive(text: str) -> dict[str, str]:
    match = DIRECTIVE.search(text)
    if not match:
        return {}
    options: dict[str, str] = {"_raw": match.group(0)}
    for part in (match.group(1) or "").split():
        key, _, value = part.partition("=")
        options[key] = value
    return options


def compose_reply(prompt: str, words: int, seed: int) -> str:
    """Plausible text of exactly `words` words, with some markdown; the same for the same seed."""
    rng = random.Random(seed)
    sentences = [rng.choice(_OPENERS)]
    count = len(sentences[0].split())
    while count < words:
        sentence = rng.choice(_SENTENCES)
        if sentence.startswith("-"):
            sentence = f"\n\n{sentence}\n\n"
        sentences.append(("\n\n" if rng.random() < 0.2 else " ") + sentence)
        count += len(sentence.split())
    reply = "".join(tokenize("".join(sentences))[:words])
    if "code" in prompt.lower():
        reply += "\n\n" + _CODE
    return reply


def tokenize(text: str) -> list[str]:
    """Word-sized pieces that join back into `text` exactly."""
    return re.findall(r"\s*\S+", text) or [text]


def _chunk(cid: str, model: str, created: int, choices: list[dict[str, Any]], usage: Any) -> bytes:
    body = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": choices,
        "usage": usage,
    }
    return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"


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
        self.token_delay = token_delay
        self.first_token_delay = first_token_delay
        self.default_words = default_words
        self.requests: deque[dict[str, Any]] = deque(maxlen=200)
        self.completed = 0  # streams that reached [DONE]
        self.aborted = 0  # streams the client went away from
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
            status, error_body, _ = ERRORS["401"]
            await self._respond(conn, writer, status, json.dumps(error_body).encode())
            return True
        try:
            payload = json.loads(body)
            messages = payload["messages"]
            assert isinstance(messages, list) and messages
        except (ValueError, KeyError, AssertionError, TypeError):
            await self._respond(conn, writer, 400, json.dumps(ERRORS["400"][1]).encode())
            return True
        self.requests.append(payload)
        return await self._complete(conn, writer, payload)

    # --- Chat completions -------------------------------------------------------------------
    async def _complete(
        self, conn: h11.Connection, writer: asyncio.StreamWriter, payload: dict[str, Any]
    ) -> bool:
        messages = payload["messages"]
        last_user = next(
            (m.get("content") for m in reversed(messages) if m.get("role") == "user"), ""
        )
        prompt = last_user if isinstance(last_user, str) else json.dumps(last_user)
        options = parse_directive(prompt)
        delay = float(options.get("delay", self.token_delay * 1000)) / 1000
        ttft = float(options.get("ttft", self.first_token_delay * 1000)) / 1000
        stall = float(options.get("stall", 3600))

        if "fail" in options:
            key = options["_raw"]
            self._fail_counts[key] += 1
            if self._fail_counts[key] <= int(options["fail"] or 1):
                status, error_body, headers = ERRORS["503"]
                await self._respond(conn, writer, status, json.dumps(error_body).encode())
                return True
        if "error" in options:
            status, error_body, headers = ERRORS.get(options["error"], ERRORS["400"])
            raw = (
                error_body.encode()
                if isinstance(error_body, str)
                else json.dumps(error_body).encode()
            )
            content_type = headers.get("content-type", "application/json")
            extra = {k: v for k, v in headers.items() if k != "content-type"}
            await self._respond(conn, writer, status, raw, content_type, extra)
            return True
        fault = options.get("fault", "")
        stamp = "stamp" in options
        if fault == "reset":
            return False
        if fault == "stall-first":
            await asyncio.sleep(stall)
        if fault == "html":
            await self._respond(
                conn, writer, 200, b"<html><body>Welcome</body></html>", "text/html"
            )
            return True

        model = str(payload.get("model") or "grok-3")
        n = max(1, min(int(payload.get("n") or 1), 8))
        max_tokens = payload.get("max_tokens") or payload.get("max_completion_tokens")
        # The same prompt gives the same reply each run, and a different one when asked again
        # (a regeneration) in the same run.
        self._asked[prompt] += 1
        seed = zlib.crc32(prompt.encode()) + 1000 * (self._asked[prompt] - 1)
        if "repeat" in options:
            texts = [DIRECTIVE.sub("", prompt).strip() or "(nothing)"] * n
        elif "echo" in options:
            summary = "; ".join(
                f"{m.get('role')}: {m.get('content')}"
                for m in messages
                if m.get("role") != "system"
            )
            system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
            settings_seen = " ".join(
                f"{key}={payload.get(key)}" for key in ("temperature", "max_tokens", "n")
            )
            texts = [
                f"I received {len(messages)} messages. {summary}. System: {system}. "
                f"Params: {settings_seen}."
            ] * n
        else:
            words = int(options.get("words", self.default_words))
            texts = [compose_reply(prompt, words, seed + i) for i in range(n)]
        pieces = [tokenize(text) for text in texts]
        finish = ["stop"] * n
        if max_tokens:
            for i, tokens in enumerate(pieces):
                if len(tokens) > int(max_tokens):
                    pieces[i] = tokens[: int(max_tokens)]
                    finish[i] = "length"
        reasoning = []
        if model.startswith(REASONING_MODELS):
            reasoning = tokenize(compose_reply("think " + prompt, 20, seed + 99))
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages) + 3 * len(
            messages
        )
        completion_tokens = sum(len(p) for p in pieces)
        usage = {
            "prompt_tokens": prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt_tokens + completion_tokens,
        }
        cid = f"foaicmpl-{uuid.uuid4().hex}"
        created = int(time.time())

        if not payload.get("stream"):
            await asyncio.sleep(ttft)
            body = {
                "id": cid,
                "model": model,
                "object": "chat.completion",
                "created": created,
                "choices": [
                    {
                        "index": i,
                        "message": {"role": "assistant", "content": "".join(pieces[i])},
                        "finish_reason": finish[i],
                    }
                    for i in range(n)
                ],
                "usage": usage
                | {"completion_tokens_details": {"reasoning_tokens": len(reasoning)}},
            }
            await self._respond(conn, writer, 200, json.dumps(body).encode())
            return True

        headers = [("content-type", "text/event-stream"), ("cache-control", "no-cache")]
        try:
            await self._send(conn, writer, h11.Response(status_code=200, headers=headers))
            await asyncio.sleep(ttft)

            async def emit(choices: list[dict[str, Any]], usage_value: Any = None) -> None:
                await self._send(
                    conn, writer, h11.Data(data=_chunk(cid, model, created, choices, usage_value))
                )

            await emit(
                [
                    {"delta": {"role": "assistant"}, "finish_reason": None, "index": i}
                    for i in range(n)
                ]
            )
            for token in reasoning:
                await emit(
                    [
                        {"delta": {"reasoning_content": token}, "finish_reason": None, "index": i}
                        for i in range(n)
                    ]
                )
                await asyncio.sleep(delay)
            longest = max(len(p) for p in pieces)
            half = max(1, longest // 2)
            for step in range(longest):
                if fault and step == half and await self._fault(conn, writer, fault, stall):
                    return False
                choices = [
                    {
                        "delta": {"content": f"{time.time():.6f} " if stamp else pieces[i][step]},
                        "finish_reason": None,
                        "index": i,
                    }
                    for i in range(n)
                    if step < len(pieces[i])
                ]
                await emit(choices)
                if delay:
                    await asyncio.sleep(delay)
            zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
            await emit(
                [{"delta": {}, "finish_reason": finish[i], "index": i} for i in range(n)], zero
            )
            await emit([], usage)
            await self._send(conn, writer, h11.Data(data=b"data: [DONE]\n\n"))
            await self._send(conn, writer, h11.EndOfMessage())
            self.completed += 1
            return True
        except (ConnectionError, RuntimeError):
            self.aborted += 1
            return False
        except asyncio.CancelledError:
            self.aborted += 1
            raise

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


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve the offline Grok simulator.")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--delay-ms", type=float, default=35, help="pause between words")
    parser.add_argument("--ttft-ms", type=float, default=300, help="pause before the first word")
    args = parser.parse_args()
    sim = Simulator(
        host=args.host,
        port=args.port,
        token_delay=args.delay_ms / 1000,
        first_token_delay=args.ttft_ms / 1000,
    )

    async def serve() -> None:
        url = await sim.start()
        print(f"Grok simulator on {url}", flush=True)
        await asyncio.Event().wait()

    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(serve())


if __name__ == "__main__":
    main()
