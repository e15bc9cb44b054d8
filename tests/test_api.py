"""The API for programs (/v1/), called as programs call it: with OpenAI's own Python client
(sync and async) and with raw HTTP, against the app as `make run` serves it, on the
pass's database, with the simulator behind it.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.conftest import serving
from tests.live import LiveServer
from webchat.simulator import Simulator


@dataclass
class Person:
    name: str
    session: str
    key: str


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, simulator: Simulator) -> Iterator[LiveServer]:
    workdir: Path = tmp_path_factory.mktemp("api")
    with serving(
        workdir, GROK_SIMULATOR="off", GROK_API_BASE=simulator.url, GROK_MAX_RETRIES="0"
    ) as live:
        # The limits under test here are the key's; the plan's own are tested for the chat.
        live.query(
            "UPDATE webchat_plan SET concurrent_generations = 64, requests_per_minute = 9999"
        )
        yield live


_people = iter(range(1000))


@pytest.fixture
def person(server: LiveServer) -> Person:
    name = f"coder{next(_people)}"
    session = server.sign_up(name)
    return Person(name, session, server.api_key(name, "--name", "tests"))


def client(server: LiveServer, key: str) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{server.url}/v1", api_key=key, max_retries=0)


def ledger(server: LiveServer, key: str) -> list[tuple[Any, ...]]:
    """The key's rows: (status, prompt, completion, reserved, error_code), oldest first."""
    prefix = key.split("-")[1]
    return server.query(
        "SELECT r.status, r.prompt_tokens, r.completion_tokens, r.reserved_tokens, r.error_code "
        "FROM webchat_usagerecord r JOIN api_apikey k ON r.api_key_id = k.id "
        "WHERE k.prefix = %s ORDER BY r.id",
        prefix,
    )


def settled(server: LiveServer, key: str, count: int = 1) -> list[tuple[Any, ...]]:
    """The key's rows once `count` of them are settled (a call settles as it ends)."""
    deadline = time.monotonic() + 10
    while True:
        rows = ledger(server, key)
        done = [r for r in rows if r[0] != "running"]
        if len(done) >= count or time.monotonic() > deadline:
            return rows
        time.sleep(0.05)


def new_key(server: LiveServer, person: Person, **fields: Any) -> str:
    """A key made on the Keys page (the form a person fills), read off the page it shows."""
    data = {"name": "made on the page", **fields}
    with httpx.Client(base_url=server.url, cookies={"sessionid": person.session}) as web:
        web.get("/keys/")
        answer = web.post(
            "/keys/",
            data=data,
            headers={"X-CSRFToken": web.cookies["csrftoken"], "Referer": f"{server.url}/keys/"},
            follow_redirects=True,
        )
        assert answer.status_code == 200, answer.text[:500]
        found = re.search(r'<code id="new-key"[^>]*>([^<]+)</code>', answer.text)
        assert found, "the new key is shown"
        # Once only.
        assert "new-key" not in web.get("/keys/").text
        return found.group(1)


# --- Completions --------------------------------------------------------------------------
def test_the_openai_client_gets_a_completion_counted_under_its_key(
    server: LiveServer, person: Person, simulator: Simulator
) -> None:
    answer = client(server, person.key).chat.completions.create(
        model="grok-3",
        messages=[
            {"role": "system", "content": "Be brief."},
            {"role": "user", "content": "[sim words=12] Hello there"},
        ],
        max_tokens=100,
        temperature=0.5,
    )
    assert answer.object == "chat.completion" and answer.model == "grok-3"
    (choice,) = answer.choices
    assert choice.message.role == "assistant" and len(choice.message.content.split()) == 12
    assert choice.finish_reason == "stop"
    sent = simulator.requests[-1]
    assert sent["messages"][0] == {"role": "system", "content": "Be brief."}
    assert sent["temperature"] == 0.5 and sent["max_tokens"] == 100
    (row,) = settled(server, person.key)
    assert row[:3] == ("complete", answer.usage.prompt_tokens, answer.usage.completion_tokens)
    assert answer.usage.total_tokens == row[1] + row[2]
    # Not kept as a conversation.
    assert server.query(
        "SELECT COUNT(*) FROM conversations_conversation c JOIN webchat_user u "
        "ON c.owner_id = u.id WHERE u.username = %s",
        person.name,
    ) == [(0,)]


