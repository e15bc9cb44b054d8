"""One reply, from the person's message to the last word: the async pipeline of DESIGN.md.

    store the turn → upstream (webchat.grok) → coalesce deltas → publish to the group
    → checkpoint partial text → save the ending → publish `done`

A generation belongs to the process, not to a socket: closing the tab does not stop it.
It listens on its own channel for `stop` and `snapshot`, so any socket on any process can
reach it through the channel layer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from conversations.models import Busy, Conversation, Message, Said
from conversations.render import render_markdown
from webchat import grok
from webchat.models import ChatModel, UsageRecord
from webchat.quotas import Refused, estimate_tokens

log = logging.getLogger(__name__)

# Every asyncio task must be referenced somewhere, or it may be collected mid-reply.
_running: set[asyncio.Task[None]] = set()


def group_name(conversation_id: Any) -> str:
    return f"conv.{conversation_id}"


def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


# --- Starting a reply -------------------------------------------------------------------------
@dataclass
class Turn:
    """What the consumer needs to announce a turn and the generation to run it."""

    user_message: dict[str, Any] | None
    reply_ids: list[str]
    model: ChatModel
    payload: dict[str, Any]
    usage_record: int


def _params(model: ChatModel, requested: dict[str, Any], n: int) -> dict[str, Any]:
    params = {**model.default_params, **{k: v for k, v in requested.items() if v is not None}}
    if "max_tokens" in params:
        params["max_tokens"] = min(int(params["max_tokens"]), model.max_output_tokens)
    params["n"] = n
    return params


def _payload(model: ChatModel, path: list[Said], params: dict[str, Any]) -> dict[str, Any]:
    messages: list[dict[str, str]] = []
    if params.get("system"):
        messages.append({"role": "system", "content": params["system"]})
    for message in path:
        if message.role == Message.Role.ASSISTANT and not message.content:
            continue  # a failed reply has nothing to say
        messages.append({"role": message.role, "content": message.content})
    payload: dict[str, Any] = {"model": model.upstream_id, "messages": messages}
    for key in ("temperature", "max_tokens", "n"):
        if params.get(key) is not None:
            payload[key] = params[key]
    return payload


def _catalog_model(slug: str) -> ChatModel:
    try:
        return ChatModel.objects.enabled().get(slug=slug)
    except ChatModel.DoesNotExist:
        raise Refused("model_unavailable", f"The model “{slug}” is not available.") from None


def _begin(
    conversation: Conversation,
    *,
    history: list[Said],
    content: str | None,
    model: ChatModel,
    params: dict[str, Any],
    n: int,
    channel: str,
) -> Turn:
    """Reserve quota and store the turn (a new message, or new replies to the last of
    `history`) at once."""
    # The parent by its id alone: no query.
    parent = Message(id=history[-1].id, conversation=conversation) if history else None
    texts = [m.content for m in history] + [content or "", params.get("system") or ""]
    with transaction.atomic():
        # A QuotaError is a Refused: it reaches the person as an `error` frame.
        record = UsageRecord.objects.reserve(
            user=conversation.owner,
            chat_model=model,
            prompt_tokens=estimate_tokens(texts),
            max_tokens=int(params.get("max_tokens") or model.max_output_tokens),
            n=n,
            conversation=conversation.id,
            generation=channel,
        )
        # What was reserved bounds what is asked: max_tokens always goes upstream.
        params = {**params, "max_tokens": record.max_tokens}
        options = {"model": model.slug, "params": params, "n": n, "channel": channel}
        try:
            if content is not None:
                user_message, replies = conversation.add_turn(
                    content=content, parent=parent, **options
                )
                history.append(Said(user_message.id, user_message.role, content))
            else:
                assert parent is not None
                user_message, replies = (
                    None,
                    conversation.add_regeneration(parent=parent, **options),
                )
        except Busy:
            raise Refused(
                "busy", "A reply is still being written here. Stop it or wait for it."
            ) from None
    return Turn(
        user_message.as_dict() if user_message else None,
        [str(r.id) for r in replies],
        model,
        _payload(model, history, params),
        record.id,
    )


@database_sync_to_async
def _store_send(
    conversation: Conversation,
    content: str,
    parent_id: str | None,
    model_slug: str | None,
    requested: dict[str, Any],
    n: int,
    channel: str,
    use_leaf: bool,
) -> Turn:
    conversation.refresh_from_db(fields=["current_leaf", "title"])
    model = _catalog_model(model_slug or _default_model_slug())
    # The thread the new message goes under: after the leaf on screen, or a chosen parent.
    if use_leaf:
        history = conversation.history(conversation.current_leaf_id)
    elif parent_id is not None:
        history = conversation.history(uuid.UUID(parent_id))
        if not history:
            raise Refused("not_found", "The message you replied to does not exist.")
    else:
        history = []
    params = _params(model, requested, n)
    return _begin(
        conversation,
        history=history,
        content=content,
        model=model,
        params=params,
        n=n,
        channel=channel,
    )


@database_sync_to_async
def _store_regenerate(
    conversation: Conversation,
    message_id: str,
    model_slug: str | None,
    requested: dict[str, Any],
    n: int | None,
    channel: str,
) -> Turn:
    conversation.refresh_from_db()
    target = conversation.messages.filter(pk=message_id).first()
    if target is None:
        raise Refused("not_found", "That message does not exist.")
    parent = target if target.role == Message.Role.USER else target.parent
    if parent is None:
        raise Refused("invalid_request", "That message has nothing to answer.")
    model = _catalog_model(model_slug or target.model or _default_model_slug())
    base = {k: v for k, v in (target.params or {}).items() if k != "n"}
    count = n or int((target.params or {}).get("n") or 1)
    params = _params(model, {**base, **requested}, count)
    return _begin(
        conversation,
        history=conversation.history(parent.id),
        content=None,
        model=model,
        params=params,
        n=count,
        channel=channel,
    )


def _default_model_slug() -> str:
    model = ChatModel.objects.enabled().first()
    if model is None:
        raise Refused("model_unavailable", "No model is enabled on this site.")
    return model.slug


async def send(
    conversation: Conversation,
    *,
    content: str,
    parent_id: str | None,
    use_leaf: bool,
    model: str | None,
    params: dict[str, Any],
    n: int,
) -> Turn:
    """Store the person's message and its streaming replies, then start the generation."""
    channel = await _new_channel()
    turn = await _store_send(conversation, content, parent_id, model, params, n, channel, use_leaf)
    _spawn(Generation(conversation.id, turn, channel))
    return turn


