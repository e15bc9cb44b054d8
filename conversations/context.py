"""What of a thread the model reads: as much as its context window holds beside the reply.

A request is the system prompt, then a summary of what came before (if one was made),
then the newest whole turns, oldest first; a turn is a person's message with the replies
under it. The person's newest turn always goes, with its images; then the summary; then
earlier turns, newest first, while they fit: turns are left out from the oldest, never
half a message. Earlier images go only where room is left (turns.py).
The same rule, in the same units, places the thread's "earlier messages are not sent"
marker and the composer's gauge (static/js/context.js reads the figures this module
puts on the page).

Tokens are the quota's estimate (webchat.quotas.estimate_tokens), multiplied by the
model's `prompt_ratio`: what the upstream really counted, learned from its replies.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.utils.formats import number_format
from django.utils.translation import gettext

from conversations import files
from conversations.models import Attachment, Said
from webchat.errors import InvalidRequest
from webchat.models import ChatModel
from webchat.quotas import estimate_tokens

SUMMARY = "summary"


def text_of(message: Said) -> str:
    """A message's text as the model reads it: its words, then each text file fenced."""
    if not message.files:
        return message.content  # most messages: every send reads every one of its thread
    documents = [
        files.fence(a.name, a.text) for a in message.files if a.kind == Attachment.Kind.TEXT
    ]
    return "\n\n".join(part for part in (message.content, *documents) if part)


def images_of(message: Said) -> list[Attachment]:
    return [a for a in message.files if a.kind == Attachment.Kind.IMAGE]


def tokens(text: str) -> int:
    """The plain estimate of one message's text (before the model's ratio)."""
    return estimate_tokens([text])


@dataclass
class Window:
    """What one request sends of `path`, and what it leaves out."""

    sent: list[Said]  # the summary (if it goes), then the newest whole turns
    left_out: list[Said]  # the oldest messages not sent (the summary too, if it does not fit)
    used: int  # the corrected estimate of the prompt: system, summary, turns, newest images
    room: int  # the most the prompt may be: the context window less the reply's tokens

    @property
    def summary(self) -> Said | None:
        return self.sent[0] if self.sent and self.sent[0].role == SUMMARY else None


def turns_of(path: Sequence[Said]) -> list[list[Said]]:
    """`path` cut before each person's message (a summary stands alone)."""
    turns: list[list[Said]] = []
    for message in path:
        if not turns or message.role in ("user", SUMMARY) or turns[-1][0].role == SUMMARY:
            turns.append([message])
        else:
            turns[-1].append(message)
    return turns


def fit(model: ChatModel, path: Sequence[Said], system: str, max_tokens: int) -> Window:
    """The newest whole turns of `path` that fit `model`'s context window with `system`
    and room for `max_tokens` of reply; raises InvalidRequest when even the newest turn
    does not."""
    ratio = model.prompt_ratio

    def cost(messages: Sequence[Said]) -> int:
        return math.ceil(sum(tokens(text_of(m)) for m in messages) * ratio)

    room = model.context_window - max_tokens
    turns = turns_of(path)
    newest = turns.pop() if turns else []
    images = len(images_of(newest[0])) if newest and model.supports_vision else 0
    used = cost(newest) + images * settings.ATTACHMENT_IMAGE_TOKENS
    used += math.ceil(tokens(system) * ratio) if system else 0
    if used > room:
        raise InvalidRequest(
            gettext(
                "This message is too long for %(model)s: about %(used)s tokens with the reply, "
                "and it reads at most %(room)s. Shorten it, or pick a model with a larger "
                "context."
            )
            % {
                "model": model.display_name,
                "used": number_format(used, force_grouping=True),
                "room": number_format(room, force_grouping=True),
            }
        )
    # A summary goes next (it stands for the oldest turns), then earlier turns, newest first.
    summary = turns.pop(0) if turns and turns[0][0].role == SUMMARY else []
    if summary and used + cost(summary) <= room:
        used += cost(summary)
    elif summary:
        turns.insert(0, summary)
        summary = []
    sent = list(newest)
    while turns and turns[-1][0].role != SUMMARY:
        more = cost(turns[-1])
        if used + more > room:
            break
        used += more
        sent[:0] = turns.pop()
    left_out = [m for turn in turns for m in turn]
    return Window(summary + sent, left_out, used, room)


def prompt_estimate(model: ChatModel, path: Sequence[Said], system: str) -> int:
    """What the next request of `path` would reserve for its prompt, at most."""
    try:
        return fit(model, path, system, model.max_output_tokens).used
    except InvalidRequest:
        return model.context_window