def test_the_requests_other_fields_reach_the_upstream_as_sent(
    server: LiveServer, person: Person, simulator: Simulator
) -> None:
    answer = client(server, person.key).chat.completions.create(
        model="grok-3",
        messages=[
            {"role": "user", "content": [{"type": "text", "text": "[sim words=3] in parts"}]}
        ],
        max_completion_tokens=70,
        top_p=0.8,
        stop=["ZZZ"],
        seed=7,
        presence_penalty=0.5,
        user="build-42",
    )
    assert answer.choices[0].finish_reason == "stop"
    sent = simulator.requests[-1]
    assert sent["max_tokens"] == 70 and sent["top_p"] == 0.8 and sent["stop"] == ["ZZZ"]
    assert sent["seed"] == 7 and sent["presence_penalty"] == 0.5 and sent["user"] == "build-42"
    assert "[sim words=3] in parts" in json.dumps(sent["messages"])
    (row,) = settled(server, person.key)
    assert row[3] >= 70  # the reservation covers what was asked


def test_a_body_past_the_limit_is_refused_and_costs_nothing(
    server: LiveServer, person: Person
) -> None:
    huge = (
        b'{"model": "grok-3", "messages": [{"role": "user", "content": "'
        + b"x"
        * (
            21 * 1024 * 1024  # API_MAX_REQUEST_MB is 20
        )
        + b'"}]}'
    )
    response = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=huge,
        headers={"Authorization": f"Bearer {person.key}", "Content-Type": "application/json"},
        timeout=60,
    )
    assert response.status_code == 413, response.text[:200]
    assert response.json()["error"]["code"] == "request_too_large"
    assert ledger(server, person.key) == []


def test_a_stream_comes_chunk_by_chunk_with_the_usage_at_the_end(
    server: LiveServer, person: Person
) -> None:
    chunks = list(
        client(server, person.key).chat.completions.create(
            model="grok-3",
            messages=[{"role": "user", "content": "[sim words=20] Stream it"}],
            stream=True,
            stream_options={"include_usage": True},
        )
    )
    assert all(c.object == "chat.completion.chunk" and c.id == chunks[0].id for c in chunks)
    assert chunks[0].choices[0].delta.role == "assistant"
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert len(text.split()) == 20
    assert len([c for c in chunks if c.choices and c.choices[0].delta.content]) >= 20
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"
    assert chunks[-1].choices == [] and chunks[-1].usage.completion_tokens > 0
    (row,) = settled(server, person.key)
    assert row[:3] == (
        "complete",
        chunks[-1].usage.prompt_tokens,
        chunks[-1].usage.completion_tokens,
    )


def test_the_async_client_gets_n_candidates_streamed_and_whole(
    server: LiveServer, person: Person
) -> None:
    async def both() -> tuple[Any, dict[int, str]]:
        api = openai.AsyncOpenAI(base_url=f"{server.url}/v1", api_key=person.key, max_retries=0)
        messages = [{"role": "user", "content": "[sim words=8] Two, please"}]
        whole = await api.chat.completions.create(model="grok-3", messages=messages, n=2)
        streamed: dict[int, str] = {0: "", 1: ""}
        stream = await api.chat.completions.create(
            model="grok-3", messages=messages, n=2, stream=True
        )
        async for chunk in stream:
            for choice in chunk.choices:
                streamed[choice.index] += choice.delta.content or ""
        await api.close()
        return whole, streamed

    whole, streamed = asyncio.run(both())
    assert [c.index for c in whole.choices] == [0, 1]
    assert all(len(c.message.content.split()) == 8 for c in whole.choices)
    assert all(len(text.split()) == 8 for text in streamed.values())
    assert len(settled(server, person.key, 2)) == 2


def test_raw_http_sees_an_event_stream_ending_in_done(server: LiveServer, person: Person) -> None:
    body = {"model": "grok-3", "messages": [{"role": "user", "content": "[sim words=5] raw"}]}
    headers = {"Authorization": f"Bearer {person.key}"}
    with httpx.stream(
        "POST", f"{server.url}/v1/chat/completions", json={**body, "stream": True}, headers=headers
    ) as response:
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/event-stream")
        # The API's own handler keeps the headers every response has.
        assert response.headers["x-content-type-options"] == "nosniff"
        assert len(response.headers["x-request-id"]) == 16
        events = [line for line in response.iter_lines() if line]
    assert events[-1] == "data: [DONE]"
    chunks = [json.loads(e.removeprefix("data: ")) for e in events[:-1]]
    assert "".join(c["choices"][0]["delta"].get("content", "") for c in chunks).split() != []
    assert "usage" not in chunks[-1]  # not asked for
    models = httpx.get(f"{server.url}/v1/models", headers=headers).json()
    assert models["object"] == "list"
    assert {"grok-3", "grok-3-mini"} <= {m["id"] for m in models["data"]}


