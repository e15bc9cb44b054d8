"""httpx's requests to the upstream, carried by aiohttp.

A streamed reply is read word by word, and at 200 replies at once the HTTP client's own
work per word was the largest part of the event loop left: httpcore's iterators and h11's
events in Python for every chunk of the body. aiohttp parses HTTP/1.1 in C (llhttp) and
hands over whatever has arrived in one piece. `python bench/upstream_read.py` measures the
difference (docs/performance.md).

httpx stays the client: its timeouts, its exceptions and its responses are what the rest
of the code knows. This transport carries its requests on one aiohttp session, made in the
event loop of the first (sessions are loop-bound: webchat.grok keeps a client per loop),
and maps aiohttp's errors onto httpx's:

- a connection refused, unresolvable or untrusted (TLS) → ConnectError; not made within
  the connect timeout → ConnectTimeout;
- the request not taken on within the write timeout → WriteTimeout (aiohttp has none: the
  request is handed over in pieces, timed between them);
- nothing received for the read timeout → ReadTimeout;
- the connection closed → RemoteProtocolError; reset → ReadError; an answer that is not
  HTTP (or past aiohttp's limits) → ProtocolError, which is never sent again, as the
  upstream did answer;
- a request that cannot be written (a header holding a line break) → LocalProtocolError.

A kept-alive connection that hears anything while no request waits is closed
(`_Connection`).

The request's "trace" extension, as httpcore calls it, hears "connection.connect_tcp.complete"
when the request opened a connection of its own (webchat/grok.py resends only on a
kept-alive one).
"""

from __future__ import annotations

import asyncio
import functools
import ssl
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import httpx
from aiohttp.client_proto import ResponseHandler
from aiohttp.http_exceptions import HttpProcessingError
from yarl import URL

# Set by the transport from the request, not taken from it: aiohttp writes them itself.
_OWN_HEADERS = frozenset({b"host", b"transfer-encoding"})
# A request is handed to aiohttp in pieces of this size (the write timeout runs between them).
WRITE_PIECE = 64 * 1024
# How long an idle connection is kept for the next request (httpx's own default).
KEEPALIVE_SECONDS = 5.0


def mapped(exc: BaseException) -> httpx.TransportError:
    """aiohttp's error (or asyncio's timeout) as the httpx error it means."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, aiohttp.ConnectionTimeoutError):
        return httpx.ConnectTimeout(text)
    if isinstance(exc, TimeoutError):
        return httpx.ReadTimeout(text)
    if isinstance(exc, aiohttp.ClientConnectorError):  # refused, DNS, TLS verification
        return httpx.ConnectError(text)
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError):
        return httpx.RemoteProtocolError(text)
    if isinstance(exc, aiohttp.ClientResponseError):  # an answer that is not HTTP
        return httpx.ProtocolError(text)
    if isinstance(exc, OSError):
        return httpx.ReadError(text)
    return httpx.TransportError(text)


_ERRORS = (aiohttp.ClientError, TimeoutError, OSError)


class _Body(httpx.AsyncByteStream):
    """An answer's body, each piece as it arrived."""

    def __init__(self, response: aiohttp.ClientResponse) -> None:
        self._response = response

    async def __aiter__(self) -> AsyncIterator[bytes]:
        try:
            async for piece in self._response.content.iter_any():
                yield piece
        except _ERRORS as exc:
            raise mapped(exc) from exc

    async def aclose(self) -> None:
        # Read to the end: the connection goes back to the pool. Not: it is closed, as
        # the rest of the answer would otherwise be taken for the next one's.
        if self._response.content.at_eof():
            self._response.release()
        else:
            self._response.close()


class _Connection(ResponseHandler):
    """aiohttp's protocol of one connection, that takes only the answers asked for. aiohttp
    would keep whatever arrives on a kept-alive connection for its next request; here the
    connection is closed instead when an answer, or any byte, arrives while no request
    waits for one, and is not kept when bytes past the answer wait in the parser."""

    _asked = False  # a request waits for its answer's head
    _idle = True  # no request waits, nor reads its answer's body
    _parsing = False  # within the parser, which may be ending an answer

    def set_response_params(self, **params: Any) -> None:  # a request is about to be sent
        self._asked, self._idle = True, False
        super().set_response_params(**params)

    def data_received(self, data: bytes) -> None:
        if self._idle and data:
            self._refuse()
            return
        self._parsing = True
        try:
            ResponseHandler.data_received(self, data)
        finally:
            self._parsing = False
        # The answer ended in these bytes (and the connection went back to the pool): those
        # after it, if any, are looked at now that the parser is done with them.
        if self._idle and self._more_than_the_answer():
            self._refuse()

    def feed_data(self, data: Any, size: int = 0) -> None:  # an answer's head, parsed
        if not self._asked:
            self._refuse()
            return
        if not 100 <= data[0].code <= 199 or data[0].code == 101:  # as aiohttp reads it
            self._asked = False  # the answer: informational ones come before it
            data[1].on_eof(self._answered)
        super().feed_data(data, size)

    def _answered(self) -> None:
        self._idle = True

    @property
    def should_close(self) -> bool:  # asked as the connection goes back to the pool
        # Not asked of the parser while it is ending the answer: it would take the answer
        # for cut short (data_received asks once it is done).
        return super().should_close or (not self._parsing and self._more_than_the_answer())

    def _more_than_the_answer(self) -> bool:
        # The start of another answer, after this one: the next request would be answered
        # with the rest of it. One the parser cannot even take for a start is as much.
        try:
            return self._parser is not None and self._parser.feed_eof() is not None
        except HttpProcessingError:
            return True

    def _refuse(self) -> None:
        self.force_close()
        if self.transport is not None:
            self.transport.close()


