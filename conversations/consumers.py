"""The websockets: authorize, parse frames, hand work to the generation, forward frames.

Protocol: DESIGN.md "WebSocket protocol", built in conversations/frames.py. Every frame a
client sends gets either the effect it asks for or an `error` frame; nothing a client sends
closes the socket.
"""

from __future__ import annotations

import asyncio
import logging
import math
import re
import time
import uuid
from collections import Counter
from datetime import datetime
from typing import Any

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncWebsocketConsumer
from django.conf import settings
from django.db import InterfaceError, OperationalError, connection
from django.utils import timezone, translation
from django.utils.translation import gettext

from conversations import frames, generation
from conversations.follow import Follower
from conversations.forms import (
    ContinueForm,
    RegenerateForm,
    ResumeForm,
    SendForm,
    check_frame,
    client_id_of,
    parse_frame,
)
from conversations.models import Conversation, Message
from conversations.turns import Turn, TurnRequest
from webchat import inline, lifecycle, sessions, sql
from webchat.errors import (
    ChatError,
    ConversationBusy,
    InternalError,
    InvalidRequest,
    NotFound,
    Unavailable,
)
from webchat.logs import request_id
from webchat.middleware import ZONE_COOKIE, language_of, zone_named
from webchat.throttle import waiting

log = logging.getLogger(__name__)

# The chat sockets open on this process, per person and per conversation.
_open: Counter[str] = Counter()
# What is left of each person's allowance of frames on this process, and since when (a
# share's readers: each address's): kept across their sockets, so that opening another
# does not fill it again. One that has had time to fill again is dropped once a minute.
_allowances: dict[str, tuple[float, float]] = {}
_allowances_swept = 0.0

_CLIENT_ID = re.compile(r'"client_id"\s*:\s*"([^"\\]{0,100})"')

_OWNED_CONVERSATION_SQL = "SELECT * FROM conversations_conversation WHERE id = %s AND owner_id = %s"


