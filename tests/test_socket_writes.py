"""A websocket's frames go to the socket when written (webchat.writes), on real TCP
sockets, with a reactor that only records what it was asked to watch."""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest
from twisted.internet import main, tcp

from webchat import writes


class Reactor:
    """What Twisted's reactor is asked: which connections to tell when writable."""

    def __init__(self) -> None:
        self.writers: set[tcp.Connection] = set()

    def addWriter(self, connection: tcp.Connection) -> None:  # Twisted's names
        self.writers.add(connection)

    def removeWriter(self, connection: tcp.Connection) -> None:
        self.writers.discard(connection)


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
    """daphne's HTTP answers: headers and body written apart go out together."""
    ours, peer = pair
    reactor = Reactor()
    sock = connection(ours, reactor, no_delay=False)
    sock.write(b"HTTP/1.1 200 OK\r\n\r\n")
    sock.write(b"body")
    assert reactor.writers == {sock}
    peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        peer.recv(100)
    peer.setblocking(True)
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
    sock.write(b"next frame")  # must not overtake the rest of the first
    assert reactor.writers == {sock}
    wanted = big + b"next frame"
    got = b""
    deadline = time.monotonic() + 10
    while len(got) < len(wanted) and time.monotonic() < deadline:
        # As the reactor would: write when the socket may take more, read what came.
        if sock in reactor.writers:
            sock.doWrite()
        if select.select([peer], [], [], 0.05)[0]:
            got += peer.recv(65536)
    assert got == wanted
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
