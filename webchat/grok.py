"""The upstream client: the parameters it takes, one streamed request, error mapping.

The stream itself is read by webchat/sse.py (SSE framing, then chunks as typed events).

Speaks the OpenAI-compatible Chat Completion API of AceData Cloud and xAI (GROK_API.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
import urllib.request
from collections.abc import AsyncIterator
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from django.conf import settings
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from webchat import streams
from webchat.errors import UpstreamError
from webchat.sse import DONE, Event, SSEParser, parse_chunk
from webchat.text import problem

log = logging.getLogger(__name__)


# --- Request parameters ---------------------------------------------------------------------
# What the upstream takes besides model, messages and stream (GROK_API.md §1), as a model's
# defaults or a person's settings. Anything else is refused in the admin, not dropped.
PARAMS = (
    "temperature",
    "top_p",
    "max_tokens",
    "n",
    "stop",
    "frequency_penalty",
    "presence_penalty",
    "seed",
    "reasoning_effort",
)
# Reasoning models answer these with an error.
NOT_FOR_REASONING = ("stop", "frequency_penalty", "presence_penalty")


def _number(value: Any, low: float, high: float) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high


def _whole(value: Any, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= low


def _text(value: Any, most: int) -> bool:
    """Text of 1 to `most` characters that can be stored and sent: no NUL, no lone
    surrogate."""
    return isinstance(value, str) and 0 < len(value) <= most and problem(value) is None


_CHECKS: dict[str, tuple[Any, str]] = {
    "system": (
        lambda v: _text(v, settings.CHAT_MAX_MESSAGE_CHARS),
        "a text without NUL characters, of a sane length",
    ),
    "temperature": (lambda v: _number(v, 0, 2), "a number from 0 to 2"),
    "top_p": (lambda v: _number(v, 0, 1), "a number from 0 to 1"),
    "max_tokens": (lambda v: _whole(v, 1), "a whole number of at least 1"),
    "n": (lambda v: _whole(v, 1), "a whole number of at least 1"),
    "stop": (
        lambda v: (
            isinstance(v, str)
            or (isinstance(v, list) and len(v) <= 4 and all(isinstance(s, str) for s in v))
        ),
        "a text or a list of up to 4 texts",
    ),
    "frequency_penalty": (lambda v: _number(v, -2, 2), "a number from -2 to 2"),
    "presence_penalty": (lambda v: _number(v, -2, 2), "a number from -2 to 2"),
    "seed": (lambda v: _whole(v, 0) and v < 2**63, "a whole number"),
    "reasoning_effort": (lambda v: v in ("low", "high"), '"low" or "high"'),
}


def check_params(params: Any, *, reasoning: bool, effort: bool) -> list[str]:
    """What is wrong with a model's default parameters, for the admin; [] when all is well.

    `reasoning`: the model reasons (it refuses stop and the penalties); `effort`: it takes
    `reasoning_effort` (of the seeded models, only grok-3-mini does)."""
    if not isinstance(params, dict):
        return ["Default parameters must be a JSON object."]
    problems = []
    for key, value in params.items():
        if key not in _CHECKS:
            known = ", ".join(_CHECKS)
            problems.append(f"“{key}” is not a parameter the model service takes ({known}).")
        elif not _CHECKS[key][0](value):
            problems.append(f"“{key}” must be {_CHECKS[key][1]}.")
        elif reasoning and key in NOT_FOR_REASONING:
            problems.append(f"Reasoning models refuse “{key}”.")
        elif key == "reasoning_effort" and not effort:
            problems.append("Only models that stream their reasoning take “reasoning_effort”.")
    return problems


# --- HTTP errors ------------------------------------------------------------------------------
_MESSAGES = {
    "upstream_auth": gettext_lazy(
        "The model service did not accept this site's API token. "
        "An administrator needs to check it."
    ),
    "upstream_bad_request": gettext_lazy("The model service refused this request."),
    "upstream_rate_limited": gettext_lazy(
        "The model service is receiving too many requests. Please wait a moment and try again."
    ),
    "upstream_balance": gettext_lazy(
        "The model service account has run out of credit. An administrator needs to top it up."
    ),
    "upstream_unavailable": gettext_lazy(
        "The model service is not answering right now. Please try again."
    ),
    "upstream_protocol": gettext_lazy("The model service sent a reply that could not be read."),
    "context_too_long": gettext_lazy("This conversation is too long for the model."),
}


def map_http_error(status: int, body: bytes, headers: httpx.Headers | None = None) -> UpstreamError:
    """An error response (AceData's or xAI's body, or none) → a stable code for a person."""
    code, text = _error_body(body)
    lowered = f"{code} {text}".lower()
    retry_after = _retry_after(headers) if headers is not None else None

    def error(kind: str, message: str | None = None) -> UpstreamError:
        return UpstreamError(
            kind, message or str(_MESSAGES[kind]), status=status, retry_after=retry_after
        )

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
        too_long = error(
            "context_too_long",
            gettext(
                "This conversation is too long for the model. Summarize the earlier messages "
                "and try again, or pick a model with a larger context."
            ),
        )
        # "…but the request contains 150000 tokens": what the upstream counted.
        counted = re.search(r"contains\s+(\d{1,12})\s+tokens", lowered)
        too_long.prompt_tokens = int(counted.group(1)) if counted else None
        return too_long
    if status == 404:
        return error(
            "upstream_bad_request", gettext("The model service does not offer this model.")
        )
    if status == 413:
        return error(
            "upstream_bad_request", gettext("This message is too large for the model service.")
        )
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
_clients: dict[asyncio.AbstractEventLoop, httpx.AsyncClient] = {}
_tls = httpx.create_ssl_context()  # certificates loaded once, shared by every client


def _client(timeout: httpx.Timeout) -> httpx.AsyncClient:
    if urllib.request.getproxies():
        # The environment names a proxy (HTTPS_PROXY, …): httpx's own transport honours it.
        limits = httpx.Limits(max_connections=None, max_keepalive_connections=100)
        return httpx.AsyncClient(timeout=timeout, limits=limits, verify=_tls)
    return httpx.AsyncClient(timeout=timeout, transport=streams.Transport(_tls))


def client() -> httpx.AsyncClient:
    """The process's shared client (per event loop: connection pools are loop-bound)."""
    loop = asyncio.get_running_loop()
    shared = _clients.get(loop)
    if shared is None or shared.is_closed:
        for stale in [other for other in _clients if other.is_closed()]:
            del _clients[stale]
        timeout = httpx.Timeout(
            connect=settings.GROK_CONNECT_TIMEOUT,
            read=settings.GROK_READ_TIMEOUT,
            write=30.0,
            pool=settings.GROK_CONNECT_TIMEOUT,
        )
        shared = _clients[loop] = _client(timeout)
    return shared


