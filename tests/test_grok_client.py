"""webchat.grok against the simulator over real loopback HTTP: events, errors, retries."""

import asyncio
import socket
import struct
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from webchat import grok, sse
from webchat.errors import UpstreamError
from webchat.simulator import ERRORS, Simulator


async def collect(content: str, model: str = "grok-3", **extra: Any) -> list[sse.Event]:
    payload = {"model": model, "messages": [{"role": "user", "content": content}], **extra}
    return [event async for event in grok.stream_chat(payload)]


async def failure(content: str, **extra: Any) -> UpstreamError:
    with pytest.raises(UpstreamError) as caught:
        await collect(content, **extra)
    return caught.value


@pytest.fixture
def fresh_clients() -> Iterator[None]:
    """The shared clients made anew before and after: a test's timeout is read when they are
    made, and a connection its upstream closed after a whole response must not be handed on
    (the loop may not have read that close yet when the next test sends on it)."""
    grok._clients.clear()
    yield
    grok._clients.clear()


def text(events: list[sse.Event], index: int = 0) -> str:
    return "".join(e.text for e in events if isinstance(e, sse.ContentDelta) and e.index == index)


async def test_it_streams_words_and_the_real_usage() -> None:
    events = await collect("hello [sim words=12]")
    deltas = [e for e in events if isinstance(e, sse.ContentDelta)]
    assert len(deltas) == 12
    assert [e for e in events if isinstance(e, sse.Finish)] == [sse.Finish(0, "stop")]
    usage = [e for e in events if isinstance(e, sse.Usage)][-1]
    assert usage.completion_tokens == 12


async def test_n_candidates_arrive_apart() -> None:
    events = await collect("two please [sim words=8]", n=2)
    assert text(events, 0) and text(events, 1)
    assert text(events, 0) != text(events, 1)


async def test_grok_3_mini_streams_reasoning_first() -> None:
    events = await collect("why [sim words=5]", model="grok-3-mini")
    kinds = [type(e) for e in events if isinstance(e, sse.ContentDelta | sse.ReasoningDelta)]
    assert kinds[0] is sse.ReasoningDelta
    assert kinds[-1] is sse.ContentDelta


async def test_max_tokens_ends_with_length() -> None:
    events = await collect("long [sim words=50]", max_tokens=5)
    assert sse.Finish(0, "length") in events
    assert len([e for e in events if isinstance(e, sse.ContentDelta)]) == 5


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("400", "upstream_bad_request"),
        ("400-mismatch", "upstream_auth"),
        ("400-not-implemented", "upstream_bad_request"),
        ("401", "upstream_auth"),
        ("403", "upstream_balance"),
        ("403-moderation", "upstream_bad_request"),
        ("404", "upstream_bad_request"),
        ("413", "upstream_bad_request"),
        ("429-retry-long", "upstream_rate_limited"),
        ("xai-400-key", "upstream_auth"),
        ("xai-400-context", "context_too_long"),
        ("xai-401", "upstream_auth"),
        ("xai-403", "upstream_auth"),
        ("xai-404", "upstream_bad_request"),
        ("xai-410", "upstream_bad_request"),
        ("xai-422", "upstream_bad_request"),
        ("xai-429-credit", "upstream_balance"),
    ],
)
async def test_each_http_error_maps_to_a_stable_code(
    kind: str, code: str, caplog: pytest.LogCaptureFixture
) -> None:
    error = await failure(f"hi [sim error={kind}]")
    assert error.code == code
    assert error.status == ERRORS[kind][0]
    assert "sim" not in error.message and len(error.message) > 20
    # Each refusal leaves a line in the log (the HTTP client's own is off by default).
    assert f"the upstream answered {error.status} ({code})" in caplog.text


def test_every_simulated_error_is_covered() -> None:
    covered = {
        "400", "400-mismatch", "400-not-implemented", "401", "403", "403-moderation", "404",
        "413", "429-retry-long", "xai-400-key", "xai-400-context", "xai-401", "xai-403",
        "xai-404", "xai-410", "xai-422", "xai-429-credit",
        # retried before they fail, tested below
        "429", "429-retry", "500", "503", "xai-429", "html-502",
    }  # fmt: skip
    assert covered == set(ERRORS)


