"""httpx's requests to the upstream carried by aiohttp (webchat/streams.py), against real
servers on loopback: plain and TLS, a body larger than the read buffer, a stalled answer,
kept-alive connections reused, closed by the server, left with an answer unread or sent
an answer unasked, a request the upstream stops reading, an answer that is not HTTP, a
refused connection, the trace of a connection opened."""

import asyncio
import shutil
import ssl
import subprocess
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from webchat import grok, streams
from webchat.errors import UpstreamError

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@asynccontextmanager
async def serving(handler: Handler, tls: ssl.SSLContext | None = None) -> AsyncIterator[str]:
    server = await asyncio.start_server(handler, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"{'https' if tls else 'http'}://127.0.0.1:{port}"
    finally:
        server.close()


async def answer(writer: asyncio.StreamWriter, body: bytes, close: bool = False) -> None:
    head = f"HTTP/1.1 200 OK\r\ncontent-length: {len(body)}\r\n"
    writer.write((head + ("connection: close\r\n" if close else "") + "\r\n").encode() + body)
    await writer.drain()


async def read_request(reader: asyncio.StreamReader) -> bytes:
    head = await reader.readuntil(b"\r\n\r\n")
    length = next(
        (
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length")
        ),
        0,
    )
    return await reader.readexactly(length)


def client(ssl_context: ssl.SSLContext | None = None) -> httpx.AsyncClient:
    made = streams.Transport(ssl_context or ssl.create_default_context())
    return httpx.AsyncClient(transport=made, timeout=2)


async def test_the_upstream_client_is_carried_by_aiohttp() -> None:
    assert isinstance(grok.client()._transport, streams.Transport)


async def test_a_body_larger_than_the_buffer_arrives_whole_in_order() -> None:
    body = bytes(range(256)) * 8192  # 2 MiB: reading pauses and resumes the socket

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await answer(writer, body)

    async with serving(handler) as url, client() as http:
        received = bytearray()
        async with http.stream("POST", url, content=b"x" * 300_000) as response:
            async for chunk in response.aiter_raw():
                received += chunk
                await asyncio.sleep(0)  # a slow reader
    assert bytes(received) == body


async def test_a_stalled_answer_is_a_read_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async with serving(handler) as url, client() as http:
        with pytest.raises(httpx.ReadTimeout):
            await http.post(url, content=b"{}", timeout=httpx.Timeout(2, read=0.2))


async def test_a_quiet_client_reuses_one_kept_alive_connection_and_hears_it_opened() -> None:
    connections = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while True:
            await read_request(reader)
            await answer(writer, b"again")

    opened: list[str] = []

    async def trace(event: str, info: dict) -> None:
        opened.append(event)

    async with serving(handler) as url, client() as http:
        for _ in range(3):
            response = await http.post(url, content=b"a", extensions={"trace": trace})
            assert response.content == b"again"
    assert len(connections) == 1
    assert opened == ["connection.connect_tcp.complete"]  # the first request's, only


async def test_a_streamed_answer_leaves_its_connection_to_the_next_request_quietly(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """An answer in chunks (as the upstream streams a reply) read to its end: the connection
    goes back to the pool, and nothing is logged (the pool's check for bytes past the answer
    once raised inside aiohttp's parser, which logged an error and dropped the connection
    without closing it, at every reply)."""
    connections = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while not reader.at_eof():
            try:
                await read_request(reader)
            except asyncio.IncompleteReadError:
                return  # the client closed it
            writer.write(b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n")
            writer.write(b"b\r\ndata: one\n\n\r\n")
            await writer.drain()
            await asyncio.sleep(0.02)  # the client is reading the answer by then
            writer.write(b"b\r\ndata: two\n\n\r\n0\r\n\r\n")
            await writer.drain()

    async with serving(handler) as url, client() as http:
        for _ in range(3):
            async with http.stream("POST", url, content=b"a") as response:
                assert b"".join([piece async for piece in response.aiter_raw()]) == (
                    b"data: one\n\ndata: two\n\n"
                )
    assert len(connections) == 1
    assert [r.getMessage() for r in caplog.records if r.levelname == "ERROR"] == []


async def test_an_answer_left_unread_closes_its_connection() -> None:
    connections, closed = [], asyncio.Event()

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        while True:
            await read_request(reader)
            writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 1000000\r\n\r\n" + b"x" * 1000)
            await writer.drain()
            if len(connections) == 1:
                await reader.read()  # the client closes: the rest is never asked for
                closed.set()
                return
            writer.write(b"x" * 999_000)

    async with serving(handler) as url, client() as http:
        async with http.stream("POST", url, content=b"a") as response:
            async for _ in response.aiter_raw():
                break  # the rest is never read
        await asyncio.wait_for(closed.wait(), 2)
        whole = await http.post(url, content=b"b")
    assert whole.content == b"x" * 1_000_000
    assert len(connections) == 2


def ok(body: bytes) -> bytes:
    return b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body)


STRAYS = {
    # the answer, bytes in its packet, bytes after it, and what completes them
    "a whole answer, later": (None, b"", ok(b"alice-secret"), b""),
    "the start of one, later": (
        None, b"", b"HTTP/1.1 200 OK\r\ncontent-len", b"gth: 12\r\n\r\nalice-secret"
    ),
    "the start of one, with the answer": (
        None, b"HTTP/1.1 200 OK\r\nX-A: ", b"", b"1\r\ncontent-length: 12\r\n\r\nalice-secret"
    ),
    "the head of one and part of its body, with the answer": (
        None, b"HTTP/1.1 200 OK\r\ncontent-length: 9\r\n\r\nab", b"", b"cdefghi"
    ),
    "a head the parser refuses, with the answer": (
        None, b"HTTP/1.1 200 OK\r\nSec-WebSocket-Key1: x\r\n", b"", b"\r\n"
    ),
    "after a final answer under 100": (
        b"HTTP/1.1 099 X\r\ncontent-length: 0\r\n\r\n", b"", ok(b"alice-secret"), b""
    ),
}  # fmt: skip


@pytest.mark.parametrize("stray", list(STRAYS))
async def test_an_answer_no_request_asked_for_is_not_taken_for_the_next(stray: str) -> None:
    """A kept-alive connection on which an answer, or part of one, arrives unasked (a late
    error, a reply sent twice) is not used again: the next request, perhaps someone
    else's, gets its own answer, however the stray bytes are cut."""
    answer_, same_packet, later, rest = STRAYS[stray]

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        body = await read_request(reader)
        if body == b"bob":  # on a connection of its own
            writer.write(ok(b"for bob"))
            await writer.drain()
            return
        writer.write((answer_ or ok(b"for " + body)) + same_packet)
        await writer.drain()
        await asyncio.sleep(0.05)
        writer.write(later)
        await writer.drain()
        body = await read_request(reader)  # a second request here would get the stray
        writer.write(rest + ok(b"for " + body))
        await writer.drain()
        await asyncio.sleep(5)

    async with serving(handler) as url, client() as http:
        await http.post(url, content=b"alice")
        await asyncio.sleep(0.15)  # the stray bytes have arrived
        assert (await http.post(url, content=b"bob")).content == b"for bob"


async def test_a_header_that_cannot_be_written_is_a_local_protocol_error() -> None:
    async with serving(lambda r, w: asyncio.sleep(0)) as url, client() as http:
        with pytest.raises(httpx.LocalProtocolError):
            await http.post(url, content=b"{}", headers={"authorization": "Bearer a\r\nx: y"})


async def test_an_answer_that_is_not_http_is_not_sent_again(settings: Any) -> None:
    """On a kept-alive connection an unreadable answer looks like a closed connection to a
    client that only resends, but the upstream did answer: sent again, it could be billed
    twice."""
    requests = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal requests
        while True:
            await read_request(reader)
            requests += 1
            if requests == 1:
                events = b"data: [DONE]\n\n"
                head = b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
                writer.write(head + b"content-length: %d\r\n\r\n" % len(events) + events)
            else:
                writer.write(b"HTTP/1.1 200 OK\r\nx-big: " + b"a" * 100_000 + b"\r\n\r\n")
            await writer.drain()

    async with serving(handler) as url:
        settings.GROK_API_BASE = url
        grok._clients.clear()
        try:
            assert [e async for e in grok.stream_chat({"model": "m", "messages": []})] == []
            with pytest.raises(UpstreamError) as caught:
                await anext(grok.stream_chat({"model": "m", "messages": []}))
        finally:
            grok._clients.clear()
    assert caught.value.code == "upstream_protocol"
    assert requests == 2


async def test_a_kept_alive_connection_the_server_closed_is_not_reused() -> None:
    connections = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        connections.append(writer)
        await read_request(reader)
        await answer(writer, b"one")
        writer.close()  # without saying so in the response

    async with serving(handler) as url, client() as http:
        assert (await http.post(url, content=b"a")).content == b"one"
        await asyncio.sleep(0.1)
        assert (await http.post(url, content=b"b")).content == b"one"
    assert len(connections) == 2


async def test_a_refused_connection_is_a_connect_error() -> None:
    async with serving(lambda r, w: asyncio.sleep(0)) as url:
        pass  # closed: nothing listens there now
    async with client() as http:
        with pytest.raises(httpx.ConnectError):
            await http.get(url)


async def test_a_proxy_named_by_the_environment_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    """httpx honours HTTPS_PROXY only with its own transport: the client then takes it."""
    monkeypatch.setenv("HTTPS_PROXY", "http://127.0.0.1:9")
    made = grok._client(httpx.Timeout(1))
    assert any(made._mounts.values())  # a proxy for https:// addresses
    monkeypatch.delenv("HTTPS_PROXY")
    assert isinstance(grok._client(httpx.Timeout(1))._transport, streams.Transport)


@pytest.fixture
def certificate(tmp_path: Path) -> tuple[Path, ssl.SSLContext]:
    """A self-signed certificate for 127.0.0.1, and a server context that presents it."""
    if not shutil.which("openssl"):
        pytest.skip("needs openssl to make a certificate")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    server_side = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server_side.load_cert_chain(cert, key)
    return cert, server_side


async def test_an_upstream_that_stops_reading_is_a_write_timeout() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)  # never reads the request

    async with serving(handler) as url, client() as http:
        with pytest.raises(httpx.WriteTimeout):
            await http.post(url, content=b"x" * 50_000_000, timeout=httpx.Timeout(5, write=0.3))


async def test_an_upstream_that_stops_reading_is_a_write_timeout_over_tls(
    certificate: tuple[Path, ssl.SSLContext],
) -> None:
    cert, server_side = certificate

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(10)  # never reads the request

    async with serving(handler, server_side) as url:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with client(trusting) as http:
            with pytest.raises(httpx.WriteTimeout):
                await http.post(url, content=b"x" * 20_000_000, timeout=httpx.Timeout(5, write=0.3))


async def test_tls_is_verified_and_streams(certificate: tuple[Path, ssl.SSLContext]) -> None:
    cert, server_side = certificate

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await read_request(reader)
        await answer(writer, b"data: secret\n\n" * 1000)

    async with serving(handler, server_side) as url:
        trusting = ssl.create_default_context(cafile=str(cert))
        async with client(trusting) as http:
            response = await http.post(url, content=b"{}")
            assert response.content == b"data: secret\n\n" * 1000
        # A client that does not trust the certificate is refused before anything is sent.
        async with client() as http:
            with pytest.raises(httpx.ConnectError):
                await http.post(url, content=b"{}")