# --- Refusals -----------------------------------------------------------------------------
def _call(server: LiveServer, key: str, **overrides: Any) -> httpx.Response:
    body = {"model": "grok-3", "messages": [{"role": "user", "content": "[sim words=5] hi"}]}
    return httpx.post(
        f"{server.url}/v1/chat/completions",
        json={**body, **overrides},
        headers={"Authorization": f"Bearer {key}"} if key else {},
        timeout=30,
    )


def test_each_refusal_has_its_status_and_spends_nothing(server: LiveServer, person: Person) -> None:
    other = f"other{next(_people)}"  # another person, whose key's prefix is known
    server.sign_up(other)
    prefix = server.api_key(other, "--name", "theirs").split("-")[1]
    expired = server.api_key(person.name, "--name", "expired")
    past = datetime.now(UTC) - timedelta(days=1)
    server.query(
        "UPDATE api_apikey SET expires = %s WHERE prefix = %s", past, expired.split("-")[1]
    )
    revoked = new_key(server, person, name="to revoke")
    _revoke(server, person, "to revoke")
    only_mini = new_key(server, person, name="mini only", allowed_models="grok-3-mini")
    capped = server.api_key(person.name, "--name", "capped", "--tokens-per-month", "40")
    long = "word " * 20_000
    cases = [
        ("", {}, 401, "invalid_api_key"),
        ("wc-nothing", {}, 401, "invalid_api_key"),
        (f"wc-{prefix}-{'A' * 43}", {}, 401, "invalid_api_key"),  # a real prefix, wrong secret
        (revoked, {}, 401, "invalid_api_key"),
        (expired, {}, 401, "invalid_api_key"),
        (only_mini, {}, 403, "model_not_allowed"),
        (person.key, {"model": "gpt-9"}, 404, "model_not_found"),
        (person.key, {"tools": []}, 400, None),
        (person.key, {"temperature": 5}, 400, None),
        (person.key, {"messages": [{"role": "tool", "content": "x"}]}, 400, None),
        (person.key, {"messages": [{"role": "user", "content": "a\u0000b"}]}, 400, None),
        (
            person.key,
            {"messages": [{"role": "user", "content": long}] * 5},
            400,
            "context_length_exceeded",
        ),
        (capped, {"max_tokens": 1000}, 429, "insufficient_quota"),
    ]
    before = server.query("SELECT COUNT(*) FROM webchat_usagerecord")
    for key, overrides, status, code in cases:
        response = _call(server, key, **overrides)
        assert response.status_code == status, (overrides, response.text)
        error = response.json()["error"]
        assert error["code"] == code and error["message"] and error["type"], error
        if status == 429:
            assert int(response.headers["Retry-After"]) > 0
            assert response.reason_phrase == "Too Many Requests"  # not "Unknown Status"
    # A lone surrogate (no JSON library writes one: the bytes, as a hostile client sends).
    surrogate = httpx.post(
        f"{server.url}/v1/chat/completions",
        content=b'{"model": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}',
        headers={"Authorization": f"Bearer {person.key}", "Content-Type": "application/json"},
    )
    assert surrogate.status_code == 400, surrogate.text
    stop = _call(server, person.key, stop=["x" * 2000])
    assert stop.status_code == 400 and "stop[0]" in stop.json()["error"]["message"]
    assert server.query("SELECT COUNT(*) FROM webchat_usagerecord") == before
    assert "wc-" not in httpx.get(f"{server.url}/v1/models").text
    # The key that may use grok-3-mini lists only it, and uses it.
    models = httpx.get(f"{server.url}/v1/models", headers={"Authorization": f"Bearer {only_mini}"})
    assert [m["id"] for m in models.json()["data"]] == ["grok-3-mini"]
    assert _call(server, only_mini, model="grok-3-mini").status_code == 200