def _retryable(error: UpstreamError) -> bool:
    return error.code in ("upstream_rate_limited", "upstream_unavailable")


async def stream_chat(payload: dict[str, Any]) -> AsyncIterator[Event]:
    """Stream one chat completion as typed events.

    Retries (429, 5xx, connect errors) happen only before the first byte of a 200 response:
    once text has streamed a retry would bill twice and show the words twice.
    """
    body = {**payload, "stream": True}
    # Uncompressed: a bounded read then bounds what is held (a compressed piece can
    # inflate to any size), and an event stream gains little from it.
    headers = {
        "accept": "text/event-stream",
        "accept-encoding": "identity",
        "content-type": "application/json",
    }
    if settings.GROK_API_TOKEN:
        headers["authorization"] = f"Bearer {settings.GROK_API_TOKEN}"
    url = f"{settings.GROK_API_BASE}/chat/completions"
    content = json.dumps(body).encode()
    attempt = 0
    resent = False
    while True:
        answered = False  # the answer's status line and headers arrived
        fresh = [False]  # this request opened a connection of its own
        sent = time.monotonic()
        try:
            async with client().stream(
                "POST", url, content=content, headers=headers, extensions={"trace": _Opened(fresh)}
            ) as response:
                answered = True
                if response.status_code != 200:
                    body = await _read_at_most(response, ERROR_BODY_MOST)
                    error = map_http_error(response.status_code, body, response.headers)
                    # The one line an upstream refusal leaves (a revoked token's 401 first).
                    log.warning("the upstream answered %d (%s)", error.status, error.code)
                    raise error
                async for event in _events(response):
                    yield event
                return
        except UpstreamError as error:
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
                raise UpstreamError(
                    "upstream_unavailable", str(_MESSAGES["upstream_unavailable"])
                ) from exc
            wait = _backoff(attempt, None) or 0.0
        except (httpx.RemoteProtocolError, httpx.ReadError, httpx.WriteError) as exc:
            # A kept-alive connection closed or reset at once, before the answer's head:
            # one the upstream closed just as it was taken from the pool (the request then
            # meets a reset). Sent again once, on a new connection, as browsers do. Not on a
            # connection opened for it, not once an answer began, not after a while: the
            # model may have worked on it, and a second request could be billed twice.
            late = time.monotonic() - sent > RESEND_WITHIN
            if answered or fresh[0] or late or resent:
                raise _broken() from exc
            resent = True
            log.info("the upstream closed the connection before answering; sending again")
            continue
        except httpx.ProtocolError as exc:
            if isinstance(exc, httpx.LocalProtocolError):
                raise _broken() from exc  # the request could not be written
            # An answer that is not HTTP: the upstream did answer, so it is not sent again.
            raise UpstreamError("upstream_protocol", str(_MESSAGES["upstream_protocol"])) from exc
        except httpx.TimeoutException as exc:
            # No answer within GROK_READ_TIMEOUT: waiting that long again would not help.
            raise UpstreamError(
                "upstream_unavailable",
                gettext("The model service did not answer in time. Please try again."),
            ) from exc
        except httpx.TransportError as exc:
            # The request may have reached the model: retrying could bill twice.
            raise _broken() from exc
        log.info("upstream attempt %d failed; retrying in %.2fs", attempt + 1, wait)
        attempt += 1
        await asyncio.sleep(wait)


