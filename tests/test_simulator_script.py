"""What the simulator answers, decided without a network: script.answer() alone."""

import base64
import io
import itertools
import json
import re
from typing import Any

from webchat.simulator import script

PACE = script.Pace(token_delay=0.001, first_token_delay=0.002, default_words=10)


def ask(content: str, **payload: Any) -> Any:
    body = {"model": "grok-3", "messages": [{"role": "user", "content": content}], **payload}
    return script.answer(body, script.parse_directive(content), seed=1, pace=PACE)


def chunks(stream: script.Stream) -> list[Any]:
    return [
        json.loads(step[6:]) if step != b"data: [DONE]\n\n" else "[DONE]"
        for step in stream.steps
        if isinstance(step, bytes)
    ]


def test_an_error_directive_answers_its_status_and_body() -> None:
    response = ask("[sim error=429-retry]", stream=True)
    assert isinstance(response, script.Whole)
    assert response.status == 429 and response.headers == {"retry-after": "1"}
    assert json.loads(response.body)["error"]["code"] == "too_many_requests"


def test_a_stream_has_acedatas_shape_and_exactly_the_words_asked() -> None:
    stream = ask("hello [sim words=7]", stream=True)
    assert isinstance(stream, script.Stream)
    sent = chunks(stream)
    assert sent[0]["choices"][0]["delta"] == {"role": "assistant"}
    words = [c["choices"][0]["delta"]["content"] for c in sent[1:8]]
    assert len("".join(words).split()) == 7
    assert sent[8]["choices"][0]["finish_reason"] == "stop"
    assert sent[9]["choices"] == [] and sent[9]["usage"]["completion_tokens"] == 7
    assert sent[-1] == "[DONE]"


def test_pauses_follow_the_directive() -> None:
    stream = ask("[sim words=3 delay=20 ttft=100]", stream=True)
    pauses = [step for step in stream.steps if isinstance(step, float)]
    assert pauses == [0.1, 0.02, 0.02, 0.02]


def test_max_tokens_cuts_each_candidate_and_says_length() -> None:
    sent = chunks(ask("[sim words=20]", stream=True, n=2, max_tokens=5))
    finish = next(
        c for c in sent if c != "[DONE]" and c["choices"] and c["choices"][0]["finish_reason"]
    )
    assert [c["finish_reason"] for c in finish["choices"]] == ["length", "length"]
    assert [c["index"] for c in sent[1]["choices"]] == [0, 1]


def test_a_fault_comes_halfway() -> None:
    steps = list(ask("[sim words=10 fault=cut]", stream=True).steps)
    at = next(i for i, step in enumerate(steps) if isinstance(step, script.Fault))
    before = [s for s in steps[:at] if isinstance(s, bytes)]
    assert len(before) == 1 + 5  # the role chunk, then half the words
    assert steps[at] == script.Fault("cut", 3600.0)


def test_reset_stall_and_html_faults() -> None:
    assert isinstance(ask("[sim fault=reset]", stream=True), script.Reset)
    assert ask("[sim fault=stall-first stall=2]", stream=True).wait == 2.0
    html = ask("[sim fault=html]", stream=True)
    assert html.status == 200 and html.content_type == "text/html"


def test_without_stream_it_answers_one_completion() -> None:
    response = ask("[sim repeat] say this back")
    body = json.loads(response.body)
    assert body["choices"][0]["message"]["content"] == "say this back"
    assert response.wait == PACE.first_token_delay


def test_the_same_seed_gives_the_same_reply() -> None:
    assert script.compose_reply("x", 30, 5) == script.compose_reply("x", 30, 5)
    assert script.compose_reply("x", 30, 5) != script.compose_reply("x", 30, 6)


def test_a_reply_ends_a_sentence_whatever_its_length() -> None:
    for words in (1, 7, 13, 60):
        for seed in range(20):
            reply = script.compose_reply("x", words, seed)
            assert reply[-1] in ".!?:" and len(reply.split()) == words, reply


def test_a_reply_cut_short_is_carried_on_not_started_again() -> None:
    partial = "Here is how I see it. The simplest approach"
    body = {
        "model": "grok-3",
        "messages": [
            {"role": "user", "content": "tell me [sim words=12]"},
            {"role": "assistant", "content": partial},
        ],
        "stream": False,
    }
    response = script.answer(body, {"words": "12"}, seed=3, pace=PACE)
    text = json.loads(response.body)["choices"][0]["message"]["content"]
    # The cut sentence finished, then more: no greeting again.
    assert text.startswith(" is usually the right place to start.")
    assert not any(opener in text for opener in script._OPENERS)
    assert len(text.split()) == 12


def test_a_reply_carried_on_from_any_cut_has_the_words_asked_and_ends_a_sentence() -> None:
    whole = script.compose_reply("x", 80, 7)
    pieces = script.tokenize(whole)
    for cut in range(1, 79):
        for words in (1, 4, 30):
            text = script.compose_reply("x", words, cut, after="".join(pieces[:cut]))
            assert len(text.split()) == words and text[0].isspace() and text[-1] in ".!?"
            assert "".join(script.tokenize(text)) == text


def test_a_reply_carried_on_does_not_name_the_images_again() -> None:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (4, 3)).save(out, "PNG")
    image = {
        "type": "image_url",
        "image_url": {"url": "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()},
    }
    asked = [{"role": "user", "content": [{"type": "text", "text": "what is it?"}, image]}]
    first = script.answer({"model": "grok-4", "messages": asked}, {"words": "5"}, seed=3, pace=PACE)
    said = json.loads(first.body)["choices"][0]["message"]["content"]
    assert said.startswith("I see 1 image: PNG 4x3")
    body = {"model": "grok-4", "messages": [*asked, {"role": "assistant", "content": said}]}
    went_on = json.loads(script.answer(body, {"words": "5"}, seed=4, pace=PACE).body)
    text = went_on["choices"][0]["message"]["content"]
    assert "image" not in text and len(text.split()) == 5


def test_a_cut_sentence_is_finished_as_the_body_s_not_as_a_greeting_and_not_said_again() -> None:
    after = "Here is how I see it. Keep the first version boring, and make it correct. Good"
    for seed in range(50):
        text = script.compose_reply("x", 30, seed, after=after)
        assert not text.startswith(" question."), text
        finished = script.compose_reply("x", 30, seed, after=after[: -len(" Good")] + " Keep")
        sentences = [s.strip() for s in re.split(r"(?<=[.!?])\s+", (" Keep" + finished).strip())]
        assert all(a != b for a, b in itertools.pairwise(sentences)), finished
