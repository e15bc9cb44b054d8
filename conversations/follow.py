"""One socket following the replies of its conversation: resume, snapshots, silent replies.

The consumer hands it every `chat.frame` and `chat.snapshot` event and every `resume`; it
decides what reaches the client (through a ResumeBuffer, the pure part), asks a generation
for its snapshot, falls back to the database when no generation answers, and watches a
silent reply until its generation is known alive or dead.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from django.conf import settings

from conversations import frames, generation, render
from conversations.models import Message
from conversations.resume import ResumeBuffer

log = logging.getLogger(__name__)

# How long a socket waits for a live generation to answer a snapshot request before it
# serves the last checkpoint instead.
SNAPSHOT_TIMEOUT = 2.0
# A live generation whose snapshot does not come (a busy process, a lost request) is asked
# again after twice as long each time, up to this.
MAX_SNAPSHOT_WAIT = 8.0


class Follower:
    def __init__(
        self,
        send: Callable[[str], Awaitable[None]],
        fetch: Callable[[str], Awaitable[Message | None]],
        reply_to: str,
    ) -> None:
        self.send = send  # a frame's text to the client
        self.fetch = fetch  # a message of the conversation, as stored now
        self.reply_to = reply_to  # the socket's channel, where snapshots are answered
        self.buffer = ResumeBuffer()
        self.watchdog: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[None]] = set()

    def close(self) -> None:
        for task in self.tasks:
            task.cancel()

    async def resume(self, message: Message) -> None:
        """The client holds `message` up to some seq: send it whole, then keep it current."""
        message_id = str(message.id)
        if self.buffer.is_held(message_id):
            return  # a snapshot is on its way already: it answers this resume too
        if message.status == Message.Status.STREAMING and message.channel:
            self.buffer.hold(message_id)
            self._watch(message_id)
            await self._ask_snapshot(message_id, message.channel, SNAPSHOT_TIMEOUT)
        else:
            await self._send_stored(message)

    async def forward(self, event: dict[str, Any]) -> None:
        """A frame from the conversation's group."""
        for started in event.get("started", ()):
            self._watch(started)
        for text in self.buffer.forward(event, time.monotonic()):
            await self.send(text)
        message = event.get("message")
        if event.get("done") and self.buffer.is_held(message):
            # The generation has ended (and saved) while a snapshot was on its way: the
            # database has the whole reply.
            stored = await self.fetch(message)
            if stored is not None:
                await self._send_stored(stored)

    async def arrived(self, snapshot: dict[str, Any]) -> None:
        """A generation's answer to our snapshot request."""
        if self.buffer.is_held(snapshot["message"]):  # else answered from the database
            await self._deliver(snapshot)

    async def _ask_snapshot(self, message_id: str, channel: str, wait: float) -> None:
        self._spawn(self._snapshot_fallback(message_id, channel, wait))
        try:
            await frames.ask_snapshot(channel, message_id, self.reply_to)
        except Exception:  # the layer is down: the fallback serves what it can
            log.warning("could not ask a generation for its snapshot", exc_info=True)

    async def _snapshot_fallback(self, message_id: str, channel: str, wait: float) -> None:
        """No answer from the generation yet. While it answers a ping, the frames it
        published before this socket joined are in no checkpoint: hold on and ask again,
        waiting longer each time, until its snapshot comes or the reply ends (`forward`
        serves it whole). The checkpoint is served where it leaves no gap (the reply has
        ended, or the held frames follow on from it) or where nothing better can come: the
        generation does not answer, or cannot be asked. Then its lease decides."""
        await asyncio.sleep(wait)
        if not self.buffer.is_held(message_id):
            return
        message = await self.fetch(message_id)
        if message is None:
            return
        live = self.buffer.held_after(message_id, message.seq)
        streaming = message.status == Message.Status.STREAMING
        follows_on = bool(live) and live[0]["seq"] == message.seq + 1
        # Frames flowing are an answer of their own; a silent reply's generation is pinged
        # (its snapshot may only be slow, behind a busy process).
        if streaming and not follows_on and (live or await self._alive(channel)):
            if self.buffer.is_held(message_id):
                await self._ask_snapshot(message_id, channel, min(wait * 2, MAX_SNAPSHOT_WAIT))
            return
        await self._send_stored(message)
        if streaming and not live:
            self._watch(message_id)

    def _watch(self, message_id: str) -> None:
        """Keep an eye on a streaming reply: if its frames stop, is its generation alive?"""
        self.buffer.watch(message_id, time.monotonic())
        if self.watchdog is None or self.watchdog.done():
            self.watchdog = self._spawn(self._watchdog())

    async def _watchdog(self) -> None:
        # A silent generation may be thinking (its lease is renewed) or dead (its lease runs
        # out, and the reply is then shown here as interrupted, its text kept).
        interval = settings.CHAT_LEASE_SECONDS / 3
        while self.buffer.watched:
            await asyncio.sleep(interval)
            for message_id in self.buffer.silent(time.monotonic(), interval):
                message = await self.fetch(message_id)
                if message is None or message.status != Message.Status.STREAMING:
                    self.buffer.unwatch(message_id)
                    if message is not None and message_id not in self.buffer.finished:
                        await self._send_stored(message)

    async def _alive(self, channel: str) -> bool:
        try:
            return bool(await generation.alive(channel))
        except Exception:
            log.warning("could not tell whether a reply's generation lives", exc_info=True)
            return False  # the checkpoint is served, and the lease decides

    def _spawn(self, coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _send_stored(self, message: Message) -> None:
        """The reply as the database has it: a snapshot, then its held frames (streaming) or
        its `done`."""
        snapshot = frames.snapshot(message, message.status)
        if message.status == Message.Status.STREAMING:
            await self._deliver(snapshot)
            return
        self.buffer.release(snapshot["message"], snapshot["seq"])  # the stored reply is whole
        self.buffer.finish(snapshot["message"])
        error = (message.error_code, message.error_message) if message.error_code else None
        await self.send(frames.encode(snapshot))
        # The stored rendering (or, from an older renderer, a new one off the event loop).
        html = await render.html_of(message)
        done = frames.done(message, message.status, error=error, html=html)
        await self.send(frames.encode(done))

    async def _deliver(self, snapshot: dict[str, Any]) -> None:
        """The snapshot, then the held frames it does not cover: no gap, no duplicate."""
        later = self.buffer.release(snapshot["message"], snapshot["seq"])
        if later is None:
            return  # answered already (by the generation, while the database was read)
        await self.send(frames.encode(snapshot))
        for text in later:
            await self.send(text)