class _Opened:
    """httpcore's trace of one request: notes when it opens a connection of its own."""

    __slots__ = ("fresh",)

    def __init__(self, fresh: list[bool]) -> None:
        self.fresh = fresh

    async def __call__(self, event: str, info: dict[str, Any]) -> None:
        if event.startswith("connection.connect_"):
            self.fresh[0] = True


# How soon a kept-alive connection that was already closed fails: a round trip.
RESEND_WITHIN = 0.5

# The most of an answer read whole: an error's body, or a stream answered as one JSON body
# (a few candidates of a long reply). Past it the answer is not this API's.
ERROR_BODY_MOST = 64 * 1024
WHOLE_BODY_MOST = 16 * 1024 * 1024


async def _read_at_most(response: httpx.Response, most: int) -> bytes:
    body = bytearray()
    async for piece in response.aiter_bytes():
        body += piece
        if len(body) > most:
            break
    return bytes(body[:most])


def _broken() -> UpstreamError:
    return UpstreamError(
        "upstream_unavailable",
        gettext("The connection to the model service broke. Please try again."),
    )


def _backoff(attempt: int, retry_after: float | None) -> float | None:
    """Seconds to wait before the next attempt, or None when waiting is not worth it."""
    if retry_after is not None:
        return retry_after if retry_after <= settings.GROK_RETRY_MAX_WAIT else None
    base = settings.GROK_RETRY_BASE * min(2**attempt, 8)
    return base * (0.5 + random.random() / 2)


async def _events(response: httpx.Response) -> AsyncIterator[Event]:
    content_type = response.headers.get("content-type", "")
    if "text/event-stream" not in content_type:
        if "json" not in content_type:
            raise UpstreamError("upstream_protocol", str(_MESSAGES["upstream_protocol"]))
        body = await _read_at_most(response, WHOLE_BODY_MOST + 1)
        if len(body) > WHOLE_BODY_MOST:
            raise UpstreamError("upstream_protocol", str(_MESSAGES["upstream_protocol"]))
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
        raise UpstreamError(
            "upstream_unavailable", gettext("The model service stopped sending. Please try again.")
        ) from exc
    except httpx.TransportError as exc:
        raise _broken() from exc
    except httpx.DecodingError as exc:  # compressed, though asked not to be, and broken
        raise UpstreamError("upstream_protocol", str(_MESSAGES["upstream_protocol"])) from exc
    if not done:
        raise UpstreamError(
            "upstream_protocol", gettext("The reply was cut off by the model service.")
        )
