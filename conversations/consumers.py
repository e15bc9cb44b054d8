"""The websocket: authorize, parse frames, hand work to the generation, forward frames.

Protocol: DESIGN.md "WebSocket protocol". Every frame a client sends gets either the
effect it asks for or an `error` frame; nothing a client sends closes the socket.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings

from conversations import generation
from conversations.generation import encode, group_name
from conversations.models import Conversation, Message, Share
from conversations.render import render_markdown
from conversations.signals import share_group, user_group
from webchat.quotas import Refused

log = logging.getLogger(__name__)

CLOSE_NOT_LOGGED_IN = 4401
CLOSE_NOT_FOUND = 4404
# How long a socket waits for a live generation to answer a snapshot request before it
# serves the last checkpoint instead.
SNAPSHOT_TIMEOUT = 2.0
# A NUL character can't be stored (PostgreSQL refuses it) and is never meant.
NUL_REFUSED = "Messages can't contain NUL characters (\\0); remove them and send again."


def _uuid(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


class ChatConsumer(AsyncWebsocketConsumer):
    conversation: Conversation | None = None
    group: str | None = None
    extra_group: str | None = None
    commands = {
        "send": "on_send",
        "regenerate": "on_regenerate",
        "stop": "on_stop",
        "resume": "on_resume",
    }

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' own dispatch first closes stale database connections, through the one
        # database thread, for every message: every streamed frame would queue behind
        # whatever that thread is doing (a send's transaction) and pay two thread hops.
        # Every database call here runs in database_sync_to_async, which does that itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def connect(self) -> None:
        user = self.scope.get("user")
        # Accept first, then close: only an accepted socket can carry a close code.
        if user is None or not user.is_authenticated:
            await self.accept()
            await self.close(code=CLOSE_NOT_LOGGED_IN)
            return
        self.conversation = await self._conversation(user, self.scope["url_route"]["kwargs"]["id"])
        if self.conversation is None:
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        await self._join(user_group(user.pk))

    async def _join(self, extra_group: str) -> None:
        """Follow the conversation's frames, and an extra group that can close this socket."""
        self.group = group_name(self.conversation.id)
        self.extra_group = extra_group
        # Frames held for a message whose snapshot is on its way.
        self.pending: dict[str, list[dict[str, Any]]] = {}
        # Messages whose `done` this socket has sent.
        self.finished: set[str] = set()
        # Streaming messages → when this socket last heard of them.
        self.watched: dict[str, float] = {}
        self.watchdog: asyncio.Task[None] | None = None
        self.tasks: set[asyncio.Task[None]] = set()
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.channel_layer.group_add(self.extra_group, self.channel_name)
        await self.accept()

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)
            await self.channel_layer.group_discard(self.extra_group, self.channel_name)
            for task in self.tasks:
                task.cancel()

    # --- Client → server ----------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.conversation is None:
            return
        frame = self._parse(text_data)
        if isinstance(frame, str):
            await self.error("invalid_request", frame)
            return
        client_id = frame.get("client_id") if isinstance(frame.get("client_id"), str) else None
        name = self.commands.get(frame.get("type"))
        if name is None:
            await self.error("invalid_request", "Unknown frame type.", client_id=client_id)
            return
        handler = getattr(self, name)
        try:
            await handler(frame, client_id)
        except Refused as refused:
            await self.error(
                refused.code, refused.message, client_id=client_id, retry_after=refused.retry_after
            )
        except Exception:
            # Never a crash, never a silent drop: the socket stays usable.
            log.exception("frame %r failed", frame.get("type"))
            await self.error(
                "busy",
                "The server could not handle this just now. Please try again.",
                client_id=client_id,
                retry_after=5,
            )

    @staticmethod
    def _parse(text: str | None) -> dict[str, Any] | str:
        """The frame as a dict, or what is wrong with it."""
        if text is None:
            return "Frames must be JSON text, not binary."
        if len(text) > settings.CHAT_MAX_MESSAGE_CHARS * 6 + 4096:
            return "This frame is too large."
        try:
            frame = json.loads(text)
        except ValueError:
            return "This frame is not valid JSON."
        if not isinstance(frame, dict):
            return "A frame must be a JSON object."
        return frame

    async def on_send(self, frame: dict[str, Any], client_id: str | None) -> None:
        content = frame.get("content")
        if not isinstance(content, str) or not content.strip():
            raise Refused("invalid_request", "Write a message first.")
        if "\x00" in content:
            raise Refused("invalid_request", NUL_REFUSED)
        if len(content) > settings.CHAT_MAX_MESSAGE_CHARS:
            raise Refused(
                "invalid_request",
                f"This message is too long ({len(content):,} characters; the limit is "
                f"{settings.CHAT_MAX_MESSAGE_CHARS:,}).",
            )
        use_leaf = "parent" not in frame
        parent = frame.get("parent")
        if parent is not None and _uuid(parent) is None:
            raise Refused("invalid_request", "`parent` must be a message id or null.")
        model, params, n = self._model_params(frame)
        options = {
            "content": content,
            "parent_id": _uuid(parent),
            "use_leaf": use_leaf,
            "model": model,
            "params": params,
            "n": n or 1,
        }
        try:
            turn = await generation.send(self.conversation, **options)
        except Refused as refused:
            if refused.code != "busy" or not await self._free_dead_generations():
                raise
            turn = await generation.send(self.conversation, **options)
        # The ack goes to every socket on the conversation: other tabs show the message too.
        ack = {"type": "ack", "client_id": client_id, "message": turn.user_message}
        await self.channel_layer.group_send(
            self.group, {"type": "chat.frame", "text": encode(ack), "message": None}
        )

    async def on_regenerate(self, frame: dict[str, Any], client_id: str | None) -> None:
        message_id = _uuid(frame.get("message"))
        if message_id is None:
            raise Refused("invalid_request", "`message` must be a message id.")
        model, params, n = self._model_params(frame)
        options = {"message_id": message_id, "model": model, "params": params, "n": n}
        try:
            await generation.regenerate(self.conversation, **options)
        except Refused as refused:
            if refused.code != "busy" or not await self._free_dead_generations():
                raise
            await generation.regenerate(self.conversation, **options)

    async def _free_dead_generations(self) -> bool:
        """Busy, but is the reply's process alive? A dead one frees the conversation at once."""
        freed = False
        for channel in await self._streaming_channels():
            if not await generation.alive(channel):
                await database_sync_to_async(Message.objects.interrupt)(channel)
                freed = True
        return freed

    @staticmethod
    def _model_params(frame: dict[str, Any]) -> tuple[str | None, dict[str, Any], int | None]:
        model = frame.get("model")
        if model is not None and (not isinstance(model, str) or not model):
            raise Refused("invalid_request", "`model` must be a model name.")
        raw = frame.get("params")
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise Refused("invalid_request", "`params` must be an object.")
        params: dict[str, Any] = {}
        temperature = raw.get("temperature")
        if temperature is not None:
            if not _number(temperature) or not 0 <= temperature <= 2:
                raise Refused("invalid_request", "Temperature must be a number from 0 to 2.")
            params["temperature"] = float(temperature)
        max_tokens = raw.get("max_tokens")
        if max_tokens is not None:
            if not _integer(max_tokens) or max_tokens < 1:
                raise Refused("invalid_request", "max_tokens must be a positive whole number.")
            params["max_tokens"] = max_tokens
        n = raw.get("n")
        if n is not None and (not _integer(n) or not 1 <= n <= settings.CHAT_MAX_CANDIDATES):
            raise Refused(
                "invalid_request",
                f"n must be a whole number from 1 to {settings.CHAT_MAX_CANDIDATES}.",
            )
        system = raw.get("system")
        if system is not None:
            if not isinstance(system, str) or len(system) > settings.CHAT_MAX_MESSAGE_CHARS:
                raise Refused("invalid_request", "The system prompt must be text of a sane length.")
            if "\x00" in system:
                raise Refused("invalid_request", NUL_REFUSED)
            params["system"] = system
        return model, params, n

    async def on_stop(self, frame: dict[str, Any], client_id: str | None) -> None:
        for channel in await self._streaming_channels():
            await self.channel_layer.send(channel, {"type": "generation.stop"})

    async def on_resume(self, frame: dict[str, Any], client_id: str | None) -> None:
        message_id = _uuid(frame.get("message"))
        if message_id is None:
            raise Refused("invalid_request", "`message` must be a message id.")
        message = await self._message(message_id)
        if message is None:
            raise Refused("not_found", "That message does not exist.")
        if message.status == Message.Status.STREAMING and message.channel:
            self.pending[message_id] = []
            self._watch(message_id)
            await self._request_snapshot(message_id, message.channel)
        else:
            await self._send_stored(message)

    async def _request_snapshot(self, message_id: str, channel: str, attempt: int = 0) -> None:
        await self.channel_layer.send(
            channel,
            {"type": "generation.snapshot", "message": message_id, "reply_to": self.channel_name},
        )
        self._spawn(self._snapshot_fallback(message_id, channel, attempt))

    async def _snapshot_fallback(self, message_id: str, channel: str, attempt: int) -> None:
        """No answer from the generation: its process may be gone. Serve the checkpoint."""
        await asyncio.sleep(SNAPSHOT_TIMEOUT)
        buffered = self.pending.get(message_id)
        if buffered is None:
            return
        message = await self._message(message_id)
        if message is None:
            return
        live = [f for f in buffered if f["seq"] > message.seq]
        streaming = message.status == Message.Status.STREAMING
        if streaming and live and live[0]["seq"] > message.seq + 1 and attempt < 3:
            # Frames are flowing, so the generation lives; the checkpoint would leave a gap.
            await self._request_snapshot(message_id, channel, attempt + 1)
            return
        await self._send_stored(message)
        if streaming and not live:
            self._watch(message_id)

    def _watch(self, message_id: str) -> None:
        """Keep an eye on a streaming reply: if its frames stop, is its generation alive?"""
        self.watched[message_id] = time.monotonic()
        if self.watchdog is None or self.watchdog.done():
            self.watchdog = self._spawn(self._watchdog())

    async def _watchdog(self) -> None:
        # A silent generation may be thinking (its lease is renewed) or dead (its lease runs
        # out, and the reply is then shown here as interrupted, its text kept).
        interval = settings.CHAT_LEASE_SECONDS / 3
        while self.watched:
            await asyncio.sleep(interval)
            for message_id, seen in list(self.watched.items()):
                if time.monotonic() - seen < interval:
                    continue
                message = await self._message(message_id)
                if message is None or message.status != Message.Status.STREAMING:
                    self.watched.pop(message_id, None)
                    if message is not None and message_id not in self.finished:
                        await self._send_stored(message)

    def _spawn(self, coroutine: Any) -> asyncio.Task[None]:
        task = asyncio.create_task(coroutine)
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return task

    async def _send_stored(self, message: Message) -> None:
        buffered = self.pending.pop(str(message.id), [])
        snapshot = {
            "type": "snapshot",
            "message": str(message.id),
            "seq": message.seq,
            "content": message.content,
            "reasoning": message.reasoning,
            "status": message.status,
        }
        if message.status == Message.Status.STREAMING:
            await self._deliver(snapshot, buffered)
            return
        await self.send(text_data=encode(snapshot))
        done = {
            "type": "done",
            "message": str(message.id),
            "seq": message.seq,
            "status": message.status,
            "finish_reason": message.finish_reason or None,
            "usage": None,
            "html": render_markdown(message.content),
        }
        if message.error_code:
            done["error"] = {"code": message.error_code, "message": message.error_message}
        self.finished.add(str(message.id))
        await self.send(text_data=encode(done))

    async def error(
        self,
        code: str,
        message: str,
        *,
        client_id: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        frame: dict[str, Any] = {"type": "error", "code": code, "message": message}
        if client_id is not None:
            frame["client_id"] = client_id
        if retry_after is not None:
            frame["retry_after"] = retry_after
        await self.send(text_data=encode(frame))

    # --- Channel layer → client ---------------------------------------------------------------
    async def chat_frame(self, event: dict[str, Any]) -> None:
        message = event.get("message")
        for started in event.get("started", ()):
            self._watch(started)
        if message in self.watched:
            if event.get("done"):
                del self.watched[message]
            else:
                self.watched[message] = time.monotonic()
        if message is not None and message in self.pending:
            # A snapshot is on its way: hold frames until it arrives, then send only newer ones.
            self.pending[message].append(event)
            if event.get("done"):
                # The generation has ended (and saved): the database has the whole reply.
                stored = await self._message(message)
                if stored is not None:
                    await self._send_stored(stored)
            return
        if event.get("done"):
            if message in self.finished:
                return
            self.finished.add(message)
        await self.send(text_data=event["text"])

    async def user_revoked(self, event: dict[str, Any]) -> None:
        """The person was deactivated or lost their plan: this socket ends now."""
        await self.close(code=event["code"])

    async def chat_snapshot(self, event: dict[str, Any]) -> None:
        buffered = self.pending.pop(event["snapshot"]["message"], None)
        if buffered is not None:  # else answered already, from the checkpoint
            await self._deliver(event["snapshot"], buffered)

    async def _deliver(self, snapshot: dict[str, Any], buffered: list[dict[str, Any]]) -> None:
        """The snapshot, then the held frames it does not cover: no gap, no duplicate."""
        await self.send(text_data=encode(snapshot))
        for event in buffered:
            if event["seq"] > snapshot["seq"]:
                await self.send(text_data=event["text"])

    # --- Database -----------------------------------------------------------------------------
    @database_sync_to_async
    def _conversation(self, user: Any, raw_id: str) -> Conversation | None:
        return Conversation.objects.owned_by(user).filter(pk=raw_id).first()

    @database_sync_to_async
    def _message(self, message_id: str) -> Message | None:
        Message.objects.expire_stale(conversation=self.conversation)
        return self.conversation.messages.filter(pk=message_id).first()

    @database_sync_to_async
    def _streaming_channels(self) -> list[str]:
        Message.objects.expire_stale(conversation=self.conversation)
        rows = self.conversation.messages.streaming().exclude(channel="")
        return sorted(set(rows.values_list("channel", flat=True)))


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class ShareConsumer(ChatConsumer):
    """Read-only: anyone with a live share link follows its last reply until it ends.

    `/ws/shares/<token>/` accepts only `resume` for the shared leaf, forwards only that
    message's frames, and is closed with 4404 when the link is revoked.
    """

    commands = {"resume": "on_resume"}

    async def connect(self) -> None:
        share = await self._share(self.scope["url_route"]["kwargs"]["token"])
        if share is None:
            await self.accept()
            await self.close(code=CLOSE_NOT_FOUND)
            return
        self.conversation = share.conversation
        self.leaf = str(share.leaf_id)
        await self._join(share_group(share.token))

    async def on_resume(self, frame: dict[str, Any], client_id: str | None) -> None:
        if frame.get("message") != self.leaf:
            raise Refused("not_found", "That message is not part of this share.")
        await super().on_resume(frame, client_id)

    async def chat_frame(self, event: dict[str, Any]) -> None:
        if event.get("message") == self.leaf:
            await super().chat_frame(event)

    async def share_revoked(self, event: dict[str, Any]) -> None:
        await self.close(code=CLOSE_NOT_FOUND)

    @database_sync_to_async
    def _share(self, token: str) -> Share | None:
        return Share.objects.active().select_related("conversation").filter(token=token).first()