class ChatConsumer(AsyncWebsocketConsumer):
    conversation: Conversation | None = None
    groups_joined: tuple[str, ...] = ()
    session_key: str | None = None
    counted: tuple[str, ...] = ()
    expiry_watch: asyncio.Task[None] | None = None
    allowance_key = ""  # whose allowance of frames this socket spends (its own if none)
    commands = {
        "send": "on_send",
        "regenerate": "on_regenerate",
        "continue": "on_continue",
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
        if message["type"] != "websocket.receive":
            await handler(message)
            return
        # A client's frame: its sentences (errors, a reply's notes) in the language of its
        # page, their times in its reader's zone; a reply's task, started here, keeps them.
        # (Frames forwarded to the client carry no sentence of their own: they pay nothing
        # for this.)
        if not hasattr(self, "language"):
            self.language = language_of(self.scope)
            self.zone = zone_named(self.scope.get("cookies", {}).get(ZONE_COOKIE, ""))
        with translation.override(self.language), timezone.override(self.zone):
            await handler(message)

    async def connect(self) -> None:
        # This socket's log lines, and its replies', carry one id.
        request_id.set("ws-" + uuid.uuid4().hex[:13])
        user = self.scope.get("user")
        # Accept first, then close: only an accepted socket can carry a close code.
        if user is None or not user.is_authenticated:
            await self.refuse(frames.CLOSE_NOT_LOGGED_IN)
            return
        self.session_key = self.scope["session"].session_key
        # The session's group before its expiry is read: a logout from here on closes this
        # socket, and one before is seen by the read (a logout after the handshake's own
        # read of the session, a moment ago, would otherwise be missed).
        session_group = sessions.group(self.session_key)
        await self.channel_layer.group_add(session_group, self.channel_name)
        self.groups_joined = (session_group,)
        try:
            await self._open(user)
        except BaseException:
            # The database not answering, say: no disconnect follows, so what this socket
            # joined and counted is given back here.
            await self.disconnect(1011)
            raise

    async def _open(self, user: Any) -> None:
        conversation, expires = await inline.database(
            self._conversation, user, self.scope["url_route"]["kwargs"]["id"]
        )
        if conversation is None:
            await self.refuse(frames.CLOSE_NOT_FOUND)
            return
        if expires is None:  # the session ended between the handshake and now
            await self.refuse(frames.CLOSE_NOT_LOGGED_IN)
            return
        limits = {
            f"user.{user.pk}": settings.CHAT_MAX_SOCKETS_PER_PERSON,
            f"conv.{conversation.id}": settings.CHAT_MAX_SOCKETS_PER_CONVERSATION,
        }
        if not self.take_room(limits):
            await self.refuse(frames.CLOSE_TOO_MANY)
            return
        self.allowance_key = f"user.{user.pk}"
        await self.join(conversation, frames.user_group(user.pk))
        self.expiry_watch = asyncio.create_task(self._close_at(expires))

    def take_room(self, limits: dict[str, int]) -> bool:
        """Count this socket against each key's limit (on this process), if all have room."""
        if any(_open[key] >= most for key, most in limits.items()):
            return False
        self.counted = tuple(limits)
        _open.update(self.counted)
        return True

    async def refuse(self, code: int) -> None:
        await self.accept()
        await self.close(code=code)

    async def join(self, conversation: Conversation, *closing_groups: str) -> None:
        """Follow the conversation's frames, and the groups that can close this socket."""
        self.conversation = conversation
        self.follower = Follower(self.send_text, self._message, self.channel_name)
        # Each group kept as it is joined, for disconnect to leave (one may fail).
        for group in reversed((frames.conversation_group(conversation.id), *closing_groups)):
            await self.channel_layer.group_add(group, self.channel_name)
            self.groups_joined = (group, *self.groups_joined)
        await self.accept()
        lifecycle.sockets.add(self)

    async def websocket_disconnect(self, message: dict[str, Any]) -> None:
        # As Channels' own, less its closing of stale database connections through the
        # database's thread (a hop every send queues behind): nothing here touches the
        # database, and every call that does closes stale connections first.
        await self.disconnect(message["code"])
        raise StopConsumer()

    async def disconnect(self, code: int) -> None:
        lifecycle.sockets.discard(self)
        _open.subtract(self.counted)
        for key in self.counted:
            if _open[key] <= 0:
                del _open[key]
        self.counted = ()
        if self.expiry_watch is not None:
            self.expiry_watch.cancel()
            # Dropped, as the follower below: each holds the consumer, which holds it; left
            # as a cycle, a closed socket would wait for the collector's next full pass.
            self.expiry_watch = None
        joined, self.groups_joined = self.groups_joined, ()
        for group in joined:
            await self.channel_layer.group_discard(group, self.channel_name)
        if hasattr(self, "follower"):
            self.follower.close()
            del self.follower

    # --- Client → server ----------------------------------------------------------------------
    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None) -> None:
        if self.conversation is None:
            return
        client_id = None
        try:
            refusal = self._take_frame()
            if refusal is not None:
                # Not parsed (a large frame takes the event loop a while): its client_id,
                # if it names one plainly, is found in the text.
                named = _CLIENT_ID.search(text_data or "")
                client_id = named.group(1) if named else None
                raise refusal
            frame = parse_frame(text_data)
            client_id = client_id_of(frame)
            check_frame(frame)
            kind = frame.get("type")
            command = self.commands.get(kind) if isinstance(kind, str) else None
            if command is None:
                raise InvalidRequest(gettext("Unknown frame type."))
            await getattr(self, command)(frame, client_id)
        except ChatError as error:
            await self.send_frame(error.frame(client_id))
        except (OperationalError, InterfaceError):
            log.warning("the database is not answering", exc_info=True)
            await self.send_frame(Unavailable().frame(client_id))
        except Exception:
            # Never a crash, never a silent drop: the socket stays usable.
            log.exception("a client frame failed")
            await self.send_frame(InternalError().frame(client_id))

    def _take_frame(self) -> ChatError | None:
        """One frame from the allowance this socket spends (a token bucket): None, or the
        refusal to answer with when it is spent."""
        global _allowances_swept
        now = time.monotonic()
        rate = settings.CHAT_FRAMES_PER_SECOND
        burst = settings.CHAT_FRAME_BURST
        if now - _allowances_swept > 60:
            _allowances_swept = now
            for key, (last, _) in list(_allowances.items()):
                if (now - last) * rate >= burst:
                    del _allowances[key]
        key = self.allowance_key or self.channel_name
        last, left = _allowances.get(key, (now, burst))
        left = min(burst, left + (now - last) * rate)
        if left < 1:
            _allowances[key] = (now, left)
            seconds = math.ceil((1 - left) / rate)
            return ChatError(waiting(seconds), code="rate_limited", retry_after=seconds)
        _allowances[key] = (now, left - 1)
        return None

    async def on_send(self, frame: dict[str, Any], client_id: str | None) -> None:
        turn = await self._start(SendForm(frame).turn())
        # The ack goes to every socket on the conversation: other tabs show the message too.
        ack = frames.envelope(frames.ack(client_id, turn.user_message))
        await self.channel_layer.group_send(self.groups_joined[0], ack)

    async def _close_at(self, expires: datetime) -> None:
        """The session expires: this socket closes, and so does everything of the session
        (its other sockets, its replies). A session extended meanwhile is waited for again."""
        while True:
            await asyncio.sleep(max((expires - timezone.now()).total_seconds(), 0) + 1)
            expires = await database_sync_to_async(sessions.expires)(self.session_key)
            if expires is None:
                break
        event = {"type": frames.REVOKED, "code": frames.CLOSE_NOT_LOGGED_IN}
        await self.channel_layer.group_send(sessions.group(self.session_key), event)

    async def on_regenerate(self, frame: dict[str, Any], client_id: str | None) -> None:
        await self._start(RegenerateForm(frame).turn())

    async def on_continue(self, frame: dict[str, Any], client_id: str | None) -> None:
        await self._start(ContinueForm(frame).turn())

    async def _start(self, request: TurnRequest) -> Turn:
        if lifecycle.draining:
            raise Unavailable(gettext("This server is restarting. Please send again in a moment."))
        try:
            return await generation.start(self.conversation, request, self.session_key)
        except ConversationBusy:
            # Busy, but its reply may have ended meanwhile, or be dead (its lease run out, its
            # generation not answering): either frees the conversation.
            if not await self._free_dead_generations():
                raise
            return await generation.start(self.conversation, request, self.session_key)

    async def _free_dead_generations(self) -> bool:
        """Whether the conversation may be free now: its reply ended meanwhile, or its lease
        ran out and its generation does not answer."""
        streaming, stale = await self._streaming_channels()
        return not streaming or bool(stale and await generation.end_dead(stale))

    async def on_stop(self, frame: dict[str, Any], client_id: str | None) -> None:
        streaming, stale = await self._streaming_channels()
        if stale:
            await generation.end_dead(stale)  # no process left to stop them
        await frames.stop(streaming)

    async def on_resume(self, frame: dict[str, Any], client_id: str | None) -> None:
        message_id = ResumeForm(frame).message_id()
        message = await self._message(message_id)
        # Only a reply is followed: a question never streams (nor is rendered for it).
        if message is None or message.role != Message.Role.ASSISTANT:
            raise NotFound(gettext("That message does not exist."))
        await self.follower.resume(message)

    async def send_frame(self, frame: dict[str, Any]) -> None:
        await self.send(text_data=frames.encode(frame))

    async def send_text(self, text: str) -> None:
        await self.send(text_data=text)

    # --- Channel layer → client ---------------------------------------------------------------
    async def chat_frame(self, event: dict[str, Any]) -> None:
        await self.follower.forward(event)

    async def chat_snapshot(self, event: dict[str, Any]) -> None:
        await self.follower.arrived(event["snapshot"])

    async def user_revoked(self, event: dict[str, Any]) -> None:
        """The person lost access, or this socket's session ended: it closes now."""
        await self.close(code=event["code"])

    # --- Database -----------------------------------------------------------------------------
    def _conversation(
        self, user: Any, id: uuid.UUID
    ) -> tuple[Conversation | None, datetime | None]:
        # Written out: every socket opened asks, and the ORM's query cost twice this one.
        key = Conversation._meta.pk.get_db_prep_value(id, connection)
        found = sql.select(Conversation, _OWNED_CONVERSATION_SQL, [key, user.pk])
        conversation = found[0] if found else None
        if conversation is None:
            return None, None
        return conversation, sessions.expires(self.session_key)

    async def _message(self, message_id: str) -> Message | None:
        """The message as stored now. The conversation's replies whose lease ran out are
        ended first if their generation does not answer a ping."""
        stale, message = await self._stored(message_id)
        if stale and await generation.end_dead(stale):
            _, message = await self._stored(message_id)
        return message

    @database_sync_to_async
    def _stored(self, message_id: str) -> tuple[set[str], Message | None]:
        stale = Message.objects.stale_channels(conversation=self.conversation)
        return stale, self.conversation.messages.filter(pk=message_id).first()

    @database_sync_to_async
    def _streaming_channels(self) -> tuple[list[str], set[str]]:
        """The generations of the conversation's streaming replies, and those of them whose
        lease ran out."""
        rows = self.conversation.messages.streaming().exclude(channel="")
        leases = dict(rows.values_list("channel", "lease_until"))
        now = timezone.now()
        return sorted(leases), {c for c, lease in leases.items() if lease and lease < now}
