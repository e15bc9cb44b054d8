"""What the simulator answers to one chat completion request, apart from serving it.

`answer()` reads the request and its `[sim …]` directive and returns a Whole response (an
error, a JSON completion, an HTML page), a Reset, or a Stream: the steps of an event stream,
each a chunk to send, a pause, or a Fault to play. The server (server.py) plays it on a
connection; nothing here touches the network.

    [sim words=200 delay=20 ttft=100]   length and pace (milliseconds)
    [sim error=429-retry]               an HTTP error (see tables.ERRORS)
    [sim fault=cut]                     a fault mid-stream (see tables.FAULTS)
    [sim fail=2]                        the first 2 requests with this directive answer 503
    [sim echo]                          the reply lists the messages it received
    [sim repeat]                        the reply is the message itself, minus the directive
    [sim stamp]                         each word is the time it was sent (for benchmarks)
    [sim context=4000]                  a prompt over 4,000 tokens is refused, as xAI does
    [sim token-scale=3]                 each prompt token counts 3 (an undercounting estimate)

A user message may be content parts (GROK_API.md §8). Images are refused, as the upstream
refuses them, for a model that cannot read them (VISION_MODELS) and when they are not a
JPEG or PNG data URL of at most 10 MiB; otherwise every reply starts by naming what it
saw: "I see 1 image: JPEG 640x480 #1a2b3c4d5e6f." (format, size, a short SHA-256).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import io
import json
import random
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from webchat.simulator.tables import ERRORS

DIRECTIVE = re.compile(r"\[sim(?:\s+([^\]]*))?\]")
REASONING_MODELS = ("grok-3-mini",)
VISION_MODELS = ("grok-2-vision", "grok-4")
IMAGE_URL = re.compile(r"data:image/(jpeg|png);base64,(.*)", re.S)
MAX_IMAGE_BYTES = 10 * 1024 * 1024

_OPENERS = [
    "Good question.",
    "Here is how I see it.",
    "Short answer: yes, with one caveat.",
    "Let me walk through it.",
    "It depends on what you need.",
]
_SENTENCES = [
    "The simplest approach is usually the right place to start.",
    "Once that works, measure before you change anything else.",
    "Most of the cost hides in the part nobody looks at twice.",
    "A small example often explains more than a long description.",
    "Keep the first version boring, and make it correct.",
    "Write down the decision and the reason, so the next person can follow it.",
    "If the numbers surprise you, check the measurement first.",
    "There is a trade-off here between speed and simplicity.",
    "In practice, the edge cases matter more than the happy path.",
    "You can always add a cache later; removing one is harder.",
    "Think about what happens when the network fails halfway through.",
    "Good defaults save more time than good documentation.",
    "Try it on a small input, then on the largest one you expect.",
    "The error message is part of the interface, so make it kind and precise.",
    "Tests that fail for the right reason are worth more than many that never fail.",
    "**In short:** start small, measure, and keep what helps.",
    "- First, make it work.\n- Then, make it clear.\n- Last, make it fast.",
]
# A sentence of each length from 1 to 10 words: what fills a reply's last words.
_CLOSINGS: dict[int, str] = {
    len(sentence.split()): sentence
    for sentence in (
        "Done.",
        "That's all.",
        "Hope that helps.",
        "That is the gist.",
        "That is the short version.",
        "I hope that answers your question.",
        "Let me know if you want more.",
        "Let me know if you want more detail.",
        "Let me know if you would like more detail.",
        "Let me know if you would like more detail here.",
    )
}
assert set(_CLOSINGS) == set(range(1, 11)), "a closing sentence of each length"
_CODE = '```python\ndef greet(name: str) -> str:\n    return f"Hello, {name}!"\n```'


@dataclass
class Pace:
    """The server's defaults, in seconds; a directive overrides them per request."""

    token_delay: float = 0.035
    first_token_delay: float = 0.3
    default_words: int = 80


@dataclass
class Whole:
    status: int
    body: bytes
    content_type: str = "application/json"
    headers: dict[str, str] = field(default_factory=dict)
    wait: float = 0.0  # before answering


@dataclass
class Reset:
    """Close the connection without a response."""


@dataclass
class Fault:
    kind: str
    stall: float


