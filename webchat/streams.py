"""httpcore's network streams on asyncio's own transports, for the upstream client.

httpcore's default backend on asyncio goes through anyio, and anyio reads a socket by
adding it to the event loop's selector and removing it again on every read, inside a new
cancel scope each time. A streamed reply is read word by word, so with 100 replies at once
that was over half of the event loop's time. Here a connection is an asyncio Protocol: the
transport stays registered, and a read only waits when nothing is buffered (a timer for
its timeout only then). httpcore's public interface (AsyncNetworkBackend), nothing else.
"""

from __future__ import annotations

import asyncio
import ssl
from collections.abc import Iterable
from typing import Any

import httpcore
import httpx
from httpcore import AsyncNetworkBackend, AsyncNetworkStream

# Past this many bytes buffered and unread, the socket is not read until some are.
HIGH_WATER = 256 * 1024
# A request is written in pieces of this size, each waiting for room in the socket.
WRITE_PIECE = 64 * 1024


class _Connection(asyncio.Protocol):
    """What arrives on one connection, kept until read; and whether it may be written."""

    def __init__(self) -> None:
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.eof = False
        self.error: BaseException | None = None
        self.waiter: asyncio.Future[None] | None = None
        self.writable: asyncio.Future[None] | None = None
        self.paused = False

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if len(self.buffer) > HIGH_WATER and not self.paused and self.transport is not None:
            self.paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool:
        self.eof = True
        self._wake()
        return False  # the transport closes itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self.error = exc
        self._wake()
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)

    def pause_writing(self) -> None:
        self.writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self.writable is not None and not self.writable.done():
            self.writable.set_result(None)
        self.writable = None

    def _wake(self) -> None:
        if self.waiter is not None and not self.waiter.done():
            self.waiter.set_result(None)


async def _within(timeout: float | None, waiting: Any, error: type[Exception]) -> Any:
    if timeout is None:
        return await waiting
    try:
        async with asyncio.timeout(timeout):
            return await waiting
    except TimeoutError:
        raise error(f"no answer in {timeout} s") from None


class AsyncioStream(AsyncNetworkStream):
    def __init__(self, transport: asyncio.Transport, connection: _Connection) -> None:
        self._transport = transport
        self._connection = connection

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        connection = self._connection
        if not connection.buffer and not connection.eof:
            connection.waiter = asyncio.get_running_loop().create_future()
            try:
                await _within(timeout, connection.waiter, httpcore.ReadTimeout)
            finally:
                connection.waiter = None
        if not connection.buffer:
            if connection.error is not None:
                raise httpcore.ReadError(str(connection.error)) from connection.error
            return b""  # the other end closed: httpcore reads that as the end
        data = bytes(connection.buffer[:max_bytes])
        del connection.buffer[:max_bytes]
        if connection.paused and len(connection.buffer) <= HIGH_WATER // 2:
            connection.paused = False
            self._transport.resume_reading()
        return data

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        # In pieces, waiting for room between them: TLS takes a whole write at once, so a
        # request of megabytes to an upstream that stopped reading would never wait.
        view = memoryview(buffer)
        for start in range(0, len(view), WRITE_PIECE):
            if self._transport.is_closing():
                raise httpcore.WriteError("the connection is closed")
            self._transport.write(view[start : start + WRITE_PIECE])
            if self._connection.writable is not None:
                waiting = asyncio.shield(self._connection.writable)
                await _within(timeout, waiting, httpcore.WriteTimeout)

    async def aclose(self) -> None:
        self._transport.close()

    async def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport = await _within(
                timeout,
                loop.start_tls(
                    self._transport,
                    self._connection,
                    ssl_context,
                    server_hostname=server_hostname,
                    ssl_handshake_timeout=timeout,
                ),
                httpcore.ConnectTimeout,
            )
        except (OSError, ssl.SSLError) as exc:
            self._transport.close()
            raise httpcore.ConnectError(str(exc)) from exc
        except BaseException:
            self._transport.close()
            raise
        if transport is None:
            raise httpcore.ConnectError("the connection closed during the TLS handshake")
        self._connection.transport = transport
        return AsyncioStream(transport, self._connection)

    def get_extra_info(self, info: str) -> Any:
        transport = self._transport
        if info == "ssl_object":
            return transport.get_extra_info("ssl_object")
        if info == "client_addr":
            return transport.get_extra_info("sockname")
        if info == "server_addr":
            return transport.get_extra_info("peername")
        if info == "socket":
            return transport.get_extra_info("socket")
        if info == "is_readable":
            # An idle kept-alive connection with something to read has been closed by the
            # other end (or broke): the pool must not send on it.
            connection = self._connection
            return bool(connection.buffer) or connection.eof or transport.is_closing()
        return None


class AsyncioBackend(AsyncNetworkBackend):
    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        loop = asyncio.get_running_loop()
        try:
            transport, connection = await _within(
                timeout,
                loop.create_connection(
                    _Connection,
                    host,
                    port,
                    local_addr=(local_address, 0) if local_address else None,
                    # An address that does not answer does not hold up the next (as anyio).
                    happy_eyeballs_delay=0.25,
                    interleave=1,
                ),
                httpcore.ConnectTimeout,
            )
        except OSError as exc:
            raise httpcore.ConnectError(str(exc)) from exc
        # asyncio's TCP transports set TCP_NODELAY already.
        sock = transport.get_extra_info("socket")
        for option in socket_options or ():
            sock.setsockopt(*option)
        return AsyncioStream(transport, connection)

    async def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[Any] | None = None,
    ) -> AsyncNetworkStream:
        raise httpcore.ConnectError("the upstream is reached over TCP")

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


def transport(
    ssl_context: ssl.SSLContext, limits: httpx.Limits | None = None
) -> httpx.AsyncHTTPTransport:
    """httpx's transport, with the connection pool it would make on this backend."""
    limits = limits or httpx.Limits()
    made = httpx.AsyncHTTPTransport(verify=ssl_context, limits=limits)
    # httpx builds its pool without a choice of backend; httpcore's pool takes one.
    made._pool = httpcore.AsyncConnectionPool(
        ssl_context=ssl_context,
        max_connections=limits.max_connections,
        max_keepalive_connections=limits.max_keepalive_connections,
        keepalive_expiry=limits.keepalive_expiry,
        network_backend=AsyncioBackend(),
    )
    return made
