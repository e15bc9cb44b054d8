"""A websocket's frames go to the socket when written (webchat.writes), on real TCP
sockets, with a reactor that only records what it was asked to watch."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator
from typing import Any

import pytest
from twisted.internet import main, tcp
from twisted.internet.interfaces import IPullProducer
from zope.interface import implementer

from webchat import writes


class Reactor:
    """What Twisted's reactor is asked: which connections to tell when writable."""

    def __init__(self) -> None:
        self.writers: set[tcp.Connection] = set()

    def addWriter(self, connection: tcp.Connection) -> None:  # Twisted's names
        self.writers.add(connection)

    def removeWriter(self, connection: tcp.Connection) -> None:
        self.writers.discard(connection)

    def removeReader(self, connection: tcp.Connection) -> None:
        pass

    def callLater(self, delay: float, call: Any, *args: Any) -> None:  # an abort's close
        pass


@pytest.fixture(autouse=True)
def sends_at_once(monkeypatch: pytest.MonkeyPatch) -> None:
    # Put back afterwards whatever install() replaces.
    for name in ("write", "setTcpNoDelay", "_sends_at_once"):
        monkeypatch.setattr(
            tcp.Connection, name, getattr(tcp.Connection, name, False), raising=False
        )
    writes.install()


@pytest.fixture
def pair() -> Iterator[tuple[socket.socket, socket.socket]]:
    """The server's end and the peer's end of a loopback TCP connection."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        peer = socket.create_connection(listener.getsockname())
        ours, _ = listener.accept()
    peer.settimeout(0.5)
    yield ours, peer
    ours.close()
    peer.close()


def connection(ours: socket.socket, reactor: Reactor, *, no_delay: bool) -> tcp.Connection:
    made = tcp.Connection(ours, None, reactor)
    made.connected = True
    if no_delay:
        made.setTcpNoDelay(True)  # as autobahn asks for every websocket
    return made


def nothing_yet(peer: socket.socket) -> bool:
    peer.setblocking(False)
    try:
        peer.recv(100)
    except BlockingIOError:
        return True
    finally:
        peer.setblocking(True)
        peer.settimeout(0.5)
    return False


def drained(sock: tcp.Connection, reactor: Reactor, peer: socket.socket, size: int) -> bytes:
    """What the peer reads while the connection writes whenever it asked to, as the
    reactor would have it."""
    got = b""
    deadline = time.monotonic() + 10
    while len(got) < size and time.monotonic() < deadline:
        if sock in reactor.writers:
            sock.doWrite()
        if select.select([peer], [], [], 0.05)[0]:
            got += peer.recv(65536)
    return got


def received(peer: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        data += peer.recv(size - len(data))
    return data


def test_a_websocket_s_frame_is_on_the_socket_when_written_without_a_turn_of_the_loop(pair):
    ours, peer = pair
    reactor = Reactor()
    sock = connection(ours, reactor, no_delay=True)
    sock.write(b"frame one")
    sock.write(b"frame two")
    assert received(peer, 18) == b"frame oneframe two"
    assert reactor.writers == set()


def test_a_connection_that_did_not_ask_for_no_delay_keeps_twisted_s_buffer(pair):
    ours, peer = pair
    reactor = Reactor()
    sock = connection(ours, reactor, no_delay=False)
    sock.write(b"HTTP/1.1 200 OK\r\n\r\n")
    sock.write(b"body")
    assert reactor.writers == {sock}
    assert nothing_yet(peer)
    assert sock.doWrite() is None
    assert received(peer, 23) == b"HTTP/1.1 200 OK\r\n\r\nbody"
    assert reactor.writers == set()


def test_what_a_full_socket_did_not_take_waits_and_later_frames_queue_behind_it(pair):
    ours, peer = pair
    ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    reactor = Reactor()
    sock = connection(ours, reactor, no_delay=True)
    big = bytes(range(256)) * 4096  # 1 MiB: more than the socket's buffers hold
    sock.write(big)
    assert reactor.writers == {sock}  # the rest waits for the socket
    sock.write(b"second")  # must not overtake the rest of the first
    assert reactor.writers == {sock}
    # Once the loop has sent part of what waits, the rest is in Twisted's other buffer.
    got, deadline = b"", time.monotonic() + 10
    while not sock.offset and time.monotonic() < deadline:
        sock.doWrite()
        if select.select([peer], [], [], 0.05)[0]:
            got += peer.recv(65536)
    assert sock.offset
    while select.select([peer], [], [], 0.05)[0]:  # room in the socket again
        got += peer.recv(65536)
    sock.write(b"third")
    wanted = big + b"second" + b"third"
    assert got + drained(sock, reactor, peer, len(wanted) - len(got)) == wanted
    assert reactor.writers == set()


def test_a_write_to_a_connection_its_peer_closed_is_left_to_twisted_to_close(pair):
    ours, peer = pair
    reactor = Reactor()
    sock = connection(ours, reactor, no_delay=True)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    peer.close()  # a reset: the next send fails
    sock.write(b"frame")  # no exception here
    assert reactor.writers == {sock}
    assert sock.doWrite() is main.CONNECTION_LOST


def test_a_connection_closing_or_closed_sends_nothing_at_once(pair):
    ours, peer = pair
    reactor = Reactor()
    closing = connection(ours, reactor, no_delay=True)
    closing.loseConnection()
    closing.write(b"after the close was asked")  # goes, if at all, on Twisted's turn
    assert nothing_yet(peer)
    aborted = connection(ours, reactor, no_delay=True)
    aborted.abortConnection()
    aborted.write(b"after an abort")  # Twisted drops it
    half = connection(ours, reactor, no_delay=True)
    half.loseWriteConnection()
    half.write(b"after a half-close was asked")
    gone = connection(ours, reactor, no_delay=True)
    gone.connected = False
    gone.write(b"after the connection was lost")
    assert nothing_yet(peer)


def test_a_tls_connection_s_writes_go_through_its_tls_layer_never_in_the_clear(pair):
    ours, peer = pair

    class TLSLayer:
        written: list[bytes] = []

        def write(self, data: bytes) -> None:
            self.written.append(data)

    sock = connection(ours, Reactor(), no_delay=True)
    sock.TLS, sock.protocol = True, TLSLayer()
    sock.write(b"a secret")
    assert sock.protocol.written == [b"a secret"]
    assert nothing_yet(peer)


def test_a_pull_producer_is_asked_for_more_until_it_is_done(pair):
    """Twisted asks a pull producer for the next piece when its buffer has emptied: each
    piece must go through the buffer, or the transfer stops after the first."""
    ours, peer = pair
    reactor = Reactor()
    sock = connection(ours, reactor, no_delay=True)
    pieces = [bytes([n]) * 4096 for n in range(25)]

    @implementer(IPullProducer)
    class Pieces:
        def resumeProducing(self) -> None:
            if pieces:
                sock.write(pieces.pop(0))
            else:
                sock.unregisterProducer()

        def stopProducing(self) -> None:
            pass

    wanted = b"".join(pieces)
    sock.registerProducer(Pieces(), False)
    assert drained(sock, reactor, peer, len(wanted)) == wanted


def test_what_is_not_bytes_is_refused_as_twisted_refuses_it(pair):
    ours, peer = pair
    sock = connection(ours, Reactor(), no_delay=True)
    with pytest.raises(TypeError):
        sock.write(bytearray(b"not bytes"))
    assert nothing_yet(peer)