@dataclass
class Stream:
    steps: Iterator[bytes | float | Fault]  # a chunk to send, seconds to pause, a fault
    wait: float = 0.0  # before the response's headers (stall-first)


def parse_directive(text: str) -> dict[str, str]:
    match = DIRECTIVE.search(text)
    if not match:
        return {}
    options: dict[str, str] = {"_raw": match.group(0)}
    for part in (match.group(1) or "").split():
        key, _, value = part.partition("=")
        options[key] = value
    return options


def compose_reply(prompt: str, words: int, seed: int, *, after: str | None = None) -> str:
    """Plausible text of exactly `words` words, with some markdown, ending a sentence; the
    same for the same seed. With `after`, it carries on from that text (a reply being
    continued): the sentence cut there finished first, no greeting, a space between."""
    rng = random.Random(seed)
    first = rng.choice(_OPENERS)
    sentences = []
    cut, rest = _rest_of(after) if after is not None else ("", "")
    finishing = bool(rest) and len(rest.split()) <= words
    if finishing:
        sentences.append(rest)
    elif after is None and len(first.split()) <= words:
        sentences.append(first)
    count = sum(len(sentence.split()) for sentence in sentences)
    last = cut if finishing else ""
    while count < words:
        sentence = rng.choice(_SENTENCES)
        while sentence == last:  # not the same sentence twice in a row
            sentence = rng.choice(_SENTENCES)
        last = sentence
        if count + len(sentence.split()) > words:
            # The rest in short closing sentences, so the reply ends where a sentence does.
            sentence = _CLOSINGS[min(words - count, max(_CLOSINGS))]
        if sentence.startswith("-"):
            sentence = f"\n\n{sentence}\n\n"
        sentences.append(("\n\n" if rng.random() < 0.2 else " ") + sentence)
        count += len(sentence.split())
    text = "".join(sentences)
    body = text.strip()
    reply = body
    if after is not None:  # joined by the finished sentence's own space, or by one
        reply = (text[: len(text) - len(text.lstrip())] if finishing else " ") + body
    if "code" in prompt.lower():
        reply += "\n\n" + _CODE
    return reply


def _rest_of(text: str) -> tuple[str, str]:
    """The sentence of this script that `text` ends cut short in, and the words that finish
    it (the longest such start wins); nothing otherwise."""
    text = text.rstrip()
    best, found = 0, ("", "")
    for sentence in (*_OPENERS, *_SENTENCES, *_CLOSINGS.values()):
        pieces = tokenize(sentence)
        for k in range(len(pieces) - 1, 0, -1):
            start = "".join(pieces[:k])
            if len(start) > best and text.endswith(start):
                before = text[: len(text) - len(start)]
                # A greeting only starts a reply; elsewhere "Good" begins another sentence.
                greeting = sentence in _OPENERS and before.strip()
                if (not before or before[-1].isspace()) and not greeting:
                    best, found = len(start), (sentence, "".join(pieces[k:]))
                break
    return found


def tokenize(text: str) -> list[str]:
    """Word-sized pieces that join back into `text` exactly."""
    return re.findall(r"\s*\S+", text) or [text]


def last_prompt(payload: dict[str, Any]) -> str:
    """The last user message's text: where the directive is read."""
    last_user = next(
        (m.get("content") for m in reversed(payload["messages"]) if m.get("role") == "user"), ""
    )
    return text_of(last_user)


def text_of(content: Any) -> str:
    """A message's text: the string, or its text parts."""
    if isinstance(content, list):
        return "\n".join(
            str(p.get("text", ""))
            for p in content
            if isinstance(p, dict) and p.get("type") == "text"
        )
    return content if isinstance(content, str) else json.dumps(content)


def images_of(content: Any) -> list[Any]:
    """The image parts' URLs of a message's content."""
    if not isinstance(content, list):
        return []
    return [
        (p.get("image_url") or {}).get("url")
        for p in content
        if isinstance(p, dict) and p.get("type") == "image_url"
    ]


