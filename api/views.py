"""The API for programs: OpenAI's `GET /v1/models` and `POST /v1/chat/completions`.

Another door to the machinery the chat uses: a call is reserved in the ledger by the same
rule as a message (the person's plan, across the chat and the API, and the key's own
limits on top), streamed by the same client and settled the same way (webchat.calls). It
is not stored as a conversation, only as its row in the ledger, tagged with its key.

Each upstream delta goes out as one `chat.completion.chunk` at once; nothing is written
per chunk. A client that leaves mid-stream cancels the upstream request, and the call is
settled with what was produced. Revoking the key, deactivating its person or taking their
plan away stops the calls in flight through the channel each call listens on.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import aclosing
from datetime import timedelta
from functools import wraps
from typing import Any

from channels.layers import get_channel_layer
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse, StreamingHttpResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt
from django_ratelimit.core import get_usage

from api import errors
from api.models import ApiKey
from api.requests import Asked, read
from conversations import frames
from conversations.turns import catalog_model
from webchat import lifecycle, sse
from webchat.calls import Call
from webchat.errors import (
    ChatError,
    InvalidRequest,
    ModelUnavailable,
    NotFound,
    QuotaError,
    Unauthorized,
    Unavailable,
    UpstreamError,
)
from webchat.inline import in_pool, one_at_a_time
from webchat.models import ChatModel, Plan, UsageRecord, User
from webchat.quotas import estimate_tokens

log = logging.getLogger(__name__)

# `last_used` is written at most this often per key (not once per call).
LAST_USED_EVERY = timedelta(seconds=60)

View = Callable[..., Awaitable[HttpResponse]]


def endpoint(method: str | None) -> Callable[[View], View]:
    """An API view: no CSRF (no cookie counts, only the key), one method (None: any), and
    every refusal in OpenAI's error shape. A GET endpoint answers HEAD as GET."""
    allowed = {method, "HEAD"} if method == "GET" else {method}

    def decorate(view: View) -> View:
        @csrf_exempt
        @wraps(view)
        async def wrapped(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            if method is not None and request.method not in allowed:
                response = errors.response(
                    InvalidRequest(f"Use {method} for {request.path}."), status=405
                )
                response["Allow"] = method
                return response
            try:
                return await view(request, *args, **kwargs)
            except ChatError as error:
                return errors.response(error)

        return wrapped

    return decorate


def _count(request: HttpRequest, group: str, key: Any) -> None:
    """One more call against RATE_LIMIT_API in `group`, per `key`; QuotaError past it."""
    rate = settings.RATE_LIMITS["api"]
    usage = get_usage(request, group=group, key=key, rate=rate, increment=True)
    if usage is not None and usage["should_limit"]:
        wait = max(1, usage["time_left"])
        raise QuotaError(
            f"Too many requests with this key or from this address; try again in {wait} s.",
            code="rate_limited",
            retry_after=wait,
        )


def authenticate(request: HttpRequest) -> ApiKey:
    """The key of `Authorization: Bearer <key>`, usable now, or Unauthorized.

    Every request counts against RATE_LIMIT_API: one whose key is found against that key,
    bad bodies included; one refused here against the address it came from. So wrong keys
    cannot spend the calls of the key whose public prefix they name, nor of another key
    used from the same address (behind one proxy, say). The plan counts the calls it
    reserves."""
    try:
        key = _found(request)
    except Unauthorized:
        # (An address the server was not told, as on a Unix socket, is counted as one.)
        address = "ip" if request.META.get("REMOTE_ADDR") else (lambda group, request: "")
        _count(request, "api-refused", address)
        raise
    _count(request, "api", lambda group, request: f"key:{key.pk}")
    if key.owner_plan_id is None:
        raise errors.NoPlan()
    now = timezone.now()
    if key.last_used is None or now - key.last_used > LAST_USED_EVERY:
        ApiKey.objects.filter(pk=key.pk).update(last_used=now)
    return key


def _found(request: HttpRequest) -> ApiKey:
    """The key the request names, active and its owner's account too; else Unauthorized."""
    header = request.headers.get("Authorization", "")
    scheme, _, given = header.partition(" ")
    if not header.strip():
        raise Unauthorized(
            "No API key was given: send it as 'Authorization: Bearer <key>'. "
            "Make one on the API keys page."
        )
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized("The Authorization header must read 'Bearer <key>'.")
    key = ApiKey.objects.find(given.strip())
    if key is None:
        raise Unauthorized("Incorrect API key.")
    state = key.state(timezone.now())
    if state != "active":
        raise Unauthorized(f"This API key is {state}.")
    if not key.owner_active:
        raise Unauthorized("The account of this API key is deactivated.")
    return key


@endpoint("GET")
async def models(request: HttpRequest) -> HttpResponse:
    """The models the key may use: enabled, in the person's plan and in the key's list."""
    usable = await in_pool(_usable_models)(request)
    return JsonResponse({"object": "list", "data": [_model(m) for m in usable]})


@endpoint("GET")
async def model(request: HttpRequest, id: str) -> HttpResponse:
    """One model the key may use, as the list gives it; 404 for any other."""
    usable = await in_pool(_usable_models)(request)
    found = next((m for m in usable if m.slug == id), None)
    if found is None:
        raise ModelUnavailable(_unknown(id))
    return JsonResponse(_model(found))


@endpoint(None)
async def unknown(request: HttpRequest, path: str) -> HttpResponse:
    """Any other path under /v1/: OpenAI's 404, not a page."""
    raise NotFound(
        f"There is no {request.path} here: this API has /v1/models and /v1/chat/completions."
    )


def _unknown(slug: str) -> str:
    return (
        f"The model '{slug}' does not exist here or is not yours to use: "
        "GET /v1/models lists the ids this key may use."
    )


def _model(m: ChatModel) -> dict[str, Any]:
    return {"id": m.slug, "object": "model", "created": 0, "owned_by": "webchat"}


def _usable_models(request: HttpRequest) -> list[ChatModel]:
    key = authenticate(request)
    plan = Plan.objects.get(pk=key.owner_plan_id)
    return [m for m in ChatModel.objects.enabled() if plan.allows(m) and key.allows(m)]


@endpoint("POST")
async def chat_completions(request: HttpRequest) -> HttpResponse:
    if lifecycle.draining:
        raise Unavailable("This server is restarting. Please try again in a moment.")
    try:
        channel = await get_channel_layer().new_channel("api.")
    except Exception:
        log.warning("channel layer unavailable", exc_info=True)
        raise Unavailable() from None
    # The key and the request, then the reservation. Shielded: a client that leaves
    # meanwhile does not leave a reservation behind, it is released.
    begun = asyncio.ensure_future(_begin(request, channel))
    try:
        asked, call = await asyncio.shield(begun)
    except asyncio.CancelledError:
        await asyncio.shield(_release(begun))
        raise
    completion = Completion(asked, call, channel)
    if asked.stream:
        chunks = completion.stream()
        # The first chunk before the status: a call the upstream refuses at once is an
        # HTTP error (502, 503, 400…), as OpenAI's is, not an event in a 200 stream.
        try:
            first = await anext(chunks)
        except BaseException:
            await chunks.aclose()
            raise
        response = StreamingHttpResponse(_then(first, chunks), content_type="text/event-stream")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx passes each chunk on at once
        return response
    return JsonResponse(await completion.whole())


async def _release(begun: asyncio.Future[tuple[Asked, Call]]) -> None:
    try:
        _, call = await begun
    except Exception:
        return  # refused: nothing was reserved
    await in_pool(call.settle)("stopped")


async def _then(first: bytes, rest: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
    yield first
    async with aclosing(rest) as chunks:
        async for chunk in chunks:
            yield chunk


def _json(request: HttpRequest) -> Any:
    limit = settings.API_MAX_REQUEST_MB * 1024 * 1024
    if int(request.headers.get("Content-Length") or 0) > limit:
        raise errors.TooLarge(limit)
    raw = request.read(limit + 1)
    if len(raw) > limit:
        raise errors.TooLarge(limit)
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidRequest("The request body is not valid JSON.") from None


async def _begin(request: HttpRequest, channel: str) -> tuple[Asked, Call]:
    key, asked = await in_pool(_read)(request)
    # A person's reservations one after another, as their sockets' sends: however many
    # calls their keys make at once, at most one waits in the pool for their row.
    return asked, await one_at_a_time(key.owner_id, in_pool(_reserve), key, asked, channel)


def _read(request: HttpRequest) -> tuple[ApiKey, Asked]:
    key = authenticate(request)
    return key, read(_json(request), _catalog_model)


def _catalog_model(slug: str) -> ChatModel:
    try:
        return catalog_model(slug)
    except ModelUnavailable:
        raise ModelUnavailable(_unknown(slug)) from None


def _reserve(key: ApiKey, asked: Asked, channel: str) -> Call:
    model = asked.model
    record = UsageRecord.objects.reserve(
        user=User(pk=key.owner_id),
        chat_model=model,
        prompt_tokens=asked.estimate,
        max_tokens=asked.params["max_tokens"],
        n=asked.n,
        generation=channel,
        api_key=key,
    )
    payload = asked.payload(record.max_tokens)
    return Call(model, payload, record.id, asked.estimate, learn=not asked.images)


class Completion:
    """One call of the API, told back to its client as chunks or as one completion."""

    def __init__(self, asked: Asked, call: Call, channel: str) -> None:
        self.asked = asked
        self.call = call
        self.channel = channel
        self.id = f"chatcmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())
        self.stopped = False
        self.texts: list[list[str]] = [[] for _ in range(asked.n)]
        self.reasoning: list[list[str]] = [[] for _ in range(asked.n)]
        self.finish: list[str | None] = [None] * asked.n
        # Every chunk starts alike: only the choice and its delta differ.
        head = {"id": self.id, "object": "chat.completion.chunk", "created": self.created}
        self._head = json.dumps({**head, "model": asked.model.slug})[:-1]

    # --- Streaming ----------------------------------------------------------------------------
    async def stream(self) -> AsyncIterator[bytes]:
        """The chunks of the event stream, as each delta arrives. An error before the first
        chunk is raised; after it, it is the stream's last event."""
        started = [False] * self.asked.n
        sent = False
        try:
            async with aclosing(self._events()) as events:
                async for event in events:
                    kind = type(event)
                    if kind is sse.ContentDelta or kind is sse.ReasoningDelta:
                        i = event.index
                        if not 0 <= i < self.asked.n:
                            continue
                        field = "content" if kind is sse.ContentDelta else "reasoning_content"
                        (self.texts if kind is sse.ContentDelta else self.reasoning)[i].append(
                            event.text
                        )
                        role = "" if started[i] else '"role":"assistant",'
                        started[i] = True
                        text = json.dumps(event.text, ensure_ascii=False)
                        sent = True
                        yield self._chunk(i, f"{{{role}{json.dumps(field)}:{text}}}", "null")
                    elif kind is sse.Finish and 0 <= event.index < self.asked.n:
                        self.finish[event.index] = event.reason
                        sent = True
                        yield self._chunk(event.index, "{}", json.dumps(event.reason))
            if self.asked.include_usage:
                usage = json.dumps(self._usage())
                yield f'data: {self._head},"choices":[],"usage":{usage}}}\n\n'.encode()
        except ChatError as error:
            if not sent:
                raise
            # After the first byte the status is sent: the error is the stream's last event.
            yield f"data: {json.dumps(errors.body(error))}\n\n".encode()
        yield b"data: [DONE]\n\n"

    def _chunk(self, index: int, delta: str, finish: str) -> bytes:
        return (
            f'data: {self._head},"choices":[{{"index":{index},"delta":{delta},'
            f'"finish_reason":{finish}}}]}}\n\n'
        ).encode()

    # --- Whole ------------------------------------------------------------------------------
    async def whole(self) -> dict[str, Any]:
        async with aclosing(self._events()) as events:
            async for event in events:
                kind = type(event)
                if kind is sse.ContentDelta and 0 <= event.index < self.asked.n:
                    self.texts[event.index].append(event.text)
                elif kind is sse.ReasoningDelta and 0 <= event.index < self.asked.n:
                    self.reasoning[event.index].append(event.text)
                elif kind is sse.Finish and 0 <= event.index < self.asked.n:
                    self.finish[event.index] = event.reason
        choices = []
        for i in range(self.asked.n):
            message: dict[str, Any] = {"role": "assistant", "content": "".join(self.texts[i])}
            if self.reasoning[i]:
                message["reasoning_content"] = "".join(self.reasoning[i])
            choices.append({"index": i, "message": message, "finish_reason": self.finish[i]})
        return {
            "id": self.id,
            "object": "chat.completion",
            "created": self.created,
            "model": self.asked.model.slug,
            "choices": choices,
            "usage": self._usage(),
        }

    def _usage(self) -> dict[str, int]:
        usage = self.call.usage
        if usage is not None:
            prompt, completion = usage.prompt_tokens, usage.completion_tokens
        else:
            prompt, completion = self.asked.estimate, self._written()
        return {
            "prompt_tokens": prompt,
            "completion_tokens": completion,
            "total_tokens": prompt + completion,
        }

    def _written(self) -> int:
        written = ("".join(t) + "".join(r) for t, r in zip(self.texts, self.reasoning, strict=True))
        return estimate_tokens(text for text in written if text)

    # --- The call -----------------------------------------------------------------------------
    async def _events(self) -> AsyncIterator[sse.Event]:
        """The upstream's events, then the call settled whatever happens: the client
        leaving (this task cancelled), the key revoked (a stop on the channel), an error."""
        task = asyncio.current_task()
        assert task is not None
        listener = asyncio.create_task(self._listen(task))
        lifecycle.calls.add(task)  # a draining process waits for it
        # Unless it ends otherwise: the client left (or the server is shutting down).
        status, error = "stopped", None
        try:
            async with asyncio.timeout(settings.GROK_TOTAL_TIMEOUT):
                async with aclosing(self.call.events()) as events:
                    async for event in events:
                        yield event
            status = "complete"
        except asyncio.CancelledError:
            if lifecycle.draining:
                status = "interrupted"
            if not self.stopped or task.uncancel() > 0:
                raise
            error = Unauthorized("The call was stopped: its key, account or plan was withdrawn.")
            raise error from None
        except TimeoutError:
            status = "error"
            error = UpstreamError("upstream_unavailable", "The reply took too long.")
            raise error from None
        except UpstreamError as exc:
            status, error = "error", exc
            raise
        finally:
            listener.cancel()
            lifecycle.calls.discard(task)
            settle = in_pool(self.call.settle)
            # Shielded: a cancelled call still settles what it reserved.
            await asyncio.shield(settle(status, error, self._written()))

    async def _listen(self, task: asyncio.Task[Any]) -> None:
        """Stop the call when told to on its channel (webchat's stop and revoke messages)."""
        layer = get_channel_layer()
        while True:
            try:
                message = await layer.receive(self.channel)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning("control channel unavailable; retrying", exc_info=True)
                await asyncio.sleep(1)
                continue
            if message.get("type") in (frames.STOP, frames.REVOKED):
                self.stopped = True
                task.cancel()
                return