async def regenerate(
    conversation: Conversation,
    *,
    message_id: str,
    model: str | None,
    params: dict[str, Any],
    n: int | None,
) -> Turn:
    channel = await _new_channel()
    turn = await _store_regenerate(conversation, message_id, model, params, n, channel)
    _spawn(Generation(conversation.id, turn, channel))
    return turn


async def _new_channel() -> str:
    try:
        return await get_channel_layer().new_channel("generation.")
    except Exception:
        log.warning("channel layer unavailable", exc_info=True)
        raise Refused(
            "busy", "The chat service is restarting. Please try again in a moment.", retry_after=5
        ) from None


async def alive(channel: str, timeout: float = 1.5) -> bool:
    """Whether the generation listening on `channel` answers (its process may have died)."""
    layer = get_channel_layer()
    reply_to = await layer.new_channel("ping.")
    await layer.send(channel, {"type": "generation.ping", "reply_to": reply_to})
    try:
        async with asyncio.timeout(timeout):
            while (await layer.receive(reply_to)).get("type") != "generation.pong":
                pass
    except TimeoutError:
        return False
    return True


def _spawn(generation: Generation) -> None:
    task = asyncio.get_running_loop().create_task(generation.run())
    _running.add(task)
    task.add_done_callback(_running.discard)


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