def seen_images(payload: dict[str, Any]) -> str | Whole:
    """What the last user message's images are ("" for none), or the upstream's refusal of
    any image in the request."""
    model = str(payload.get("model") or "")
    urls = [url for m in payload["messages"] for url in images_of(m.get("content"))]
    if not urls:
        return ""
    if not model.startswith(VISION_MODELS):
        return _bad_request(f"Model {model} does not support image inputs.")
    for url in urls:
        if _decode_image(url) is None:
            return _bad_request("Unsupported or invalid image: send a JPEG or PNG up to 10 MiB.")
    last = next(m for m in reversed(payload["messages"]) if m.get("role") == "user")
    described = [_decode_image(url) for url in images_of(last.get("content"))]
    if not described:
        return ""
    count = f"{len(described)} image" + ("s" if len(described) > 1 else "")
    return f"I see {count}: " + "; ".join(described) + ". "


def _decode_image(url: Any) -> str | None:
    """ "JPEG 640x480 #1a2b3c4d5e6f" for a valid data URL, else None."""
    from PIL import Image

    match = IMAGE_URL.fullmatch(url) if isinstance(url, str) else None
    if match is None:
        return None
    try:
        data = base64.b64decode(match.group(2), validate=True)
        if len(data) > MAX_IMAGE_BYTES:
            return None
        with Image.open(io.BytesIO(data), formats=("JPEG", "PNG")) as image:
            if image.format.lower() != match.group(1):
                return None
            size = f"{image.width}x{image.height}"
            return f"{image.format} {size} #{hashlib.sha256(data).hexdigest()[:12]}"
    except (binascii.Error, ValueError, OSError):
        return None


def prompt_tokens(messages: list[dict[str, Any]], options: dict[str, str]) -> int:
    """The simulator's count: a token a word, 3 a message, 1,000 an image (by its tiles)."""
    count = sum(len(text_of(m.get("content", "")).split()) for m in messages)
    count += 3 * len(messages)
    count += 1000 * sum(len(images_of(m.get("content"))) for m in messages)
    return count * int(options.get("token-scale", 1))


def _bad_request(message: str) -> Whole:
    body = {"success": False, "error": {"code": "bad_request", "message": message}}
    return Whole(400, json.dumps(body).encode())


def error_response(kind: str) -> Whole:
    status, body, headers = ERRORS.get(kind, ERRORS["400"])
    raw = body.encode() if isinstance(body, str) else json.dumps(body).encode()
    extra = {k: v for k, v in headers.items() if k != "content-type"}
    return Whole(status, raw, headers.get("content-type", "application/json"), extra)


def answer(
    payload: dict[str, Any], options: dict[str, str], *, seed: int, pace: Pace
) -> Whole | Reset | Stream:
    """The response to a well-formed request whose directive is `options`; `seed` makes the
    text (the same prompt asked again gets another)."""
    if "error" in options:
        return error_response(options["error"])
    seen = seen_images(payload)
    if isinstance(seen, Whole):
        return seen
    counted = prompt_tokens(payload["messages"], options)
    if "context" in options and counted > int(options["context"]):
        message = (
            f"This model's maximum prompt length is {options['context']} but the request "
            f"contains {counted} tokens."
        )
        body = {"code": "Client specified an invalid argument", "error": message}
        return Whole(400, json.dumps(body).encode())
    fault = options.get("fault", "")
    stall = float(options.get("stall", 3600))
    if fault == "reset":
        return Reset()
    wait = stall if fault == "stall-first" else 0.0
    if fault == "html":
        return Whole(200, b"<html><body>Welcome</body></html>", "text/html", wait=wait)
    delay = float(options.get("delay", pace.token_delay * 1000)) / 1000
    ttft = float(options.get("ttft", pace.first_token_delay * 1000)) / 1000
    reply = _Reply(payload, options, seed, pace, seen)
    if not payload.get("stream"):
        return Whole(200, json.dumps(reply.completion()).encode(), wait=wait + ttft)
    return Stream(reply.steps(ttft, delay, Fault(fault, stall) if fault else None), wait)


