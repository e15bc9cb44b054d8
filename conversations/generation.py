"""One reply, from the person's message to the last word: the async pipeline of DESIGN.md.

    store the turn (conversations.turns) → upstream (webchat.grok) → coalesce deltas
    → publish to the group → checkpoint partial text → save the ending → publish `done`

A generation belongs to the process, not to a socket: closing the tab does not stop it.
It listens on its own channel for `stop` and `snapshot`, so any socket on any process can
reach it through the channel layer.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import random
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import InMemoryChannelLayer, get_channel_layer
from django.conf import settings
from django.db import InterfaceError, OperationalError, transaction
from django.utils import timezone
from django.utils.translation import gettext

from conversations import frames, render, search, turns
from conversations.models import Conversation, Message
from conversations.turns import Turn, TurnRequest
from webchat import inline, sessions, sql, sse
from webchat.calls import Call
from webchat.errors import Unavailable, UpstreamError
from webchat.quotas import estimate_completion

log = logging.getLogger(__name__)

# Every asyncio task must be referenced somewhere, or it may be collected mid-reply.
_running: set[asyncio.Task[None]] = set()
# The replies ended in this process, counted to put their text in the search index together.
_ends = itertools.count(1)

# This process's generations' channels start with this: with a channel layer of this
# process alone (the embedded default's), another process's generation cannot be pinged,
# and only its lease says whether it lives (one draining on a restart renews it).
PREFIX = f"generation.{uuid.uuid4().hex[:12]}."


# --- Starting a reply -------------------------------------------------------------------------
async def start(
    conversation: Conversation, request: TurnRequest, session_key: str | None = None
) -> Turn:
    """Store the turn (turns.begin), then start streaming its replies in this process.

    With the login session that asked for it, the reply stops when that session ends."""
    try:
        channel = await get_channel_layer().new_channel(PREFIX)
    except Exception:
        log.warning("channel layer unavailable", exc_info=True)
        raise Unavailable() from None
    try:
        turn = await inline.one_at_a_time(
            conversation.owner_id, inline.database, turns.begin, conversation, request, channel
        )
    except BaseException:  # refused (busy, over quota, …): nothing will listen on it
        await _let_go(channel)
        raise
    generation = Generation(conversation.id, turn, channel, session_key)
    task = asyncio.get_running_loop().create_task(generation.run())
    _running.add(task)
    task.add_done_callback(_running.discard)
    return turn


async def alive(channel: str, timeout: float = 1.5) -> bool | None:
    """Whether the generation listening on `channel` answers; None when no ping can reach
    it (another process's, the layer this process's alone). No answer is not proof of
    death: a busy process's ping or pong may wait longer than `timeout` to be sent."""
    layer = get_channel_layer()
    if isinstance(layer, InMemoryChannelLayer) and not channel.startswith(PREFIX):
        return None
    reply_to = await layer.new_channel("ping.")
    receiving = answered = False
    try:
        async with asyncio.timeout(timeout):
            await layer.send(channel, {"type": frames.PING, "reply_to": reply_to})
            receiving = True
            while (await layer.receive(reply_to)).get("type") != frames.PONG:
                pass
            answered = True
    except TimeoutError:
        pass
    if answered or not receiving:  # else the timeout cancelled a receive: it has let go
        await _let_go(reply_to)
    return answered


async def _let_go(channel: str) -> None:
    """A layer lets go of a channel of this process (channels_redis's pub/sub: its
    subscription) only when a receive on it is cancelled: one is. (Not on a channel whose
    receive was cancelled already: channels_redis would subscribe it again, and hang.)"""
    waiting = asyncio.ensure_future(get_channel_layer().receive(channel))
    await asyncio.sleep(0)
    waiting.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await waiting