async def test_a_too_long_retry_after_is_reported_not_waited(simulator: Simulator) -> None:
    before = simulator.received
    error = await failure("hi [sim error=429-retry-long]")
    assert error.retry_after == 120
    assert simulator.received == before + 1


@pytest.mark.parametrize(
    ("kind", "code"),
    [
        ("429", "upstream_rate_limited"),
        ("xai-429", "upstream_rate_limited"),
        ("500", "upstream_unavailable"),
        ("503", "upstream_unavailable"),
        ("html-502", "upstream_unavailable"),
    ],
)
async def test_retryable_errors_are_retried_a_bounded_number_of_times(
    kind: str, code: str, simulator: Simulator, settings: Any
) -> None:
    settings.GROK_MAX_RETRIES = 2
    before = simulator.received
    error = await failure(f"again [sim error={kind}]")
    assert error.code == code
    assert simulator.received == before + 3


async def test_retry_after_is_honoured(simulator: Simulator, settings: Any) -> None:
    settings.GROK_MAX_RETRIES = 1
    before = simulator.received
    error = await failure("hi [sim error=429-retry]")
    assert error.code == "upstream_rate_limited"
    assert error.retry_after == 1
    assert simulator.received == before + 2


async def test_a_transient_failure_before_the_first_byte_is_retried_to_success() -> None:
    events = await collect("flaky [sim fail=2 words=4 id=transient]")
    assert len([e for e in events if isinstance(e, sse.ContentDelta)]) == 4


@pytest.mark.usefixtures("fresh_clients")
async def test_a_stall_before_the_first_byte_times_out(settings: Any) -> None:
    settings.GROK_READ_TIMEOUT = 0.3
    error = await failure("slow [sim fault=stall-first stall=5]")
    assert error.code == "upstream_unavailable"


@pytest.mark.usefixtures("fresh_clients")
async def test_a_stall_mid_stream_times_out_and_is_not_retried(
    settings: Any, simulator: Simulator
) -> None:
    settings.GROK_READ_TIMEOUT = 0.3
    before = simulator.received
    seen: list[sse.Event] = []
    with pytest.raises(UpstreamError) as caught:
        async for event in grok.stream_chat(
            {
                "model": "grok-3",
                "messages": [{"role": "user", "content": "[sim fault=stall-mid stall=5 words=10]"}],
            }
        ):
            seen.append(event)
    assert caught.value.code == "upstream_unavailable"
    assert text(seen)  # the first half arrived before the stall
    assert simulator.received == before + 1


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        ("cut", "upstream_protocol"),
        ("drop", "upstream_unavailable"),
        ("malformed", "upstream_protocol"),
        ("error-frame", "upstream_unavailable"),
        ("html", "upstream_protocol"),
    ],
)
@pytest.mark.usefixtures("fresh_clients")
async def test_faults_mid_stream_keep_what_arrived(
    fault: str, code: str, simulator: Simulator
) -> None:
    seen: list[sse.Event] = []
    asked = f"{uuid.uuid4()} [sim fault={fault} words=10]"
    with pytest.raises(UpstreamError) as caught:
        async for event in grok.stream_chat(
            {"model": "grok-3", "messages": [{"role": "user", "content": asked}]}
        ):
            seen.append(event)
    assert caught.value.code == code
    if fault != "html":
        assert text(seen)
    # Never retried once a 200 began (the simulator keeps its last 200 requests).
    sent = [r for r in simulator.requests if r["messages"][0]["content"] == asked]
    assert len(sent) == 1


async def test_a_refused_connection_is_upstream_unavailable(settings: Any) -> None:
    settings.GROK_API_BASE = "http://127.0.0.1:9"  # discard port: nothing listens
    settings.GROK_MAX_RETRIES = 1
    error = await failure("hi")
    assert error.code == "upstream_unavailable"


def test_an_http_date_retry_after_is_understood() -> None:
    import httpx

    headers = httpx.Headers({"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"})
    assert grok.map_http_error(429, b"{}", headers).retry_after == 0