class _Reply:
    """The text of every candidate, cut at max_tokens, and the usage it reports."""

    def __init__(
        self, payload: dict[str, Any], options: dict[str, str], seed: int, pace: Pace, seen: str
    ):
        messages = payload["messages"]
        prompt = last_prompt(payload)
        self.model = str(payload.get("model") or "grok-3")
        self.n = n = max(1, min(int(payload.get("n") or 1), 8))
        self.stamp = "stamp" in options
        # The assistant's own text last: a reply cut short, to be carried on (what it saw
        # was said at its start).
        going_on = bool(messages) and messages[-1].get("role") == "assistant"
        if going_on:
            seen = ""
        if "repeat" in options:
            texts = [DIRECTIVE.sub("", prompt).strip() or "(nothing)"] * n
        elif "echo" in options:
            summary = "; ".join(
                f"{m.get('role')}: {text_of(m.get('content'))}"
                + "".join(" [image]" for _ in images_of(m.get("content")))
                for m in messages
                if m.get("role") != "system"
            )
            system = next((m.get("content") for m in messages if m.get("role") == "system"), None)
            params = " ".join(f"{k}={payload.get(k)}" for k in ("temperature", "max_tokens", "n"))
            texts = [
                f"I received {len(messages)} messages. {summary}. System: {system}. "
                f"Params: {params}."
            ] * n
        else:
            words = int(options.get("words", pace.default_words))
            after = text_of(messages[-1].get("content")) if going_on else None
            texts = [compose_reply(prompt, words, seed + i, after=after) for i in range(n)]
        self.pieces = [tokenize(seen + text) for text in texts]
        self.finish = ["stop"] * n
        max_tokens = payload.get("max_tokens") or payload.get("max_completion_tokens")
        if max_tokens:
            for i, tokens in enumerate(self.pieces):
                if len(tokens) > int(max_tokens):
                    self.pieces[i] = tokens[: int(max_tokens)]
                    self.finish[i] = "length"
        self.reasoning: list[str] = []
        if self.model.startswith(REASONING_MODELS):
            self.reasoning = tokenize(compose_reply("think " + prompt, 20, seed + 99))
        completion_tokens = sum(len(p) for p in self.pieces)
        prompt = prompt_tokens(messages, options)
        self.usage = {
            "prompt_tokens": prompt,
            "completion_tokens": completion_tokens,
            "total_tokens": prompt + completion_tokens,
        }
        self.id = f"foaicmpl-{uuid.uuid4().hex}"
        self.created = int(time.time())

    def completion(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "model": self.model,
            "object": "chat.completion",
            "created": self.created,
            "choices": [
                {
                    "index": i,
                    "message": {"role": "assistant", "content": "".join(self.pieces[i])},
                    "finish_reason": self.finish[i],
                }
                for i in range(self.n)
            ],
            "usage": self.usage
            | {"completion_tokens_details": {"reasoning_tokens": len(self.reasoning)}},
        }

    def steps(
        self, ttft: float, delay: float, fault: Fault | None
    ) -> Iterator[bytes | float | Fault]:
        """AceData's exact shape: a role chunk, one chunk per word, a finish chunk with
        all-zero usage, a usage chunk with no choices, then [DONE]."""
        every = range(self.n)
        yield ttft
        yield self._chunk({i: {"role": "assistant"} for i in every})
        for token in self.reasoning:
            yield self._chunk({i: {"reasoning_content": token} for i in every})
            yield delay
        longest = max(len(p) for p in self.pieces)
        for step in range(longest):
            if fault is not None and step == max(1, longest // 2):
                yield fault
            words = {i: self.pieces[i][step] for i in every if step < len(self.pieces[i])}
            if self.stamp:
                words = {i: f"{time.time():.6f} " for i in words}
            yield self._chunk({i: {"content": word} for i, word in words.items()})
            if delay:
                yield delay
        zero = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
        yield self._chunk({i: {} for i in every}, finish=True, usage=zero)
        yield self._chunk({}, usage=self.usage)
        yield b"data: [DONE]\n\n"

    def _chunk(
        self, deltas: dict[int, dict[str, Any]], *, finish: bool = False, usage: Any = None
    ) -> bytes:
        """One chunk: a delta per candidate index, maybe their finish reasons and usage."""
        choices = [
            {"delta": delta, "finish_reason": self.finish[i] if finish else None, "index": i}
            for i, delta in deltas.items()
        ]
        body = {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": choices,
            "usage": usage,
        }
        return b"data: " + json.dumps(body, separators=(",", ":")).encode() + b"\n\n"
