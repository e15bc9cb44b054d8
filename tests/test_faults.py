"""Every upstream fault of GROK_API.md, through the socket: what the person sees, and that
their message, the partial reply and the ledger row are all kept.

The simulator produces each fault on request (`[sim error=…]`, `[sim fault=…]`); the reply
runs through the whole ASGI stack, the generation and the real HTTP client.
"""

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async

from conversations.models import Conversation, Message
from tests.helpers import open_socket, send, text_of
from webchat import grok
from webchat.models import ChatModel, UsageRecord, User
from webchat.quotas import estimate_tokens
from webchat.simulator import ERRORS, FAULTS

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("finish_generations"),
]

# What each fault becomes for the person: the stable code of the error frame.
EXPECTED = {
    # HTTP errors before any text (the retryable ones after their retries ran out)
    "error=400": "upstream_bad_request",
    "error=400-mismatch": "upstream_auth",
    "error=400-not-implemented": "upstream_bad_request",
    "error=401": "upstream_auth",
    "error=403": "upstream_balance",
    "error=403-moderation": "upstream_bad_request",
    "error=404": "upstream_bad_request",
    "error=413": "upstream_bad_request",
    "error=429": "upstream_rate_limited",
    "error=429-retry": "upstream_rate_limited",
    "error=429-retry-long": "upstream_rate_limited",
    "error=500": "upstream_unavailable",
    "error=503": "upstream_unavailable",
    "error=xai-400-key": "upstream_auth",
    "error=xai-400-context": "context_too_long",
    "error=xai-401": "upstream_auth",
    "error=xai-403": "upstream_auth",
    "error=xai-404": "upstream_bad_request",
    "error=xai-410": "upstream_bad_request",
    "error=xai-422": "upstream_bad_request",
    "error=xai-429": "upstream_rate_limited",
    "error=xai-429-credit": "upstream_balance",
    "error=html-502": "upstream_unavailable",
    # faults of the connection or the stream
    "fault=reset": "upstream_unavailable",
    "fault=stall-first stall=5": "upstream_unavailable",
    "fault=html": "upstream_protocol",
    "fault=stall-mid stall=5": "upstream_unavailable",
    "fault=cut": "upstream_protocol",
    "fault=drop": "upstream_unavailable",
    "fault=malformed": "upstream_protocol",
    "fault=error-frame": "upstream_unavailable",
}
MID_STREAM = {"stall-mid", "cut", "drop", "malformed", "error-frame"}


def test_every_fault_of_the_simulator_is_in_the_table() -> None:
    errors = {key.split()[0].removeprefix("error=") for key in EXPECTED if "error=" in key}
    faults = {key.split()[0].removeprefix("fault=") for key in EXPECTED if "fault=" in key}
    assert errors == set(ERRORS)
    assert faults == set(FAULTS)


@database_sync_to_async
def stored(conversation: Conversation) -> tuple[list[Message], list[UsageRecord]]:
    return list(conversation.messages.order_by("created")), list(
        UsageRecord.objects.filter(conversation=conversation.id)
    )


@pytest.fixture
def short_read_timeout(settings: Any) -> Iterator[None]:
    """Stalls are cut after half a second; the shared clients are made anew to know it."""
    settings.GROK_READ_TIMEOUT = 0.5
    grok._clients.clear()
    yield
    grok._clients.clear()


