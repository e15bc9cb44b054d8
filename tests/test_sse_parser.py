"""The SSE parser and chunk reader: the same events for any split of the same bytes."""

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from webchat.errors import UpstreamError
from webchat.sse import (
    ContentDelta,
    Finish,
    Meta,
    ReasoningDelta,
    SSEParser,
    Usage,
    parse_chunk,
)

ACEDATA_STREAM = (
    'data: {"id":"foaicmpl-503a","object":"chat.completion.chunk","created":1755839790,"model":"grok-3",'
    '"choices":[{"delta":{"role":"assistant"},"finish_reason":null,"index":0}],"usage":null}\n\n'
    'data: {"id":"foaicmpl-503a","object":"chat.completion.chunk","created":1755839790,"model":"grok-3",'
    '"choices":[{"delta":{"content":"Yo, "},"finish_reason":null,"index":0}],"usage":null}\n\n'
    'data: {"id":"foaicmpl-503a","object":"chat.completion.chunk","created":1755839790,"model":"grok-3",'
    '"choices":[{"delta":{"content":"héllo 🌍"},"finish_reason":null,"index":0}],"usage":null}\n\n'
    'data: {"id":"foaicmpl-503a","object":"chat.completion.chunk","created":1755839790,"model":"grok-3",'
    '"choices":[{"delta":{},"finish_reason":"stop","index":0}],'
    '"usage":{"prompt_tokens":0,"completion_tokens":0,"total_tokens":0}}\n\n'
    'data: {"id":"foaicmpl-503a","object":"chat.completion.chunk","created":1755839790,"model":"grok-3",'
    '"choices":[],"usage":{"prompt_tokens":8,"completion_tokens":18,"total_tokens":26}}\n\n'
    "data: [DONE]\n\n"
).encode()

XAI_STREAM = (
    b'data: {"id":"db92f377","object":"chat.completion.chunk","created":1773345705,"model":"grok-3-mini-high",'
    b'"choices":[{"index":0,"delta":{"reasoning_content":"First","role":"assistant"}}],'
    b'"usage":{"prompt_tokens":288,"completion_tokens":0,"total_tokens":290,'
    b'"completion_tokens_details":{"reasoning_tokens":2}}}\r\n\r\n'
    b": keep-alive\r\n\r\n"
    b'data:{"id":"db92f377","object":"chat.completion.chunk","created":1773345707,"model":"grok-3-mini-high",'
    b'"choices":[{"index":0,"delta":{"content":"The weather"}}]}\r\n\r\n'
    b'data: {"id":"db92f377","object":"chat.completion.chunk","created":1773345707,"model":"grok-3-mini-high",'
    b'"choices":[{"index":0,"delta":{"content":" is fine."},"finish_reason":"stop"}]}\r\n\r\n'
    b'data: {"id":"db92f377","object":"chat.completion.chunk","created":1773345707,"model":"grok-3-mini-high",'
    b'"choices":[],"usage":{"prompt_tokens":288,"completion_tokens":27,"total_tokens":628,'
    b'"completion_tokens_details":{"reasoning_tokens":313}}}\r\n\r\n'
    b"data: [DONE]\r\n\r\n"
)


def events_of(stream: bytes, cuts: list[int]) -> list[str]:
    parser = SSEParser()
    out: list[str] = []
    start = 0
    for cut in sorted(set(cuts)):
        out += parser.feed(stream[start:cut])
        start = cut
    out += parser.feed(stream[start:])
    return out + parser.close()


def whole(stream: bytes) -> list[str]:
    return events_of(stream, [])


@pytest.mark.parametrize("stream", [ACEDATA_STREAM, XAI_STREAM], ids=["acedata", "xai"])
@settings(max_examples=300, deadline=None)
@given(data=st.data())
def test_any_split_gives_the_same_events(stream: bytes, data: st.DataObject) -> None:
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=40))
    assert events_of(stream, cuts) == whole(stream)


@pytest.mark.parametrize("stream", [ACEDATA_STREAM, XAI_STREAM], ids=["acedata", "xai"])
def test_byte_by_byte_gives_the_same_events(stream: bytes) -> None:
    assert events_of(stream, list(range(len(stream)))) == whole(stream)


@settings(max_examples=200, deadline=None)
@given(
    texts=st.lists(st.text(min_size=1, max_size=20), min_size=1, max_size=6),
    newline=st.sampled_from(["\n", "\r\n", "\r"]),
    space=st.booleans(),
    data=st.data(),
)
def test_any_text_any_newline_survives_any_split(
    texts: list[str], newline: str, space: bool, data: st.DataObject
) -> None:
    stream = "".join(
        f"data:{' ' if space else ''}{json.dumps({'t': t})}{newline}{newline}" for t in texts
    ).encode()
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(stream)), max_size=20))
    assert [json.loads(e)["t"] for e in events_of(stream, cuts)] == texts


def test_a_utf8_character_split_between_reads_is_whole() -> None:
    stream = 'data: {"t":"🌍é"}\n\n'.encode()
    cut = stream.index("🌍".encode()) + 2
    assert events_of(stream, [cut]) == ['{"t":"🌍é"}']


def test_comments_and_other_fields_are_ignored() -> None:
    stream = b': keep-alive\n\nevent: message\nid: 4\nretry: 10\ndata: {"a":1}\n\n'
    assert whole(stream) == ['{"a":1}']