async def _opened(session: Any, context: Any, params: Any) -> None:
    trace = context.trace_request_ctx
    if trace is not None:
        await trace("connection.connect_tcp.complete", {})


_keepers: set[asyncio.Task[None]] = set()


class Transport(httpx.AsyncBaseTransport):
    """Requests on one aiohttp session, made in the event loop of the first request (as
    httpx's own pools, a transport serves one loop)."""

    def __init__(self, ssl_context: ssl.SSLContext) -> None:
        self._ssl = ssl_context
        self._session: aiohttp.ClientSession | None = None
        self._keeper: asyncio.Task[None] | None = None

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            traces = aiohttp.TraceConfig()
            traces.on_connection_create_end.append(_opened)
            connector = aiohttp.TCPConnector(
                ssl=self._ssl,
                limit=0,  # as many connections as replies at once
                keepalive_timeout=KEEPALIVE_SECONDS,
                # An address that does not answer does not hold up the next.
                happy_eyeballs_delay=0.25,
                interleave=1,
            )
            # aiohttp has no public way to choose the protocol of its connections.
            connector._factory = functools.partial(_Connection, loop=connector._loop)
            self._session = aiohttp.ClientSession(
                connector=connector,
                trace_configs=[traces],
                cookie_jar=aiohttp.DummyCookieJar(),  # httpx keeps the cookies
                auto_decompress=False,  # httpx decodes
                # Only the headers httpx wrote: aiohttp adds none of its own.
                skip_auto_headers=("Accept", "Accept-Encoding", "Content-Type", "User-Agent"),
            )
            keeper = asyncio.get_running_loop().create_task(self._close_with_loop())
            _keepers.add(keeper)  # the loop holds its tasks only weakly
            keeper.add_done_callback(_keepers.discard)
            self._keeper = keeper
        return self._session

    async def _close_with_loop(self) -> None:
        """Close the kept-alive connections when the event loop shuts down: the loop
        cancels the tasks left (asyncio.run and asgiref do), and this one then closes them
        while the loop still runs."""
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            if self._session is not None:
                await self._session.close()
            raise

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        timeouts = request.extensions.get("timeout", {})
        connect = timeouts.get("connect")
        timeout = aiohttp.ClientTimeout(
            total=None, connect=connect, sock_connect=connect, sock_read=timeouts.get("read")
        )
        headers = [
            (name.decode("latin-1"), value.decode("latin-1"))
            for name, value in request.headers.raw
            if name.lower() not in _OWN_HEADERS
        ]
        content = await request.aread()
        try:
            async with asyncio.timeout(None) as writing:
                response = await self.session().request(
                    request.method,
                    URL(str(request.url), encoded=True),
                    headers=headers,
                    data=_pieces(content, writing, timeouts.get("write")) if content else None,
                    allow_redirects=False,  # httpx follows them, when asked
                    timeout=timeout,
                    trace_request_ctx=request.extensions.get("trace"),
                )
        except TimeoutError as exc:
            if writing.expired():
                raise httpx.WriteTimeout("the upstream stopped taking the request") from exc
            raise mapped(exc) from exc
        except _ERRORS as exc:
            raise mapped(exc) from exc
        except ValueError as exc:  # a header aiohttp refuses to write
            raise httpx.LocalProtocolError(str(exc)) from exc
        version = response.version
        return httpx.Response(
            response.status,
            headers=response.raw_headers,
            stream=_Body(response),
            extensions={
                "http_version": f"HTTP/{version.major}.{version.minor}".encode()
                if version
                else b"HTTP/1.1",
                "reason_phrase": (response.reason or "").encode("latin-1", "replace"),
            },
        )

    async def aclose(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
        if self._session is not None:
            await self._session.close()


async def _pieces(
    content: bytes, writing: asyncio.Timeout, most: float | None
) -> AsyncIterator[bytes]:
    """The request's body in pieces, the write timeout running from each piece to the next.
    aiohttp asks for the next piece once what it holds has gone into the socket's buffers,
    which take a megabyte or more: the timeout ends an upstream that stopped taking the
    request, not a slow one (past 30 s, under about 50 KB/s)."""
    loop = asyncio.get_running_loop()
    try:
        for start in range(0, len(content), WRITE_PIECE):
            if most is not None:
                writing.reschedule(loop.time() + most)
            yield content[start : start + WRITE_PIECE]
        writing.reschedule(None)  # all taken: from here the read timeout runs
    except RuntimeError:
        return  # answered before the request was whole (an early refusal): the rest stays