@pytest.mark.usefixtures("short_read_timeout")
@pytest.mark.parametrize("directive", list(EXPECTED))
async def test_a_fault_is_explained_and_loses_nothing(
    alice: User, conversation: Conversation, directive: str
) -> None:
    code = EXPECTED[directive]
    socket, _ = await open_socket(alice, conversation.id)
    content = f"please answer [sim {directive} words=20]"
    start = await send(socket, content)
    (reply_id,) = start["messages"]
    frames = await socket.receive_until("done", timeout=20)

    # What the person sees: a named error with a sentence for a person, then the end.
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == code
    assert len(error["message"]) > 20 and "sim" not in error["message"]
    if directive == "error=429-retry-long":
        assert error["retry_after"] == 120
    done = frames[-1]
    assert done["status"] == "error" and done["error"]["code"] == code
    seen = text_of(frames, reply_id)

    # What is kept: the message, the reply with whatever text arrived, one settled row.
    (question, reply), (record,) = await stored(conversation)
    assert question.content == content
    assert reply.status == Message.Status.ERROR and reply.error_code == code
    assert reply.error_message == error["message"]
    assert reply.content == seen
    if directive.split()[0].removeprefix("fault=") in MID_STREAM:
        assert len(seen.split()) >= 5  # the first half arrived and was kept
    else:
        assert seen == ""
    assert record.status == "error" and record.error_code == code
    assert record.completion_tokens == (estimate_tokens([seen]) if seen else 0)
    assert record.settled is not None
    await socket.close()


async def test_transient_upstream_failures_are_retried_into_one_whole_reply(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "again [sim fail=2 words=12]")
    frames = await socket.receive_until("done")
    assert not [f for f in frames if f["type"] == "error"]
    assert frames[-1]["status"] == "complete"
    (_, reply), (record,) = await stored(conversation)
    assert len(reply.content.split()) == 12 == len(text_of(frames, start["messages"][0]).split())
    assert record.status == "complete" and record.completion_tokens == 12
    await socket.close()


async def test_after_a_fault_the_conversation_goes_on(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "first [sim fault=drop words=20]")
    await socket.receive_until("done")
    await send(socket, "second [sim words=5]")
    frames = await socket.receive_until("done")
    assert frames[-1]["status"] == "complete"
    messages, records = await stored(conversation)
    assert [m.role for m in messages] == ["user", "assistant", "user", "assistant"]
    assert sorted(r.status for r in records) == ["complete", "error"]
    await socket.close()


# An upstream whose stream is well formed but whose fields are not storable as they come:
# an id and a finish reason with NUL and a lone surrogate, too long for their columns, and
# usage counts below zero and past any column.
HOSTILE_FIELDS = (
    b'data: {"id":"a\\u0000b\\ud800' + b"i" * 200 + b'","model":"m\\u0000",'
    b'"choices":[{"index":0,"delta":{"content":"hello there"}}]}\n\n'
    b'data: {"choices":[{"index":0,"delta":{},"finish_reason":"st\\u0000op' + b"x" * 100 + b'"}],'
    b'"usage":{"prompt_tokens":-5,"completion_tokens":99999999999999,"total_tokens":-1}}\n\n'
    b"data: [DONE]\n\n"
)


async def test_an_upstream_with_unstorable_fields_still_ends_its_reply_whole(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    async def hostile(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        length = int(re.search(rb"(?i)content-length: *(\d+)", head).group(1))
        await reader.readexactly(length)
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\nconnection: close\r\n\r\n"
            + HOSTILE_FIELDS
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(hostile, "127.0.0.1", 0)
    settings.GROK_API_BASE = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    grok._clients.clear()
    try:
        socket, _ = await open_socket(alice, conversation.id)
        start = await send(socket, "hello")
        frames = await socket.receive_until("done", timeout=20)
    finally:
        server.close()
        grok._clients.clear()
    done = frames[-1]
    assert done["status"] == "complete" and text_of(frames, start["messages"][0]) == "hello there"
    (_, reply), (record,) = await stored(conversation)
    assert reply.status == Message.Status.COMPLETE and reply.content == "hello there"
    assert "\x00" not in reply.finish_reason and len(reply.finish_reason) <= 32
    assert record.status == "complete" and record.settled is not None
    assert len(record.upstream_id) <= 100 and "\x00" not in record.upstream_id
    # Counts past the model's window are the upstream's mistake: charged up to the window.
    window = (await ChatModel.objects.aget(slug="grok-3")).context_window
    assert record.prompt_tokens == 0 and record.completion_tokens == window
    await socket.close()