def test_upstream_failures_come_back_as_openai_errors(server: LiveServer, person: Person) -> None:
    api = client(server, person.key)
    with pytest.raises(openai.APIStatusError) as refused:
        api.chat.completions.create(
            model="grok-3", messages=[{"role": "user", "content": "[sim error=503] hi"}]
        )
    assert refused.value.status_code == 503
    with pytest.raises(openai.InternalServerError) as failed:
        api.chat.completions.create(
            model="grok-3", messages=[{"role": "user", "content": "[sim error=401] hi"}]
        )
    assert failed.value.status_code == 502
    with pytest.raises(openai.BadRequestError) as too_long:
        api.chat.completions.create(
            model="grok-3", messages=[{"role": "user", "content": "[sim error=xai-400-context] hi"}]
        )
    assert too_long.value.code == "context_length_exceeded"
    # A stream the upstream refuses at once is refused with the status, not streamed.
    with pytest.raises(openai.APIStatusError) as refused_stream:
        api.chat.completions.create(
            model="grok-3",
            messages=[{"role": "user", "content": "[sim error=503] hi"}],
            stream=True,
        )
    assert refused_stream.value.status_code == 503
    # Mid-stream, the error is the stream's last event, which the client raises.
    with pytest.raises(openai.APIError):
        for _ in api.chat.completions.create(
            model="grok-3",
            messages=[{"role": "user", "content": "[sim words=30 fault=cut] hi"}],
            stream=True,
        ):
            pass
    rows = settled(server, person.key, 5)
    assert [r[0] for r in rows] == ["error"] * 5
    assert [r[4] for r in rows] == [
        "upstream_unavailable",
        "upstream_auth",
        "context_too_long",
        "upstream_unavailable",
        "upstream_protocol",
    ]


def test_the_auth_errors_raise_the_clients_own_exceptions(server: LiveServer) -> None:
    with pytest.raises(openai.AuthenticationError):
        client(server, "wc-0123456789ab-" + "x" * 43).models.list()
    # A logged-in browser's cookie is not a key (and needs no CSRF token here).
    session = server.sign_up(f"cookie{next(_people)}")
    refused = httpx.post(
        f"{server.url}/v1/chat/completions", json={}, cookies={"sessionid": session}
    )
    assert refused.status_code == 401
    assert httpx.get(f"{server.url}/v1/chat/completions").status_code == 405


# --- Ending a call ------------------------------------------------------------------------
def test_a_client_that_leaves_cancels_the_upstream_and_settles_what_was_written(
    server: LiveServer, person: Person, simulator: Simulator
) -> None:
    prompt = f"[sim words=400 delay=20] leave {person.name}"
    body = {"model": "grok-3", "messages": [{"role": "user", "content": prompt}], "stream": True}
    headers = {"Authorization": f"Bearer {person.key}"}
    with httpx.stream(
        "POST", f"{server.url}/v1/chat/completions", json=body, headers=headers
    ) as response:
        words = 0
        for line in response.iter_lines():
            words += '"content"' in line
            if words == 10:
                break  # and leave
        assert words == 10
    (row,) = settled(server, person.key)
    assert row[0] == "stopped"
    assert 0 < row[2] < 400  # what was written, estimated
    deadline = time.monotonic() + 5
    while prompt not in simulator.aborted and time.monotonic() < deadline:
        time.sleep(0.05)
    assert prompt in simulator.aborted


def _revoke(server: LiveServer, person: Person, name: str) -> None:
    (key_id,) = server.query("SELECT id FROM api_apikey WHERE name = %s", name)[-1]
    server.post(person.session, f"/keys/{key_id}/revoke/", expect=302)


def test_revoking_a_key_stops_its_calls_in_flight(server: LiveServer, person: Person) -> None:
    key = new_key(server, person, name="revoked mid-call")
    api = client(server, key)
    stream = api.chat.completions.create(
        model="grok-3",
        messages=[{"role": "user", "content": "[sim words=400 delay=20] long"}],
        stream=True,
    )
    received = [next(stream) for _ in range(3)]
    assert received
    _revoke(server, person, "revoked mid-call")
    with pytest.raises(openai.APIError) as stopped:
        for _ in stream:
            pass
    assert "stopped" in str(stopped.value)
    (row,) = settled(server, key)
    assert row[0] == "stopped" and 0 < row[2] < 400
    with pytest.raises(openai.AuthenticationError):
        api.models.list()


# --- Concurrency --------------------------------------------------------------------------
CAP = 2_000
MAX_TOKENS = 300  # with the prompt, a call reserves about 320: six fit under the cap