def test_multiline_data_joins_with_newlines() -> None:
    assert whole(b"data: one\ndata: two\n\n") == ["one\ntwo"]


def test_multiline_data_split_between_cr_and_lf_is_one_event() -> None:
    """A CR at the end of one read may be the first half of a CRLF: the LF that starts the
    next read ends the same line, it is not a blank line that would end the event early."""
    stream = b"data: one\r\ndata: two\r\n\r\ndata: three\r\n\r\n"
    for at, byte in enumerate(stream):
        if byte == ord("\r"):
            assert events_of(stream, [at + 1]) == ["one\ntwo", "three"], f"split after byte {at}"


@settings(max_examples=200, deadline=None)
@given(
    events=st.lists(
        st.lists(
            st.text(
                alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"),
                max_size=8,
            ),
            min_size=1,
            max_size=4,
        ),
        min_size=1,
        max_size=4,
    ),
    data=st.data(),
)
def test_multiline_events_with_crlf_survive_any_split(
    events: list[list[str]], data: st.DataObject
) -> None:
    stream = "".join("".join(f"data: {line}\r\n" for line in lines) + "\r\n" for lines in events)
    raw = stream.encode()
    cuts = data.draw(st.lists(st.integers(min_value=0, max_value=len(raw)), max_size=20))
    assert events_of(raw, cuts) == ["\n".join(lines) for lines in events]


def test_a_last_event_without_a_blank_line_still_counts() -> None:
    assert whole(b"data: [DONE]") == ["[DONE]"]


def chunk_events(stream: bytes) -> list:
    return [e for data in whole(stream) if data != "[DONE]" for e in parse_chunk(data)]


def test_acedata_usage_is_the_last_one_not_the_zero_one() -> None:
    events = chunk_events(ACEDATA_STREAM)
    usages = [e for e in events if isinstance(e, Usage)]
    assert usages[-1] == Usage(8, 18, 0)
    text = "".join(e.text for e in events if isinstance(e, ContentDelta))
    assert text == "Yo, héllo 🌍"
    assert Finish(0, "stop") in events


def test_xai_reasoning_is_kept_apart_and_counted_as_output() -> None:
    events = chunk_events(XAI_STREAM)
    assert [e.text for e in events if isinstance(e, ReasoningDelta)] == ["First"]
    # The chunk carrying finish_reason also carries the last words.
    assert "".join(e.text for e in events if isinstance(e, ContentDelta)) == "The weather is fine."
    usage = [e for e in events if isinstance(e, Usage)][-1]
    # total 628 = 288 prompt + 27 completion + 313 reasoning: reasoning is billed as output.
    assert usage == Usage(288, 340, 313)
    assert Meta("db92f377", "grok-3-mini-high") in events


def test_running_usage_in_every_chunk_is_never_summed() -> None:
    chunks = [
        {
            "choices": [{"index": 0, "delta": {"content": "a"}}],
            "usage": {"prompt_tokens": 5, "completion_tokens": i, "total_tokens": 5 + i},
        }
        for i in range(1, 4)
    ]
    usages = [e for c in chunks for e in parse_chunk(json.dumps(c)) if isinstance(e, Usage)]
    assert usages[-1] == Usage(5, 3, 0)


def test_candidates_are_split_by_index() -> None:
    chunk = {
        "choices": [
            {"index": 0, "delta": {"content": "zero"}},
            {"index": 1, "delta": {"content": "one"}, "finish_reason": "length"},
        ]
    }
    events = parse_chunk(json.dumps(chunk))
    assert ContentDelta(0, "zero") in events
    assert ContentDelta(1, "one") in events
    assert Finish(1, "length") in events


def test_empty_deltas_are_ignored() -> None:
    assert parse_chunk('{"choices":[{"index":0,"delta":{}}]}') == []
    assert parse_chunk('{"choices":[{"index":0,"delta":{"content":""}}]}') == []


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        (
            '{"code":"The service is currently unavailable","error":"Timed out waiting for first token"}',
            "upstream_unavailable",
        ),
        ('{"error":{"code":"api_error","message":"boom"}}', "upstream_protocol"),
        ('{"choices": [oops', "upstream_protocol"),
        ("[1, 2]", "upstream_protocol"),
    ],
)
def test_errors_inside_the_stream_have_stable_codes(frame: str, code: str) -> None:
    with pytest.raises(UpstreamError) as caught:
        parse_chunk(frame)
    assert caught.value.code == code
    assert caught.value.message  # something a person can read


def test_a_long_line_in_many_slices_is_read_whole() -> None:
    parser = SSEParser()
    text = "x" * 600_000
    body = f"data: {text}\n\n".encode()
    events = []
    for start in range(0, len(body), 4096):
        events += parser.feed(body[start : start + 4096])
    assert events == [text]


@pytest.mark.parametrize(
    "slices",
    [
        [b"data: " + b"x" * 4096] * 300,  # one line that never ends
        [b"data: " + b"y" * 4096 + b"\n"] * 300,  # an event whose data lines never end it
        [b"data:\n" * 4096] * 300,  # as many empty data lines
    ],
    ids=["line", "event", "empty lines"],
)
def test_a_line_or_event_past_a_mebibyte_is_refused_as_unreadable(slices: list[bytes]) -> None:
    parser = SSEParser()
    with pytest.raises(UpstreamError) as caught:
        for piece in slices:
            parser.feed(piece)
    assert caught.value.code == "upstream_protocol"