ANSWER = (
    b'data: {"id":"r","choices":[{"index":0,"delta":{"content":"fine"},"finish_reason":null}]}\n\n'
    b'data: {"id":"r","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}\n\n'
    b"data: [DONE]\n\n"
)


async def _answer_once_per_connection(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    requests: list[int],
    reset: bool,
    after: float = 0.0,
) -> None:
    """Answer a connection's first request whole and kept alive, then close (or reset) it,
    unanswered, when its second arrives: a kept-alive connection closed as it was reused."""
    for asked in range(2):
        head = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":")[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        await reader.readexactly(length)
        requests.append(asked)
        if asked:
            await asyncio.sleep(after)
            if reset:  # a reset, not a close: the client's read fails instead of ending
                sock = writer.get_extra_info("socket")
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.close()
            return
        writer.write(
            b"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"
            b"content-length: %d\r\n\r\n%s" % (len(ANSWER), ANSWER)
        )
        await writer.drain()


@pytest.mark.parametrize("reset", [False, True], ids=["closed", "reset"])
@pytest.mark.usefixtures("fresh_clients")
async def test_a_kept_alive_connection_closed_on_reuse_is_sent_again_on_a_new_one(
    settings: Any, reset: bool
) -> None:
    requests: list[int] = []
    server = await asyncio.start_server(
        lambda r, w: _answer_once_per_connection(r, w, requests, reset), "127.0.0.1", 0
    )
    settings.GROK_API_BASE = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    settings.GROK_MAX_RETRIES = 0
    try:
        assert text(await collect("first")) == "fine"
        assert text(await collect("second")) == "fine"
    finally:
        server.close()
    # The second went out on the kept connection, was closed unanswered, then went out anew.
    assert requests == [0, 1, 0]


@pytest.mark.usefixtures("fresh_clients")
@pytest.mark.usefixtures("fresh_clients")
async def test_a_kept_alive_connection_closed_after_a_while_is_not_sent_again(
    settings: Any,
) -> None:
    """Held a while, then closed unanswered: the model may have worked on it."""
    requests: list[int] = []
    server = await asyncio.start_server(
        lambda r, w: _answer_once_per_connection(r, w, requests, False, after=0.8),
        "127.0.0.1",
        0,
    )
    settings.GROK_API_BASE = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    settings.GROK_MAX_RETRIES = 0
    try:
        assert text(await collect("first")) == "fine"
        assert (await failure("second")).code == "upstream_unavailable"
    finally:
        server.close()
    assert requests == [0, 1]


async def test_a_connection_opened_for_the_request_and_closed_unanswered_is_not_sent_again(
    settings: Any, simulator: Simulator
) -> None:
    """The model may have worked on it: a second request could be billed twice."""
    asked = f"{uuid.uuid4()} [sim fault=reset]"
    error = await failure(asked)
    assert error.code == "upstream_unavailable"
    assert len([r for r in simulator.requests if r["messages"][0]["content"] == asked]) == 1


CUT_ANSWERS = {
    # A stream answered as one whole JSON body, cut: the model wrote it all once.
    "whole body cut": b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
    b'content-length: 1000\r\n\r\n{"choices": [',
    # A refusal whose body is cut: its wait is not skipped by sending again at once.
    "refusal cut": b"HTTP/1.1 429 Too Many Requests\r\nretry-after: 60\r\n"
    b'content-length: 1000\r\n\r\n{"error": ',
    # Cut inside the head: something answered.
    "head cut": b"HTTP/1.1 200 OK\r\ncontent-ty",
}


@pytest.mark.parametrize("answer", list(CUT_ANSWERS))
@pytest.mark.usefixtures("fresh_clients")
async def test_an_answer_cut_short_is_never_asked_again(settings: Any, answer: str) -> None:
    requests: list[int] = []

    async def cut(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        requests.append(1)
        writer.write(CUT_ANSWERS[answer])
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(cut, "127.0.0.1", 0)
    settings.GROK_API_BASE = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}"
    settings.GROK_MAX_RETRIES = 0
    try:
        error = await failure("hello")
    finally:
        server.close()
    assert error.code in ("upstream_unavailable", "upstream_protocol", "upstream_rate_limited")
    assert requests == [1]
