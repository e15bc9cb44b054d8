"""daphne, with a stop that cuts no reply: `python -m webchat.serve` takes daphne's
arguments (`--bind`, `--port`, …, then the application).

SIGTERM drains the process (webchat.lifecycle): it stops listening, so the proxy sends new
connections to the other processes; it closes its sockets with 1012, so browsers
reconnect there and resume their replies; it waits for its replies and API calls in
flight to finish (at most SHUTDOWN_GRACE_SECONDS; an API call cut off then is settled);
then it exits. SIGINT (Ctrl+C) stops at once.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
import sys
from http import HTTPStatus
from pprint import pformat
from typing import Any

from autobahn.websocket import protocol as websocket_protocol
from daphne.cli import CommandLineInterface
from daphne.server import Server
from twisted.internet import reactor
from twisted.web import http

from webchat import lifecycle, writes
from webchat.logs import AccessLog

log = logging.getLogger("webchat.serve")


class DrainingServer(Server):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["signal_handlers"] = False
        kwargs["action_logger"] = AccessLog()
        super().__init__(*args, **kwargs)
        self.ports: list[Any] = []

    def run(self) -> None:
        reactor.callWhenRunning(self._when_running)
        # What is loaded by now (Django, the app, their modules) lives as long as the
        # process: out of the collector's sight, so a full collection, which stops the event
        # loop, no longer walks it (70 to 220 ms each under load before, 10 to 25 after).
        gc.collect()
        gc.freeze()
        super().run()

    def listen_success(self, port: Any) -> None:
        self.ports.append(port)
        super().listen_success(port)

    def _when_running(self) -> None:
        loop = asyncio.get_event_loop()
        loop.add_signal_handler(signal.SIGTERM, lambda: loop.create_task(self.drain()))
        loop.add_signal_handler(signal.SIGINT, self.stop)
        self.sweeper = loop.create_task(lifecycle.sweep_forever())

    async def drain(self) -> None:
        if lifecycle.draining:
            return
        lifecycle.draining = True
        try:
            await self._drain()
        except Exception:
            log.exception("draining failed; stopping now")
        finally:
            self.stop()

    async def _drain(self) -> None:
        from django.conf import settings

        from conversations import generation

        for port in self.ports:
            stopped = port.stopListening()
            if stopped is not None:
                await stopped.asFuture(asyncio.get_running_loop())
        sockets = list(lifecycle.sockets)
        for consumer in sockets:
            await consumer.close(code=lifecycle.CLOSE_RESTARTING)
        calls = set(lifecycle.calls)
        running = set(generation._running) | calls
        log.info(
            "draining: closed %d sockets, waiting for %d replies and API calls (at most %ss)",
            len(sockets),
            len(running),
            settings.SHUTDOWN_GRACE_SECONDS,
        )
        if running:
            _, late = await asyncio.wait(running, timeout=settings.SHUTDOWN_GRACE_SECONDS)
            if late:
                log.warning("draining: %d replies and calls still running are cut off", len(late))
            # An API call cut off settles what it used before the process goes.
            if late & calls:
                for task in late & calls:
                    task.cancel()
                await asyncio.wait(late & calls, timeout=5)


class CLI(CommandLineInterface):
    server_class = DrainingServer


def _refuse_an_unmigrated_database() -> None:
    """Without the app's tables every page would answer 500: say why and stop instead. A
    database that cannot be reached is left to /healthz, which names it."""
    import django
    from django.db import DatabaseError, connections
    from django.db.migrations.executor import MigrationExecutor

    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webchat.settings")
    django.setup()
    try:
        executor = MigrationExecutor(connections["default"])
        pending = executor.migration_plan(executor.loader.graph.leaf_nodes())
    except DatabaseError:
        return
    finally:
        connections.close_all()
    if pending:
        sys.exit(
            f"The database lacks {len(pending)} of the app's migrations: "
            "run `python manage.py migrate` first."
        )


class _Formatted:
    """pformat(value), only when a log line is written with it."""

    def __init__(self, value: Any) -> None:
        self.value = value

    def __format__(self, spec: str) -> str:
        return pformat(self.value)

    # Timings.__str__ returns the module's pformat(...) as it is: a str it must be.
    def __str__(self) -> str:
        return pformat(self.value)


def main() -> None:
    # autobahn formats its whole configuration for a debug line on every socket opened,
    # and that line is never written at the levels this app logs at: a fifth of a
    # millisecond of the event loop's a socket, now spent only if it is.
    websocket_protocol.pformat = _Formatted
    # Frames sent when written, not on the reactor's next turn (webchat.writes).
    writes.install()
    # Twisted names a status line from its own table, which lacks some codes this app
    # answers (429 came out as "429 Unknown Status"): the standard's phrases fill it in.
    for status in HTTPStatus:
        http.RESPONSES.setdefault(status.value, status.phrase.encode())
    _refuse_an_unmigrated_database()
    sys.exit(CLI().run(sys.argv[1:]))


if __name__ == "__main__":
    main()