async def end_dead(stale: set[str]) -> list[str]:
    """Of the generations on `stale`, whose replies' lease ran out, those that do not
    answer a ping (or cannot be pinged: their lease alone says), their replies still
    streaming ended: interrupted, text kept, usage settled. A live one (whose checkpoints
    the database refused for a while, say) answers, and goes on. A ping that failed (the
    layer down) says nothing: its replies wait for the next look. (A reply whose lease
    holds is never ended on a ping alone: a pong can be late behind a busy process.)"""
    channels = sorted(stale)
    answers = await asyncio.gather(*(alive(c) for c in channels), return_exceptions=True)
    dead = [c for c, lives in zip(channels, answers, strict=True) if lives in (False, None)]
    if dead:
        await database_sync_to_async(lambda: [Message.objects.interrupt(c) for c in dead])()
    return dead


# --- Running a reply --------------------------------------------------------------------------
@dataclass
class Reply:
    """One candidate's state. `content`/`seq` is what has been published, nothing more."""

    id: str
    content: str = ""
    reasoning: str = ""
    pending: str = ""
    pending_reasoning: str = ""
    seq: int = 0
    finish_reason: str = ""
    saved_seq: int = -1
    # Milliseconds of reasoning before the first word (None: it did not reason).
    thought_ms: int | None = None
    # A continued version's text so far, at the start of `content`: not its own writing.
    prefix_chars: int = 0
    # The server's rendering of the whole text, made when the reply is saved.
    html: str | None = None
    # What gave it fewer tokens than asked (turns.ALLOWANCE), or "".
    limited_by: str = ""