@dataclass
class Generation:
    conversation_id: Any
    turn: Turn
    channel: str
    replies: list[Reply] = field(init=False)
    usage: grok.Usage | None = field(default=None, init=False)
    stopped: bool = field(default=False, init=False)

    def __post_init__(self) -> None:
        self.reply_ids = self.turn.reply_ids
        self.model = self.turn.model
        self.payload = self.turn.payload
        self.replies = [Reply(rid) for rid in self.reply_ids]
        self._started = time.monotonic()
        self._first_delta: float | None = None
        self._upstream_id = ""
        self.group = group_name(self.conversation_id)
        self.layer = get_channel_layer()
        self._dirty = asyncio.Event()
        self._flushing = asyncio.Lock()
        self._last_flush = 0.0
        self._lease_until = 0.0
        self._stream: asyncio.Task[None] | None = None
        self._lost_frames = 0

    async def run(self) -> None:
        await self._publish(
            {"type": "start", "messages": self.reply_ids, "model": self.model.slug},
            started=self.reply_ids,
        )
        self._lease_until = time.monotonic() + settings.CHAT_LEASE_SECONDS
        helpers = [
            asyncio.create_task(self._listen()),
            asyncio.create_task(self._flush_loop()),
            asyncio.create_task(self._checkpoint_loop()),
        ]
        self._stream = asyncio.create_task(self._consume())
        error: grok.GrokError | None = None
        try:
            await asyncio.wait([self._stream])
            if not self._stream.cancelled() and (exc := self._stream.exception()) is not None:
                error = _as_grok_error(exc)
        finally:
            if not self._stream.done():
                self._stream.cancel()  # the process is shutting down
            for task in helpers:
                task.cancel()
        await self._flush()
        await self._finish(error)

    async def _consume(self) -> None:
        async with asyncio.timeout(settings.GROK_TOTAL_TIMEOUT):
            async for event in grok.stream_chat(self.payload):
                if (
                    isinstance(event, grok.ContentDelta | grok.ReasoningDelta)
                    and self._first_delta is None
                ):
                    self._first_delta = time.monotonic()
                if isinstance(event, grok.Meta):
                    self._upstream_id = self._upstream_id or event.id
                elif isinstance(event, grok.ContentDelta):
                    reply = self._reply(event.index)
                    if reply is not None:
                        reply.pending += event.text
                        self._dirty.set()
                elif isinstance(event, grok.ReasoningDelta):
                    reply = self._reply(event.index)
                    if reply is not None:
                        reply.pending_reasoning += event.text
                        self._dirty.set()
                elif isinstance(event, grok.Finish):
                    reply = self._reply(event.index)
                    if reply is not None:
                        reply.finish_reason = event.reason
                elif isinstance(event, grok.Usage):
                    self.usage = event  # the last one is the total; never add them up

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
        # Encoded once here, forwarded as-is by every socket in the group.
        event: dict[str, Any] = {"type": "chat.frame", "text": encode(frame), "message": message}
        if message is not None:
            event["seq"] = seq
        if done:
            event["done"] = True
        if started:
            event["started"] = started
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
            frame = {
                "type": "delta",
                "message": reply.id,
                "seq": reply.seq,
                "content": content,
                "reasoning": reasoning,
            }
            await self._publish(frame, reply.id, reply.seq)

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
            if kind == "generation.ping" and message.get("reply_to"):
                await self._answer(message["reply_to"], {"type": "generation.pong"})
            elif kind == "generation.stop":
                self.stopped = True
                if self._stream is not None:
                    self._stream.cancel()  # closes the upstream request
            elif kind == "generation.snapshot":
                reply = next((r for r in self.replies if r.id == message.get("message")), None)
                if reply is not None and message.get("reply_to"):
                    snapshot = {
                        "type": "snapshot",
                        "message": reply.id,
                        "seq": reply.seq,
                        "content": reply.content,
                        "reasoning": reply.reasoning,
                        "status": Message.Status.STREAMING,
                    }
                    await self._answer(
                        message["reply_to"], {"type": "chat.snapshot", "snapshot": snapshot}
                    )

    async def _answer(self, channel: str, message: dict[str, Any]) -> None:
        try:
            await self.layer.send(channel, message)
        except Exception:
            log.warning("could not answer on %s", channel, exc_info=True)

    # --- Persistence --------------------------------------------------------------------------
    async def _checkpoint_loop(self) -> None:
        """Partial text reaches the database every few seconds, and the lease is renewed."""
        while True:
            await asyncio.sleep(settings.CHAT_CHECKPOINT_SECONDS)
            changed = any(r.seq != r.saved_seq for r in self.replies)
            lease_low = self._lease_until - time.monotonic() < settings.CHAT_LEASE_SECONDS / 2
            if changed or lease_low:
                self._lease_until = time.monotonic() + settings.CHAT_LEASE_SECONDS
                await self._checkpoint()

    @database_sync_to_async
    def _checkpoint(self) -> None:
        lease = timezone.now() + timedelta(seconds=settings.CHAT_LEASE_SECONDS)
        for reply in self.replies:
            # Only a streaming row: a reply already ended elsewhere must not be revived.
            rows = Message.objects.filter(pk=reply.id, status=Message.Status.STREAMING)
            if reply.seq != reply.saved_seq:
                rows.update(
                    content=reply.content,
                    reasoning=reply.reasoning,
                    seq=reply.seq,
                    lease_until=lease,
                )
                reply.saved_seq = reply.seq
            else:
                rows.update(lease_until=lease)

    async def _finish(self, error: grok.GrokError | None) -> None:
        if self.stopped:
            status = Message.Status.STOPPED
        elif error is not None:
            status = Message.Status.ERROR
        else:
            status = Message.Status.COMPLETE
        await self._save(status, error)
        if error is not None:
            frame: dict[str, Any] = {"type": "error", "code": error.code, "message": error.message}
            if error.retry_after is not None:
                frame["retry_after"] = round(error.retry_after)
            await self._publish(frame)
        usage = None
        if self.usage is not None:
            usage = {
                "prompt_tokens": self.usage.prompt_tokens,
                "completion_tokens": self.usage.completion_tokens,
            }
        for reply in self.replies:
            done: dict[str, Any] = {
                "type": "done",
                "message": reply.id,
                "seq": reply.seq,
                "status": status,
                "finish_reason": reply.finish_reason or None,
                "usage": usage,
                "html": render_markdown(reply.content),
            }
            if error is not None:
                done["error"] = {"code": error.code, "message": error.message}
            await self._publish(done, reply.id, reply.seq + 1, done=True)

    @database_sync_to_async
    def _save(self, status: str, error: grok.GrokError | None) -> None:
        with transaction.atomic():
            self._save_replies(status, error)
            self._settle(status, error)

    def _settle(self, status: str, error: grok.GrokError | None) -> None:
        usage = self.usage
        if usage is not None:
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
        else:
            # Stopped or failed before the upstream said: count what arrived.
            prompt = None
            completion = estimate_tokens(
                [r.content + r.reasoning for r in self.replies if r.content]
            )
        first = self._first_delta
        UsageRecord.objects.settle(
            self.turn.usage_record,
            status=status,
            prompt_tokens=prompt,
            completion_tokens=completion,
            upstream_id=self._upstream_id,
            error_code=error.code if error else "",
            ttft_ms=round((first - self._started) * 1000) if first else None,
            duration_ms=round((time.monotonic() - self._started) * 1000),
        )

    def _save_replies(self, status: str, error: grok.GrokError | None) -> None:
        for index, reply in enumerate(self.replies):
            usage = self.usage
            Message.objects.filter(pk=reply.id).update(
                content=reply.content,
                reasoning=reply.reasoning,
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
                updated=timezone.now(),
            )


def _as_grok_error(exc: BaseException) -> grok.GrokError:
    if isinstance(exc, grok.GrokError):
        return exc
    if isinstance(exc, TimeoutError):
        return grok.GrokError(
            "upstream_unavailable", "The reply took too long and was cut short. Please try again."
        )
    log.error("generation failed", exc_info=exc)
    return grok.GrokError("upstream_protocol", "Something went wrong while writing this reply.")
