"""A TCP proxy that can play a server restart: every connection through it is cut, and new
ones are refused for a while, as a restarting PostgreSQL does to its clients. It can also
lose what clients send, as a connection dying under a message does."""

from __future__ import annotations

import contextlib
import socket
import threading

from tests.live import free_port


class Proxy:
    def __init__(self, target_port: int, target_host: str = "127.0.0.1") -> None:
        self.target = (target_host, target_port)
        self.port = free_port()
        self._listener: socket.socket | None = None
        self._open: set[socket.socket] = set()
        self._lock = threading.Lock()
        self._swallowing = threading.Event()
        self._delivered = threading.Condition()
        self.delivered = 0  # bytes the clients sent that reached the target

    def start(self) -> None:
        listener = socket.create_server(("127.0.0.1", self.port))
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def swallow(self, on: bool = True) -> None:
        """What clients send is lost from now on (until swallow(False))."""
        if on:
            self._swallowing.set()
        else:
            self._swallowing.clear()

    def wait_delivered(self, more_than: int, timeout: float = 10) -> None:
        """Until the clients' bytes delivered to the target exceed `more_than`."""
        with self._delivered:
            if not self._delivered.wait_for(lambda: self.delivered > more_than, timeout):
                raise TimeoutError("nothing more reached the target")

    def stop(self) -> None:
        if self._listener is not None:
            # shutdown() first: close() alone leaves a blocked accept() listening.
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            self._listener.close()
            self._listener = None
        with self._lock:
            for conn in self._open:
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
                conn.close()
            self._open.clear()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return  # closed by stop()
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._open.update((client, upstream))
            for source, sink, lossy in ((client, upstream, True), (upstream, client, False)):
                threading.Thread(target=self._pump, args=(source, sink, lossy), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, lossy: bool) -> None:
        # A connection that lost data loses the rest too: what follows a lost frame is never
        # delivered after it, whatever swallow() says by then.
        lost = False
        try:
            while data := source.recv(65536):
                lost = lost or (lossy and self._swallowing.is_set())
                if not lost:
                    sink.sendall(data)
                    if lossy:  # from a client
                        with self._delivered:
                            self.delivered += len(data)
                            self._delivered.notify_all()
        except OSError:
            pass
        finally:
            for conn in (source, sink):
                with contextlib.suppress(OSError):
                    conn.shutdown(socket.SHUT_RDWR)
