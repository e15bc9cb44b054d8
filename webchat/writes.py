"""A websocket's frames sent when they are written, not on the reactor's next turn.

Twisted keeps every write in a buffer and asks the event loop to say when the socket can
take it: per frame, the socket is added to the selector's writers and taken off again,
and the loop turns once more, around one `send`. asyncio's own transports try the `send`
at once and only wait when the socket's buffer is full. A connection that asked for no
delay (`setTcpNoDelay(True)`: autobahn asks it for every websocket, and Twisted's HTTP
channel for every HTTP connection) now does the same: a write that finds nothing waiting
goes straight to the socket, and what the socket did not take waits for the loop as
before. The cost: frames written in one turn (a resumed reply's catch-up) are a `send`
each, where Twisted sent them together.

Everything else keeps Twisted's path: a TLS layer's writes, a connection closing or
aborted, a pull producer's (Twisted asks it for more when its buffer empties), and a
write behind one still waiting. `writeSequence` (daphne's HTTP headers) always buffers.
"""

from __future__ import annotations

from twisted.internet import tcp

_buffered_write = tcp.Connection.write
_set_no_delay = tcp.Connection.setTcpNoDelay


def _write(self: tcp.Connection, data: bytes) -> None:
    if (
        self._sends_at_once
        and not self.TLS
        and self.connected
        and not self.disconnecting
        and not self._aborting
        and not self._writeDisconnecting
        and self.offset == len(self.dataBuffer)  # nothing left of an earlier write
        and not self._tempDataLen
        and (self.producer is None or self.streamingProducer)
        and type(data) is bytes
    ):
        sent = self.writeSomeData(data)
        # A lost connection (an exception returned) is left to the buffered path, whose
        # turn of the loop finds it and closes the connection as Twisted always has.
        if isinstance(sent, int) and sent > 0:
            if sent == len(data):
                return
            data = data[sent:]
    _buffered_write(self, data)


def _no_delay(self: tcp.Connection, enabled: bool) -> None:
    _set_no_delay(self, enabled)
    self._sends_at_once = bool(enabled)


def install() -> None:
    tcp.Connection._sends_at_once = False
    tcp.Connection.write = _write
    tcp.Connection.setTcpNoDelay = _no_delay
