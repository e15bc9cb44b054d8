"""A chat completion request in OpenAI's shape, read and checked: what goes upstream, what
it is estimated to cost, and how the answer is to be sent back.

Pure reading, no database but the catalog: every refusal is an InvalidRequest naming the
field (the view answers it in OpenAI's error shape).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from django.conf import settings

from webchat import grok
from webchat.errors import InvalidRequest
from webchat.models import ChatModel
from webchat.quotas import estimate_tokens
from webchat.text import problem

ROLES = ("system", "user", "assistant")
# Besides model, messages, the length and the streaming: what the upstream takes (the
# parameters a model's defaults may hold, and `user`, an end user's id for its records).
PASSED = (*grok.PARAMS, "user")
FIELDS = frozenset(
    {"model", "messages", "max_completion_tokens", "stream", "stream_options", *PASSED}
)
# An image goes upstream as a JPEG or PNG data URL, or a URL the upstream fetches.
IMAGE_URL = re.compile(r"data:image/(?:jpeg|png);base64,[A-Za-z0-9+/=\s]+|https://\S+", re.S)
MAX_MESSAGES = 2_000
MAX_STOP_CHARS = 1_000


@dataclass
class Asked:
    model: ChatModel
    # The parameters that go upstream besides the model and the messages (the model's
    # defaults first), max_tokens included.
    params: dict[str, Any]
    messages: list[dict[str, Any]]
    n: int
    stream: bool
    include_usage: bool
    # The prompt's estimated tokens, as the chat counts them (images at a fixed cost).
    estimate: int
    images: int

    def payload(self, max_tokens: int) -> dict[str, Any]:
        return {
            "model": self.model.upstream_id,
            "messages": self.messages,
            **self.params,
            "max_tokens": max_tokens,
        }


def read(body: Any, find_model: Any) -> Asked:
    """The request `body` (parsed JSON) → Asked; `find_model(slug)` is the catalog's lookup
    (it raises ModelUnavailable)."""
    if not isinstance(body, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    unknown = sorted(set(body) - FIELDS)
    if unknown:
        raise InvalidRequest(f"Unsupported parameter: '{unknown[0]}'.")
    slug = body.get("model")
    if not isinstance(slug, str) or not 0 < len(slug) <= 128 or problem(slug):
        raise InvalidRequest("'model' is required: one of the ids GET /v1/models lists.")
    model = find_model(slug)
    messages, texts, images = _messages(body.get("messages"), model)
    passed = {k: body[k] for k in PASSED if body.get(k) is not None}
    length = body.get("max_completion_tokens")
    if length is not None:
        passed["max_tokens"] = length
    problems = grok.check_params(
        {k: v for k, v in passed.items() if k != "user"},
        reasoning=model.supports_reasoning,
        effort=model.supports_reasoning and model.streams_reasoning,
    )
    if problems:
        raise InvalidRequest(problems[0].replace("“", "'").replace("”", "'"))
    if "user" in passed:
        _text(passed["user"], "user", most=256)
    stop = passed.get("stop")
    for i, text in enumerate([stop] if isinstance(stop, str) else stop or []):
        _text(text, f"stop[{i}]", most=MAX_STOP_CHARS)
    n = passed.pop("n", 1)
    if n > settings.CHAT_MAX_CANDIDATES:
        raise InvalidRequest(f"'n' may be at most {settings.CHAT_MAX_CANDIDATES} here.")
    stream = body.get("stream", False)
    if not isinstance(stream, bool):
        raise InvalidRequest("'stream' must be true or false.")
    include_usage = _include_usage(body.get("stream_options"), stream)
    params = {**model.defaults(), **passed}
    params["max_tokens"] = min(
        int(params.get("max_tokens") or model.max_output_tokens), model.max_output_tokens
    )
    params.pop("n", None)  # a model's default n is the chat's, not a program's
    if n > 1:
        params["n"] = n
    estimate = math.ceil(estimate_tokens(texts) * model.prompt_ratio)
    estimate += images * settings.ATTACHMENT_IMAGE_TOKENS
    if estimate + min(params["max_tokens"], 64) > model.context_window:
        raise InvalidRequest(
            f"This request is about {estimate:,} tokens; {model.slug} reads at most "
            f"{model.context_window:,}, the reply included. Send fewer or shorter messages.",
            code="context_too_long",
        )
    return Asked(model, params, messages, n, stream, include_usage, estimate, images)


def _include_usage(options: Any, stream: bool) -> bool:
    if options is None:
        return False
    if not stream:
        raise InvalidRequest("'stream_options' is only allowed with 'stream': true.")
    if not isinstance(options, dict) or set(options) - {"include_usage"}:
        raise InvalidRequest("'stream_options' takes only 'include_usage'.")
    include = options.get("include_usage", False)
    if not isinstance(include, bool):
        raise InvalidRequest("'stream_options.include_usage' must be true or false.")
    return include


def _messages(raw: Any, model: ChatModel) -> tuple[list[dict[str, Any]], list[str], int]:
    """The messages as they go upstream, their texts (for the estimate), their images."""
    if not isinstance(raw, list) or not raw:
        raise InvalidRequest("'messages' must be a non-empty list.")
    if len(raw) > MAX_MESSAGES:
        raise InvalidRequest(f"'messages' may hold at most {MAX_MESSAGES:,} messages.")
    messages, texts, images = [], [], 0
    for i, message in enumerate(raw):
        where = f"messages[{i}]"
        if not isinstance(message, dict):
            raise InvalidRequest(f"'{where}' must be an object with 'role' and 'content'.")
        role = message.get("role")
        if role not in ROLES:
            raise InvalidRequest(
                f"'{where}.role' must be one of {', '.join(ROLES)}; {role!r} is not supported."
            )
        extra = sorted(set(message) - {"role", "content", "name"})
        if extra:
            raise InvalidRequest(f"Unsupported parameter: '{where}.{extra[0]}'.")
        content, text, pictures = _content(message.get("content"), role, model, where)
        texts.append(text)
        images += pictures
        messages.append({"role": role, "content": content})
    return messages, texts, images


def _content(content: Any, role: str, model: ChatModel, where: str) -> tuple[Any, str, int]:
    if isinstance(content, str):
        return content, _text(content, where), 0
    if not isinstance(content, list) or not content:
        raise InvalidRequest(f"'{where}.content' must be a text or a non-empty list of parts.")
    parts, texts, images = [], [], 0
    for j, part in enumerate(content):
        at = f"{where}.content[{j}]"
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            texts.append(_text(part.get("text"), f"{at}.text"))
            parts.append({"type": "text", "text": part["text"]})
        elif kind == "image_url" and role == "user":
            if not model.supports_vision:
                raise InvalidRequest(f"{model.slug} cannot read images ('{at}').")
            image = part.get("image_url")
            url = image.get("url") if isinstance(image, dict) else None
            if not isinstance(url, str) or not IMAGE_URL.fullmatch(url):
                raise InvalidRequest(
                    f"'{at}.image_url.url' must be a JPEG or PNG data URL, or an https URL."
                )
            detail = image.get("detail")
            if detail not in (None, "auto", "low", "high"):
                raise InvalidRequest(f"'{at}.image_url.detail' must be auto, low or high.")
            parts.append({"type": "image_url", "image_url": {"url": url, **_detail(detail)}})
            images += 1
        else:
            allowed = "text or image_url" if role == "user" else "text"
            raise InvalidRequest(f"'{at}.type' must be {allowed}.")
    return parts, "\n".join(texts), images


def _detail(detail: str | None) -> dict[str, str]:
    return {"detail": detail} if detail else {}


def _text(value: Any, where: str, most: int | None = None) -> str:
    most = most or settings.CHAT_MAX_MESSAGE_CHARS
    if not isinstance(value, str):
        raise InvalidRequest(f"'{where}' must be a text.")
    if len(value) > most:
        raise InvalidRequest(f"'{where}' is longer than {most:,} characters.")
    trouble = problem(value)
    if trouble:
        raise InvalidRequest(f"'{where}': {trouble}")
    return value
