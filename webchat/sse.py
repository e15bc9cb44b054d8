"""The upstream's event stream, read: SSE framing, then each chunk as typed events.

Speaks the OpenAI-compatible streaming shape of AceData Cloud and xAI (GROK_API.md §3).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext

from webchat.errors import UpstreamError
from webchat.text import repaired

log = logging.getLogger(__name__)


# --- Typed events -----------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class ContentDelta:
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class ReasoningDelta:
    index: int
    text: str


@dataclass(frozen=True, slots=True)
class Finish:
    index: int
    reason: str


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int
    completion_tokens: int
    reasoning_tokens: int = 0


@dataclass(frozen=True, slots=True)
class Meta:
    """The stream's id and the model that answered (it may differ from the one asked for)."""

    id: str
    model: str


Event = ContentDelta | ReasoningDelta | Finish | Usage | Meta


# --- SSE --------------------------------------------------------------------------------------
# The most bytes one line, or one event's data, may hold: past it the stream is not this
# API's (a chunk is a few hundred bytes), and holding it all would grow without end.
MOST_EVENT = 1 << 20


class SSEParser:
    """Turns arbitrary slices of an event stream into the `data` of each complete event.

    Lines end in LF, CRLF or CR; a CR at the end of a slice waits for the next slice, in case
    an LF follows. Bytes are decoded per complete line, so a UTF-8 character split between
    slices is whole again before decoding. A slice that ends no line is only kept: a long
    line is joined once, when it ends, not at every slice.
    """

    __slots__ = ("_data", "_data_size", "_pending", "_size")

    def __init__(self) -> None:
        self._pending: list[bytes] = []
        self._size = 0
        self._data: list[str] = []
        self._data_size = 0

    def feed(self, chunk: bytes) -> list[str]:
        pending = self._pending
        if pending:
            if b"\n" not in chunk and b"\r" not in chunk and not pending[-1].endswith(b"\r"):
                pending.append(chunk)
                self._size += len(chunk)
                if self._size > MOST_EVENT:
                    raise _unreadable()
                return []
            buffer = b"".join(pending) + chunk
        else:
            buffer = chunk
        lines = buffer.splitlines(keepends=True)
        # An unterminated last line waits for more; so does one ending in a lone CR, which
        # may be the first half of a CRLF split across slices.
        if lines and not lines[-1].endswith(b"\n"):
            rest = lines.pop()
            if len(rest) > MOST_EVENT:
                raise _unreadable()
            self._pending, self._size = [rest], len(rest)
        elif pending:
            self._pending, self._size = [], 0
        events: list[str] = []
        for raw in lines:
            self._line(raw.rstrip(b"\r\n").decode("utf-8", "replace"), events)
        return events

    def close(self) -> list[str]:
        """The end of the stream: whatever is left counts as a last line and event."""
        events: list[str] = []
        if self._pending:
            rest = b"".join(self._pending)
            self._pending, self._size = [], 0
            self._line(rest.rstrip(b"\r\n").decode("utf-8", "replace"), events)
        self._line("", events)
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data, self._data_size = [], 0
            return
        if line.startswith(":"):
            return  # a comment, e.g. a keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
            self._data_size += len(value) + 1  # an empty line is held too
            if self._data_size > MOST_EVENT:
                raise _unreadable()
        # event:, id: and retry: carry nothing this API uses.


def _unreadable() -> UpstreamError:
    return UpstreamError(
        "upstream_protocol", gettext("The model service sent a reply that could not be read.")
    )


# --- Chunks -----------------------------------------------------------------------------------
DONE = "[DONE]"


def parse_chunk(data: str) -> list[Event]:
    """The events in one `data:` payload (not "[DONE]"). Raises UpstreamError on garbage."""
    try:
        chunk = json.loads(data)
    except ValueError:
        raise _unreadable() from None
    if not isinstance(chunk, dict):
        raise _unreadable()
    if "error" in chunk and not chunk.get("choices"):
        raise _stream_error(chunk)
    events: list[Event] = []
    if chunk.get("id") or chunk.get("model"):
        # Stored with the reply and its ledger row: storable, and as long as their columns.
        upstream_id, model = (repaired(str(chunk.get(k) or ""))[:100] for k in ("id", "model"))
        events.append(Meta(upstream_id, model))
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        index = choice.get("index") or 0
        delta = choice.get("delta") or choice.get("message") or {}
        if isinstance(delta, dict):
            reasoning = _text(delta.get("reasoning_content"), data)
            if reasoning:
                events.append(ReasoningDelta(index, reasoning))
            content = _text(delta.get("content"), data)
            if content:
                events.append(ContentDelta(index, content))
        reason = choice.get("finish_reason")
        if reason:
            events.append(Finish(index, repaired(str(reason))[:32]))
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        events.append(normalise_usage(usage))
    return events


def _text(value: Any, data: str) -> str | None:
    """A delta's text, storable: NUL and lone surrogates can only arrive as JSON escapes,
    so the text is checked only when the chunk holds one."""
    if not isinstance(value, str):
        return None
    return repaired(value) if "\\u" in data else value


def normalise_usage(usage: dict[str, Any]) -> Usage:
    """Reasoning tokens are billed as output; xAI leaves them out of completion_tokens.
    Each count within what the ledger stores (a negative or vast one could not be saved)."""
    prompt = _count(usage.get("prompt_tokens"))
    completion = _count(usage.get("completion_tokens"))
    total = _count(usage.get("total_tokens"))
    details = usage.get("completion_tokens_details") or {}
    reasoning = _count(details.get("reasoning_tokens")) if isinstance(details, dict) else 0
    if total > prompt + completion:
        completion = total - prompt
    return Usage(prompt, completion, reasoning)


MOST_TOKENS = 10**7  # more than any context window: a count past it is not one


def _count(value: Any) -> int:
    return min(max(int(value or 0), 0), MOST_TOKENS)


def _stream_error(chunk: dict[str, Any]) -> UpstreamError:
    error = chunk.get("error")
    text = error.get("message", "") if isinstance(error, dict) else str(error or "")
    log.warning("error frame inside the upstream stream: %s", str(chunk)[:300])
    if "unavailable" in str(chunk.get("code", "")).lower() or "timed out" in text.lower():
        return UpstreamError(
            "upstream_unavailable",
            gettext("The model service gave up on this reply. Please try again."),
        )
    return UpstreamError(
        "upstream_protocol", gettext("The model service stopped this reply with an error.")
    )
