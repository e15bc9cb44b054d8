"""The wire protocol in one place: frame builders, group names, the control messages.

Frames a socket sends (DESIGN.md "WebSocket protocol") are built here and nowhere else;
so are the names of the channel-layer groups, the `chat.frame` envelope a frame travels
in, and the two messages a generation answers on its own channel (`stop`, `snapshot`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, Protocol

from channels.layers import get_channel_layer

from conversations.render import render_markdown

# The two sockets.
CHAT_SOCKET = "ws/conversations/<uuid:id>/"
SHARE_SOCKET = "ws/shares/<str:token>/"
# Close codes (DESIGN.md): the same for a conversation that is someone else's or none.
CLOSE_NOT_LOGGED_IN = 4401
CLOSE_NOT_FOUND = 4404
# A person whose plan was taken away (policy violation): their sockets close with this.
CLOSE_NO_PLAN = 1008
# Past the cap of open sockets for one person or one conversation (on this process).
CLOSE_TOO_MANY = 4429


class Text(Protocol):
    """A reply as frames need it: a streaming Reply of a generation, or a stored Message."""

    id: Any
    seq: int
    content: str
    reasoning: str
    finish_reason: str
    limited_by: str


# --- Groups -----------------------------------------------------------------------------------
def conversation_group(conversation_id: Any) -> str:
    """Every socket watching a conversation, on every process."""
    return f"conv.{conversation_id}"


def user_group(user_id: Any) -> str:
    """Every socket of one person: closed at once when they lose access."""
    return f"user.{user_id}"


# To every socket (and reply) of a person or a login session: close with "code", or stop.
REVOKED = "user.revoked"


def share_group(token: str) -> str:
    # Share tokens are URL-safe base64: letters, digits, "-" and "_" are valid in group names.
    return f"share.{token}"


# --- Frames -----------------------------------------------------------------------------------
def encode(frame: dict[str, Any]) -> str:
    return json.dumps(frame, separators=(",", ":"), ensure_ascii=False)


def ack(client_id: str | None, message: dict[str, Any]) -> dict[str, Any]:
    return {"type": "ack", "client_id": client_id, "message": message}


def start(reply_ids: list[str], model: str) -> dict[str, Any]:
    return {"type": "start", "messages": reply_ids, "model": model}


def delta(message_id: str, seq: int, content: str, reasoning: str) -> dict[str, Any]:
    return {
        "type": "delta",
        "message": message_id,
        "seq": seq,
        "content": content,
        "reasoning": reasoning,
    }


def snapshot(reply: Text, status: str) -> dict[str, Any]:
    return {
        "type": "snapshot",
        "message": str(reply.id),
        "seq": reply.seq,
        "content": reply.content,
        "reasoning": reply.reasoning,
        "status": status,
    }


def done(
    reply: Text,
    status: str,
    *,
    usage: dict[str, int] | None = None,
    error: tuple[str, str] | None = None,
    html: str | None = None,
) -> dict[str, Any]:
    """The end of a reply, with the server's rendering of its whole text (`html`, when it
    is already made). `error` is the (code, message) it failed with; `limited_by` names the
    person's allowance when it, not the length asked, cut the reply short."""
    frame: dict[str, Any] = {
        "type": "done",
        "message": str(reply.id),
        "seq": reply.seq,
        "status": status,
        "finish_reason": reply.finish_reason or None,
        "usage": usage,
        "html": render_markdown(reply.content) if html is None else html,
    }
    if reply.finish_reason == "length" and reply.limited_by:
        frame["limited_by"] = reply.limited_by  # cut by the person's allowance, not asked
    if error is not None:
        frame["error"] = {"code": error[0], "message": error[1]}
    return frame


# --- The envelope -----------------------------------------------------------------------------
def envelope(
    frame: dict[str, Any],
    *,
    message: str | None = None,
    seq: int = 0,
    done: bool = False,
    started: list[str] | None = None,
) -> dict[str, Any]:
    """A frame as it travels through the conversation's group: encoded once, forwarded as-is
    by every socket, with what a socket needs to order it (`message`, `seq`), to know a
    reply ended (`done`) or began (`started`)."""
    event: dict[str, Any] = {"type": "chat.frame", "text": encode(frame), "message": message}
    if message is not None:
        event["seq"] = seq
    if done:
        event["done"] = True
    if started:
        event["started"] = started
    return event


# --- A generation's control channel -----------------------------------------------------------
STOP = "generation.stop"
SNAPSHOT = "generation.snapshot"
PING = "generation.ping"
PONG = "generation.pong"


async def stop(channels: Iterable[str]) -> None:
    """Stop the generations listening on `channels`: each keeps its partial text."""
    layer = get_channel_layer()
    for channel in channels:
        await layer.send(channel, {"type": STOP})


async def ask_snapshot(channel: str, message_id: str, reply_to: str) -> None:
    """Ask a generation for the exact text so far of one of its replies; it answers on
    `reply_to` with a `chat.snapshot` event."""
    await get_channel_layer().send(
        channel, {"type": SNAPSHOT, "message": message_id, "reply_to": reply_to}
    )


def snapshot_answer(frame: dict[str, Any]) -> dict[str, Any]:
    return {"type": "chat.snapshot", "snapshot": frame}