def test_sixteen_calls_at_once_never_pass_the_keys_cap(server: LiveServer, person: Person) -> None:
    key = server.api_key(person.name, "--name", "near its cap", "--tokens-per-month", str(CAP))
    body = {
        "model": "grok-3",
        "messages": [{"role": "user", "content": "[sim words=400 delay=5] all at once"}],
        "max_tokens": MAX_TOKENS,
    }
    barrier = threading.Barrier(16)
    answers: list[httpx.Response] = []

    def call() -> None:
        with httpx.Client(timeout=60) as http:
            barrier.wait()
            answers.append(
                http.post(
                    f"{server.url}/v1/chat/completions",
                    json=body,
                    headers={"Authorization": f"Bearer {key}"},
                )
            )

    threads = [threading.Thread(target=call) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(90)
    statuses = sorted(a.status_code for a in answers)
    granted = statuses.count(200)
    assert 1 <= granted < 16 and statuses.count(429) == 16 - granted, statuses
    assert {a.json()["error"]["code"] for a in answers if a.status_code == 429} == {
        "insufficient_quota"
    }
    rows = settled(server, key, granted)
    assert len(rows) == granted
    used = [prompt + completion for _, prompt, completion, _, _ in rows]
    overspend = max(u - reserved for u, (*_, reserved, _) in zip(used, rows, strict=True))
    assert overspend <= 0, rows
    assert sum(used) <= CAP
    assert all(r[0] == "complete" and r[2] == MAX_TOKENS for r in rows)  # cut at max_tokens


# --- Pages --------------------------------------------------------------------------------
def test_the_usage_page_splits_usage_by_key(server: LiveServer, person: Person) -> None:
    client(server, person.key).chat.completions.create(
        model="grok-3", messages=[{"role": "user", "content": "[sim words=3] count me"}]
    )
    settled(server, person.key)
    with httpx.Client(base_url=server.url, cookies={"sessionid": person.session}) as web:
        page = web.get("/usage/").text
    assert "Key “tests”" in page and person.key.split("-")[1] in page
    assert person.key not in page


def test_createapikey_refuses_an_unknown_person(server: LiveServer) -> None:
    import subprocess

    with pytest.raises(subprocess.CalledProcessError):
        server.api_key("nobody-at-all")


# --- The plan, across the chat and the API -----------------------------------------------
def _own_plan(server: LiveServer, person: Person, **limits: int) -> None:
    """A plan of the person's own, with `limits` (the module's plan is generous)."""
    name = f"plan of {person.name}"
    server.query(
        "INSERT INTO webchat_plan (name, is_default, storage_mb, tokens_per_day, "
        "tokens_per_month, requests_per_minute, concurrent_generations, max_tokens_cap) "
        "VALUES (%s, %s, NULL, 200000, 3000000, %s, %s, 16384)",
        name,
        False,
        limits["requests_per_minute"],
        limits["concurrent_generations"],
    )
    server.query(
        "UPDATE webchat_user SET plan_id = (SELECT id FROM webchat_plan WHERE name = %s) "
        "WHERE username = %s",
        name,
        person.name,
    )


def test_the_plans_limits_count_the_chat_and_the_api_together(
    server: LiveServer, person: Person
) -> None:
    import websockets

    _own_plan(server, person, concurrent_generations=1, requests_per_minute=3)
    api = client(server, person.key)

    async def chat_while_a_call_streams() -> dict[str, Any]:
        conversation = server.new_conversation(person.session)
        async with websockets.connect(
            server.socket_url(conversation),
            additional_headers={"Cookie": f"sessionid={person.session}", "Origin": server.url},
        ) as socket:
            stream = await asyncio.to_thread(
                api.chat.completions.create,
                model="grok-3",
                messages=[{"role": "user", "content": "[sim words=100 delay=20] busy"}],
                stream=True,
            )
            await asyncio.to_thread(next, stream)
            await socket.send(json.dumps({"type": "send", "content": "hi", "model": "grok-3"}))
            while (frame := json.loads(await socket.recv()))["type"] != "error":
                pass
            # The chat is refused while the call runs; the call, meanwhile, goes on.
            with pytest.raises(openai.RateLimitError) as busy:
                api.chat.completions.create(
                    model="grok-3", messages=[{"role": "user", "content": "[sim words=3] too"}]
                )
            await asyncio.to_thread(lambda: [*stream])
            return {"frame": frame, "busy": busy.value}

    seen = asyncio.run(chat_while_a_call_streams())
    assert seen["frame"]["code"] == "busy", seen["frame"]
    assert seen["busy"].code == "concurrency_limit_exceeded"
    assert int(seen["busy"].response.headers["Retry-After"]) > 0
    # Three calls a minute: the one above, then two, then a refusal with its wait.
    for _ in range(2):
        api.chat.completions.create(
            model="grok-3", messages=[{"role": "user", "content": "[sim words=3] one more"}]
        )
    with pytest.raises(openai.RateLimitError) as limited:
        api.chat.completions.create(
            model="grok-3", messages=[{"role": "user", "content": "[sim words=3] too many"}]
        )
    assert limited.value.code == "rate_limit_exceeded"
    assert 0 < int(limited.value.response.headers["Retry-After"]) <= 60


def test_the_openai_client_raises_its_own_exception_for_each_refusal(
    server: LiveServer, person: Person
) -> None:
    only_mini = new_key(server, person, name="mini", allowed_models="grok-3-mini")
    capped = server.api_key(person.name, "--name", "tiny cap", "--tokens-per-month", "40")
    hello = [{"role": "user", "content": "[sim words=3] hi"}]
    cases = [
        (client(server, only_mini), {}, openai.PermissionDeniedError, "model_not_allowed"),
        (client(server, person.key), {"model": "gpt-9"}, openai.NotFoundError, "model_not_found"),
        (client(server, person.key), {"top_p": 3}, openai.BadRequestError, None),
        (client(server, capped), {}, openai.RateLimitError, "insufficient_quota"),
    ]
    for api, overrides, exception, code in cases:
        with pytest.raises(exception) as refused:
            api.chat.completions.create(**{"model": "grok-3", "messages": hello, **overrides})
        assert refused.value.code == code

    async def refused_to_the_async_client() -> None:
        """The same refusals raise the same exceptions in the async client, streaming."""
        for api, overrides, exception, code in cases:
            key = api.api_key
            async with openai.AsyncOpenAI(
                base_url=f"{server.url}/v1", api_key=key, max_retries=0
            ) as aio:
                with pytest.raises(exception) as refused:
                    await aio.chat.completions.create(
                        **{"model": "grok-3", "messages": hello, "stream": True, **overrides}
                    )
                assert refused.value.code == code

    asyncio.run(refused_to_the_async_client())
    # The plan taken away: 403 for every key of the person.
    server.query("UPDATE webchat_user SET plan_id = NULL WHERE username = %s", person.name)
    with pytest.raises(openai.PermissionDeniedError) as no_plan:
        client(server, person.key).models.list()
    assert no_plan.value.code == "no_plan"
    assert ledger(server, person.key) == []


def test_a_draining_server_finishes_its_calls_and_settles_those_it_cuts_off(
    tmp_path: Path, simulator: Simulator
) -> None:
    import os
    import signal

    with serving(
        tmp_path,
        GROK_SIMULATOR="off",
        GROK_API_BASE=simulator.url,
        SHUTDOWN_GRACE_SECONDS="2",
    ) as server:
        server.sign_up("drained")
        key = server.api_key("drained")
        results: dict[str, list[str]] = {}

        def call(name: str, words: int) -> None:
            body = {
                "model": "grok-3",
                "messages": [{"role": "user", "content": f"[sim words={words} delay=20] {name}"}],
                "stream": True,
            }
            with httpx.stream(
                "POST",
                f"{server.url}/v1/chat/completions",
                json=body,
                headers={"Authorization": f"Bearer {key}"},
                timeout=30,
            ) as response:
                results[name] = []
                try:
                    for line in response.iter_lines():
                        results[name].append(line)
                except httpx.HTTPError:
                    results[name].append("(cut)")

        threads = [
            threading.Thread(target=call, args=("short", 40)),  # about 0.8 s: finishes
            threading.Thread(target=call, args=("long", 400)),  # about 8 s: cut off
        ]
        for thread in threads:
            thread.start()
        while len(results) < 2:
            time.sleep(0.02)
        os.kill(server.process.pid, signal.SIGTERM)
        for thread in threads:
            thread.join(30)
        server.process.wait(30)
        assert "data: [DONE]" in results["short"]
        assert "data: [DONE]" not in results["long"]
        rows = server.query("SELECT status FROM webchat_usagerecord ORDER BY id")
        assert sorted(r[0] for r in rows) == ["complete", "interrupted"]