@dataclass
class Generation:
    conversation_id: Any
    turn: Turn
    channel: str
    session_key: str | None = None
    replies: list[Reply] = field(init=False)
    stopped: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.reply_ids = self.turn.reply_ids
        self.model = self.turn.model
        turn = self.turn
        self.call = Call(
            turn.model, turn.payload, turn.usage_record, turn.estimate, learn=not turn.images
        )
        # A continued reply first says again what it said so far (seq 1), so every socket
        # shows the new version whole.
        prefix = self.turn.prefix
        self.replies = [
            Reply(rid, pending=prefix, prefix_chars=len(prefix), limited_by=turn.limited_by)
            for rid in self.reply_ids
        ]
        self.group = frames.conversation_group(self.conversation_id)
        self.layer = get_channel_layer()
        self._dirty = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._last_flush = 0.0
        self._lease_until = 0.0
        self._stream: asyncio.Task[None] | None = None
        self._lost_frames = 0

    async def run(self) -> None:
        await self._publish(frames.start(self.reply_ids, self.model.slug), started=self.reply_ids)
        session_group = sessions.group(self.session_key) if self.session_key else None
        if session_group:
            await self._join(session_group)
        self._lease_until = time.monotonic() + settings.CHAT_LEASE_SECONDS
        helpers = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._flush_loop()),
            asyncio.create_task(self._checkpoint_loop()),
        ]
        if self.turn.prefix:
            self._dirty.set()
        self._stream = asyncio.create_task(self._consume())
        error: UpstreamError | None = None
        listening, *others = helpers
        try:
            try:
                await asyncio.wait([self._stream])
                if not self._stream.cancelled() and (exc := self._stream.exception()) is not None:
                    error = _as_upstream_error(exc)
            finally:
                if not self._stream.done():
                    self._stream.cancel()  # the process is shutting down
                for task in others:
                    task.cancel()
            await self._flush()
            await self._finish(error)
        finally:
            # Answering pings until the end is stored (its tries may take a while), and no
            # longer (this task cancelled): a generation that does not answer is taken for
            # dead and its replies ended.
            listening.cancel()
        if session_group:
            await self.layer.group_discard(session_group, self.channel)

    async def _join(self, group: str) -> None:
        try:
            await self.layer.group_add(group, self.channel)
        except Exception:
            log.warning("could not follow the login session", exc_info=True)

    async def _consume(self) -> None:
        async with asyncio.timeout(settings.GROK_TOTAL_TIMEOUT):
            if self.turn.images:
                self.call.payload = await asyncio.to_thread(turns.inline_images, self.call.payload)
            async for event in self.call.events():
                if isinstance(event, sse.ContentDelta):
                    reply = self._reply(event.index)
                    if reply is not None:
                        thought = reply.reasoning or reply.pending_reasoning
                        if thought and reply.thought_ms is None:
                            reply.thought_ms = self.call.elapsed_ms()
                        reply.pending += event.text
                        self._dirty.set()
                elif isinstance(event, sse.ReasoningDelta):
                    reply = self._reply(event.index)
                    if reply is not None:
                        reply.pending_reasoning += event.text
                        self._dirty.set()
                elif isinstance(event, sse.Finish):
                    reply = self._reply(event.index)
                    if reply is not None:
                        reply.finish_reason = event.reason

    def _reply(self, index: int) -> Reply | None:
        return self.replies[index] if 0 <= index < len(self.replies) else None

    # --- Publishing ---------------------------------------------------------------------------
    async def _publish(
        self,
        frame: dict[str, Any],
        message: str | None = None,
        seq: int = 0,
        done: bool = False,
        started: list[str] | None = None,
    ) -> None:
        event = frames.envelope(frame, message=message, seq=seq, done=done, started=started)
        try:
            await self.layer.group_send(self.group, event)
        except Exception:
            # The channel layer is down (Redis restarting): the reply goes on and is saved;
            # sockets see a gap in `seq` or a silence and recover it through resume.
            self._lost_frames += 1
            if self._lost_frames == 1:
                log.warning("channel layer unavailable; frames are being dropped", exc_info=True)

    async def _flush_loop(self) -> None:
        """The first delta goes out at once; later ones at most every CHAT_COALESCE_SECONDS."""
        window = settings.CHAT_COALESCE_SECONDS
        while True:
            await self._dirty.wait()
            delay = self._last_flush + window - time.monotonic()
            if delay > 0:
                await asyncio.sleep(delay)
            # Shielded: when the stream ends this loop is cancelled, and a frame cut off
            # halfway through a publish (a Redis round trip) would leave a gap in `seq`.
            await asyncio.shield(self._flush())

    async def _flush(self) -> None:
        # One flush at a time, so frames leave in `seq` order: the last one waits for a
        # shielded one still publishing.
        async with self._flushing:
            await self._flush_pending()

    async def _flush_pending(self) -> None:
        self._dirty.clear()
        self._last_flush = time.monotonic()
        for reply in self.replies:
            if not reply.pending and not reply.pending_reasoning:
                continue
            content, reasoning = reply.pending, reply.pending_reasoning
            reply.pending = reply.pending_reasoning = ""
            reply.content += content
            reply.reasoning += reasoning
            reply.seq += 1
            await self._publish(
                frames.delta(reply.id, reply.seq, content, reasoning), reply.id, reply.seq
            )

    # --- Control channel ----------------------------------------------------------------------
    async def _listen(self) -> None:
        while True:
            try:
                message = await self.layer.receive(self.channel)
            except Exception:
                log.warning("control channel unavailable; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            kind = message.get("type")
            if kind == frames.PING and message.get("reply_to"):
                await self._answer(message["reply_to"], {"type": frames.PONG})
            elif kind in (frames.STOP, frames.REVOKED):
                self._stop()
            elif kind == frames.SNAPSHOT:
                reply = next((r for r in self.replies if r.id == message.get("message")), None)
                if reply is not None and message.get("reply_to"):
                    snapshot = frames.snapshot(reply, Message.Status.STREAMING)
                    await self._answer(message["reply_to"], frames.snapshot_answer(snapshot))

    def _stop(self) -> None:
        self.stopped = True
        if self._stream is not None:
            self._stream.cancel()  # closes the upstream request

    async def _answer(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self.layer.send(channel, message)
        except Exception:
            log.warning("could not answer on %s", channel, exc_info=True)

    # --- Persistence --------------------------------------------------------------------------
    async def _checkpoint_loop(self) -> None:
        """Partial text reaches the database every few seconds, and the lease is renewed."""
        refused = False
        while True:
            await asyncio.sleep(settings.CHAT_CHECKPOINT_SECONDS)
            changed = any(r.seq != r.saved_seq for r in self.replies)
            lease_low = self._lease_until - time.monotonic() < settings.CHAT_LEASE_SECONDS / 2
            if changed or lease_low:
                renewed = time.monotonic() + settings.CHAT_LEASE_SECONDS
                try:
                    streaming = await self._checkpoint(briefly=refused)
                except (OperationalError, InterfaceError):
                    # The database is locked or restarting: the words stay here, the next
                    # round tries again (waiting only briefly), and so does the end.
                    if not refused:
                        log.warning("a checkpoint failed; trying again", exc_info=True)
                    refused = True
                    continue
                refused = False
                self._lease_until = renewed
                if not streaming:
                    # Ended elsewhere (taken for dead while its checkpoints were refused,
                    # or deleted with its conversation): nobody is shown the rest.
                    log.warning("a reply was ended elsewhere while being written; stopping")
                    self._stop()
                    return

    @database_sync_to_async
    def _checkpoint(self, briefly: bool = False) -> bool:
        with inline.brief_lock_wait() if briefly else contextlib.nullcontext():
            return self._write_checkpoint()

    def _write_checkpoint(self) -> bool:
        """Whether any of the replies is still streaming in the database."""
        lease = timezone.now() + timedelta(seconds=settings.CHAT_LEASE_SECONDS)
        streaming = {"status": Message.Status.STREAMING}
        written = 0
        for reply in self.replies:
            # Only a streaming row: a reply already ended elsewhere must not be revived.
            if reply.seq != reply.saved_seq:
                row = Message(
                    id=reply.id,
                    content=reply.content,
                    reasoning=reply.reasoning,
                    seq=reply.seq,
                    lease_until=lease,
                )
                written += sql.update(row, _CHECKPOINT_FIELDS, where=streaming)
                reply.saved_seq = reply.seq
            else:
                written += sql.update(
                    Message(id=reply.id, lease_until=lease), ["lease_until"], where=streaming
                )
        return written > 0

    async def _finish(self, error: UpstreamError | None) -> None:
        if self.stopped:
            status = Message.Status.STOPPED
        elif error is not None:
            status = Message.Status.ERROR
        else:
            status = Message.Status.COMPLETE
        # Rendered off the event loop and off the database's thread (math takes its time).
        for reply in self.replies:
            reply.html = await render.rendered(reply.content)
        try:
            ended = await self._save_until_stored(status, error)
        except (OperationalError, InterfaceError):
            # Refused for CHAT_SAVE_RETRY_SECONDS: the text of the last checkpoint stays,
            # and the sockets are told now rather than when the lease runs out.
            log.error("the end of a reply could not be stored", exc_info=True)
            ended = False
        if not ended:
            status = Message.Status.INTERRUPTED  # as it was ended elsewhere meanwhile
        if error is not None:
            # An operator sees a reply cut by the upstream (a fault mid-stream, a timeout).
            log.warning("a reply ended in error: %s", error.code)
            await self._publish(error.frame())
        usage = None
        if self.call.usage is not None:
            usage = {
                "prompt_tokens": self.call.usage.prompt_tokens,
                "completion_tokens": self.call.usage.completion_tokens,
            }
        failure = (error.code, error.message) if error is not None else None
        for reply in self.replies:
            done = frames.done(reply, status, usage=usage, error=failure, html=reply.html)
            await self._publish(done, reply.id, reply.seq + 1, done=True)
        if next(_ends) % (search.BATCH // 2) == 0:
            await self._index_search()

    @staticmethod
    async def _index_search() -> None:
        """The text of the last few dozen messages into the search index, in one go, once
        this reply's end is out (conversations.search.index_pending)."""
        # One step at most: the database's thread serves every socket (a search or an
        # import's end takes any backlog).
        await database_sync_to_async(search.catch_up)(search.BATCH, steps=1, wait_ms=100)

    async def _save_until_stored(self, status: str, error: UpstreamError | None) -> bool:
        """_save, tried again while the database refuses it (a long writer holding the lock
        past the busy timeout, a restart): until then the reply's words are only here."""
        delay, retried = 0.5, False
        deadline = time.monotonic() + settings.CHAT_SAVE_RETRY_SECONDS
        while True:
            try:
                return await database_sync_to_async(self._save)(status, error, retried)
            except (OperationalError, InterfaceError):
                if time.monotonic() + delay > deadline:
                    raise
                if not retried:
                    log.warning("the end of a reply was not stored; trying again", exc_info=True)
            retried = True
            await asyncio.sleep(delay * random.uniform(0.8, 1.2))
            delay = min(delay * 2, 10)

    def _save(self, status: str, error: UpstreamError | None, retried: bool = False) -> bool:
        """The ending, and the ledger's row; False when the replies were no longer
        streaming (declared dead and interrupted by another socket meanwhile, or deleted
        with their conversation): that ending stands, only the words that arrived are
        added, and the row is charged what the call used."""
        written = estimate_completion(self.replies)
        if retried:
            # A try rolled back may have moved the estimate here, not in the database.
            self.call.model.refresh_from_db(fields=["prompt_ratio"])
        with (
            inline.brief_lock_wait() if retried else contextlib.nullcontext(),
            transaction.atomic(),
        ):
            ended = self._save_replies(status, error, retried)
            if not self.call.settle(status, error, written) and not ended:
                # Declared dead and interrupted elsewhere: that ending stands, but the row
                # it settled from the last checkpoint's text gets what the call really used.
                # (Replies gone with their conversation leave a running row: settled above.)
                interrupted = Message.Status.INTERRUPTED
                self.call.settle(interrupted, error, written, was=interrupted)
        return ended

    def _save_replies(self, status: str, error: UpstreamError | None, retried: bool) -> bool:
        ended = True
        usage = self.call.usage
        for index, reply in enumerate(self.replies):
            if reply.thought_ms is None and reply.reasoning:
                reply.thought_ms = self.call.elapsed_ms()  # it only thought (stopped, or failed)
            row = Message(
                id=reply.id,
                content=reply.content,
                rendered=reply.html,
                rendered_version=render.VERSION,
                reasoning=reply.reasoning,
                reasoning_ms=reply.thought_ms,
                seq=reply.seq,
                status=status,
                finish_reason=reply.finish_reason,
                error_code=error.code if error else "",
                error_message=error.message if error else "",
                # Usage covers the whole request; with n candidates it is kept on the first.
                prompt_tokens=usage.prompt_tokens if usage and index == 0 else None,
                completion_tokens=usage.completion_tokens if usage and index == 0 else None,
                channel="",
                lease_until=None,
            )
            # Written out, as the checkpoints (the end of every reply, in the database's
            # thread); `updated` is stamped as the ORM stamps it.
            if sql.update(row, _SAVED_FIELDS, where={"status": Message.Status.STREAMING}):
                continue
            # A try before may have been stored after all (its commit's answer was lost).
            if not (retried and sql.update(row, _SAVED_FIELDS, where={"status": status})):
                sql.update(row, _TEXT_FIELDS)
                ended = False
        return ended


# What a checkpoint and the end of a reply write of each reply's row.
_CHECKPOINT_FIELDS = ("content", "reasoning", "seq", "lease_until")
_TEXT_FIELDS = ("content", "rendered", "rendered_version", "reasoning", "reasoning_ms", "seq")
_SAVED_FIELDS = (
    "content",
    "rendered",
    "rendered_version",
    "reasoning",
    "reasoning_ms",
    "seq",
    "status",
    "finish_reason",
    "error_code",
    "error_message",
    "prompt_tokens",
    "completion_tokens",
    "channel",
    "lease_until",
    "updated",
)


def _as_upstream_error(exc: BaseException) -> UpstreamError:
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, TimeoutError):
        return UpstreamError(
            "upstream_unavailable",
            gettext("The reply took too long and was cut short. Please try again."),
        )
    log.error("generation failed", exc_info=exc)
    return UpstreamError(
        "upstream_protocol", gettext("Something went wrong while writing this reply.")
    )
