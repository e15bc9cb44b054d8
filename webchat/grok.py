"""The upstream client: one request, an incremental SSE parser, typed events, error mapping.

Speaks the OpenAI-compatible Chat Completion API of AceData Cloud and xAI (GROK_API.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone

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


class GrokError(Exception):
    """An upstream failure, mapped to one of the stable error codes of DESIGN.md."""

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status
        self.retry_after = retry_after

    def __repr__(self) -> str:
        return f"GrokError({self.code!r}, {self.message!r}, status={self.status})"


# --- SSE --------------------------------------------------------------------------------------
class SSEParser:
    """Turns arbitrary slices of an event stream into the `data` of each complete event.

    Lines end in LF, CRLF or CR; a CR at the end of a slice waits for the next slice, in case
    an LF follows. Bytes are decoded per complete line, so a UTF-8 character split between
    slices is whole again before decoding.
    """

    __slots__ = ("_buffer", "_data")

    def __init__(self) -> None:
        self._buffer = b""
        self._data: list[str] = []

    def feed(self, chunk: bytes) -> list[str]:
        buffer = self._buffer + chunk if self._buffer else chunk
        lines = buffer.splitlines(keepends=True)
        # An unterminated last line waits for more; so does one ending in a lone CR, which
        # may be the first half of a CRLF split across slices.
        self._buffer = lines.pop() if lines and not lines[-1].endswith(b"\n") else b""
        events: list[str] = []
        for raw in lines:
            self._line(raw.rstrip(b"\r\n").decode("utf-8", "replace"), events)
        return events

    def close(self) -> list[str]:
        """The end of the stream: whatever is left counts as a last line and event."""
        events: list[str] = []
        if self._buffer:
            self._line(self._buffer.rstrip(b"\r\n").decode("utf-8", "replace"), events)
            self._buffer = b""
        self._line("", events)
        return events

    def _line(self, line: str, events: list[str]) -> None:
        if not line:
            if self._data:
                events.append("\n".join(self._data))
                self._data = []
            return
        if line.startswith(":"):
            return  # a comment, e.g. a keep-alive
        field, _, value = line.partition(":")
        if field == "data":
            self._data.append(value[1:] if value.startswith(" ") else value)
        # event:, id: and retry: carry nothing this API uses.


# --- Chunks -----------------------------------------------------------------------------------
DONE = "[DONE]"


def parse_chunk(data: str) -> list[Event]:
    """The events in one `data:` payload (not "[DONE]"). Raises GrokError on garbage."""
    try:
        chunk = json.loads(data)
    except ValueError:
        raise GrokError(
            "upstream_protocol", "The model service sent a reply that could not be read."
        ) from None
    if not isinstance(chunk, dict):
        raise GrokError(
            "upstream_protocol", "The model service sent a reply that could not be read."
        )
    if "error" in chunk and not chunk.get("choices"):
        raise _stream_error(chunk)
    events: list[Event] = []
    if chunk.get("id") or chunk.get("model"):
        events.append(Meta(str(chunk.get("id") or ""), str(chunk.get("model") or "")))
    for choice in chunk.get("choices") or ():
        if not isinstance(choice, dict):
            continue
        index = choice.get("index") or 0
        delta = choice.get("delta") or choice.get("message") or {}
        if isinstance(delta, dict):
            reasoning = delta.get("reasoning_content")
            if reasoning:
                events.append(ReasoningDelta(index, reasoning))
            content = delta.get("content")
            if content:
                events.append(ContentDelta(index, content))
        reason = choice.get("finish_reason")
        if reason:
            events.append(Finish(index, reason))
    usage = chunk.get("usage")
    if isinstance(usage, dict):
        events.append(normalise_usage(usage))
    return events


def normalise_usage(usage: dict[str, Any]) -> Usage:
    """Reasoning tokens are billed as output; xAI leaves them out of completion_tokens."""
    prompt = int(usage.get("prompt_tokens") or 0)
    completion = int(usage.get("completion_tokens") or 0)
    total = int(usage.get("total_tokens") or 0)
    details = usage.get("completion_tokens_details") or {}
    reasoning = int(details.get("reasoning_tokens") or 0) if isinstance(details, dict) else 0
    if total > prompt + completion:
        completion = total - prompt
    return Usage(prompt, completion, reasoning)


def _stream_error(chunk: dict[str, Any]) -> GrokError:
    error = chunk.get("error")
    text = error.get("message", "") if isinstance(error, dict) else str(error or "")
    log.warning("error frame inside the upstream stream: %s", str(chunk)[:300])
    if "unavailable" in str(chunk.get("code", "")).lower() or "timed out" in text.lower():
        return GrokError(
            "upstream_unavailable", "The model service gave up on this reply. Please try again."
        )
    return GrokError("upstream_protocol", "The model service stopped this reply with an error.")


# --- HTTP errors ------------------------------------------------------------------------------
_MESSAGES = {
    "upstream_auth": "The model service did not accept this site's API token. "
    "An administrator needs to check it.",
    "upstream_bad_request": "The model service refused this request.",
    "upstream_rate_limited": "The model service is receiving too many requests. "
    "Please wait a moment and try again.",
    "upstream_balance": "The model service account has run out of credit. "
    "An administrator needs to top it up.",
    "upstream_unavailable": "The model service is not answering right now. Please try again.",
    "upstream_protocol": "The model service sent a reply that could not be read.",
}


def map_http_error(status: int, body: bytes, headers: httpx.Headers | None = None) -> GrokError:
    """An error response (AceData's or xAI's body, or none) → a stable code for a person."""
    code, text = _error_body(body)
    lowered = f"{code} {text}".lower()
    retry_after = _retry_after(headers) if headers is not None else None

    def error(kind: str, message: str | None = None) -> GrokError:
        return GrokError(kind, message or _MESSAGES[kind], status=status, retry_after=retry_after)

    if status in (401,) or code in (
        "invalid_token",
        "token_expired",
        "token_mismatched",
        "no_token",
    ):
        return error("upstream_auth")
    if status == 400 and ("api key" in lowered or code == "disabled"):
        return error("upstream_auth")
    if status == 403:
        if code == "used_up" or "credit" in lowered or "balance" in lowered:
            return error("upstream_balance")
        if "success" in _error_keys(body):
            return error(
                "upstream_bad_request", "The model service declined to answer this message."
            )
        return error("upstream_auth")
    if status == 429:
        if any(
            w in lowered for w in ("credit", "spending limit", "exhausted", "used_up", "balance")
        ):
            return error("upstream_balance")
        return error("upstream_rate_limited")
    if status == 408 or status >= 500:
        return error("upstream_unavailable")
    if "maximum prompt length" in lowered or ("context" in lowered and "length" in lowered):
        return error(
            "upstream_bad_request",
            "This conversation is too long for the model. Start a new one or pick a model "
            "with a larger context.",
        )
    if status == 404:
        return error("upstream_bad_request", "The model service does not offer this model.")
    if status == 413:
        return error("upstream_bad_request", "This message is too large for the model service.")
    return error("upstream_bad_request")


def _error_keys(body: bytes) -> set[str]:
    try:
        data = json.loads(body)
    except ValueError:
        return set()
    return set(data) if isinstance(data, dict) else set()


def _error_body(body: bytes) -> tuple[str, str]:
    """(code, message) from AceData's {"error": {"code","message"}} or xAI's {"code","error"}."""
    try:
        data = json.loads(body)
    except ValueError:
        return "", ""
    if not isinstance(data, dict):
        return "", ""
    error = data.get("error")
    if isinstance(error, dict):
        return str(error.get("code") or ""), str(error.get("message") or "")
    return str(data.get("code") or ""), str(error or data.get("message") or "")


def _retry_after(headers: httpx.Headers) -> float | None:
    raw = headers.get("retry-after")
    if not raw:
        return None
    try:
        return max(0.0, float(raw))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, (when - timezone.now()).total_seconds())


# --- The client -------------------------------------------------------------------------------
# httpcore's pool checks every one of its connections (a system call each) whenever a
# request starts or ends, so one pool serving 200 streams spent a quarter to a third of the
# event loop there. Requests go to the least busy of several smaller pools instead (the first when
# all are idle, so a quiet process reuses one kept-alive connection).
POOLS = 16
_clients: dict[asyncio.AbstractEventLoop, list[httpx.AsyncClient]] = {}
_busy: Counter[httpx.AsyncClient] = Counter()
_tls = httpx.create_ssl_context()  # certificates loaded once, shared by every pool


def client() -> httpx.AsyncClient:
    """The least busy of the process's shared clients (per event loop: connection pools are
    loop-bound)."""
    loop = asyncio.get_running_loop()
    pools = _clients.get(loop)
    if pools is None or pools[0].is_closed:
        for stale in [other for other in _clients if other.is_closed()]:
            del _clients[stale]
        timeout = httpx.Timeout(
            connect=settings.GROK_CONNECT_TIMEOUT,
            read=settings.GROK_READ_TIMEOUT,
            write=30.0,
            pool=settings.GROK_CONNECT_TIMEOUT,
        )
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=100 // POOLS)
        pools = [
            httpx.AsyncClient(timeout=timeout, limits=limits, verify=_tls) for _ in range(POOLS)
        ]
        _clients[loop] = pools
    return min(pools, key=_busy.__getitem__)


def _retryable(error: GrokError) -> bool:
    return error.code in ("upstream_rate_limited", "upstream_unavailable")


async def stream_chat(payload: dict[str, Any]) -> AsyncIterator[Event]:
    """Stream one chat completion as typed events.

    Retries (429, 5xx, connect errors) happen only before the first byte of a 200 response:
    once text has streamed a retry would bill twice and show the words twice.
    """
    body = {**payload, "stream": True}
    headers = {"accept": "text/event-stream", "content-type": "application/json"}
    if settings.GROK_API_TOKEN:
        headers["authorization"] = f"Bearer {settings.GROK_API_TOKEN}"
    url = f"{settings.GROK_API_BASE}/chat/completions"
    content = json.dumps(body).encode()
    attempt = 0
    while True:
        shared = client()
        _busy[shared] += 1
        try:
            async with shared.stream("POST", url, content=content, headers=headers) as response:
                if response.status_code != 200:
                    raise map_http_error(
                        response.status_code, await response.aread(), response.headers
                    )
                async for event in _events(response):
                    yield event
                return
        except GrokError as error:
            # Errors raised after a 200 carry no status: never retried.
            if (
                error.status is None
                or not _retryable(error)
                or attempt >= settings.GROK_MAX_RETRIES
            ):
                raise
            wait = _backoff(attempt, error.retry_after)
            if wait is None:
                raise
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            if attempt >= settings.GROK_MAX_RETRIES:
                raise GrokError("upstream_unavailable", _MESSAGES["upstream_unavailable"]) from exc
            wait = _backoff(attempt, None) or 0.0
        except httpx.TimeoutException as exc:
            # No answer within GROK_READ_TIMEOUT: waiting that long again would not help.
            raise GrokError(
                "upstream_unavailable",
                "The model service did not answer in time. Please try again.",
            ) from exc
        except httpx.TransportError as exc:
            # The request may have reached the model: retrying could bill twice.
            raise GrokError(
                "upstream_unavailable",
                "The connection to the model service broke. Please try again.",
            ) from exc
        finally:
            _busy[shared] -= 1
        log.info("upstream attempt %d failed; retrying in %.2fs", attempt + 1, wait)
        attempt += 1
        await asyncio.sleep(wait)


def _backoff(attempt: int, retry_after: float | None) -> float | None:
    """Seconds to wait before the next attempt, or None when waiting is not worth it."""
    if retry_after is not None:
        return retry_after if retry_after <= settings.GROK_RETRY_MAX_WAIT else None
    base = settings.GROK_RETRY_BASE * min(2**attempt, 8)
    return base * (0.5 + random.random() / 2)


async def _events(response: httpx.Response) -> AsyncIterator[Event]:
    content_type = response.headers.get("content-type", "")
    if "text/event-stream" not in content_type:
        body = await response.aread()
        if "json" not in content_type:
            raise GrokError("upstream_protocol", _MESSAGES["upstream_protocol"])
        # Some proxies answer a stream request with one whole JSON body.
        for event in parse_chunk(body.decode("utf-8", "replace")):
            yield event
        return
    parser = SSEParser()
    done = False
    try:
        async for raw in response.aiter_bytes():
            for data in parser.feed(raw):
                if data == DONE:
                    done = True
                    continue
                for event in parse_chunk(data):
                    yield event
        for data in parser.close():
            if data == DONE:
                done = True
                continue
            for event in parse_chunk(data):
                yield event
    except httpx.ReadTimeout as exc:
        raise GrokError(
            "upstream_unavailable", "The model service stopped sending. Please try again."
        ) from exc
    except httpx.TransportError as exc:
        raise GrokError(
            "upstream_unavailable", "The connection to the model service broke. Please try again."
        ) from exc
    if not done:
        raise GrokError("upstream_protocol", "The reply was cut off by the model service.")
