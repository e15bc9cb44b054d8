"""Summarize earlier messages: the model writes what the turns left out of its context
said, and the summary stands in for them from then on (conversations.context).

A real upstream call, reserved and settled in the ledger like a reply, made for a person
from the page (`POST /c/<id>/summarize/`). It covers what the next request would leave
out and the turns that fill the older half of the window, with the summary before them;
or, to retry a request the upstream found too long, everything before the last question.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from dataclasses import dataclass
from typing import Any

from channels.db import database_sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, JsonResponse
from django.utils.translation import gettext
from django.views.decorators.http import require_POST

from conversations import context
from conversations.forms import SummarizeForm
from conversations.models import Conversation, Message, Said, Summary
from conversations.turns import catalog_model
from webchat import sse
from webchat.calls import Call
from webchat.errors import InvalidRequest, NotFound, UpstreamError
from webchat.models import ChatModel, UsageRecord

# The most a summary may take of the model's reply.
MAX_TOKENS = 1_024
INSTRUCTION = (
    "You write summaries that stand in for the earlier part of a conversation between a "
    "person and an assistant, which will no longer be shown to the assistant. Keep what "
    "the conversation needs to go on: the person's goals and preferences, facts, names, "
    "numbers, decisions, code and its state, and open questions. Write it as notes in the "
    "conversation's language, at most about 400 words, without a preamble."
)
# A summary's row in the ledger is named so.
GENERATION = "summary."
ROLES = {"user": "Person", "assistant": "Assistant", context.SUMMARY: "Earlier summary"}


@dataclass
class Job:
    conversation: Conversation
    through: uuid.UUID
    covers: int
    call: Call


def prepare(
    conversation: Conversation,
    leaf: uuid.UUID,
    *,
    model: str | None = None,
    system: str = "",
    max_tokens: int | None = None,
    retry: bool = False,
) -> Job:
    """Choose what to summarize on the branch ending at `leaf` and reserve the call."""
    path = conversation.history(leaf)
    if not path:
        raise NotFound(gettext("That message does not exist."))
    chosen = catalog_model(model or next((m.model for m in _replies(conversation, path)), None))
    if retry:
        turns = context.turns_of(path)
        covered = [m for turn in turns[:-1] for m in turn]
    else:
        # What is left out, and the oldest turns that fill the older half of the window:
        # room for the summary, and for the conversation to go on.
        reply = min(max_tokens or chosen.max_output_tokens, chosen.max_output_tokens)
        try:
            window = context.fit(chosen, path, system, (chosen.context_window + reply) // 2)
        except InvalidRequest:
            window = context.fit(chosen, path, system, reply)
        covered = window.left_out
        if window.summary is not None:
            covered.insert(0, window.summary)  # the new summary takes in the old
    earlier = [m for m in covered if m.role != context.SUMMARY]
    if not earlier:
        raise InvalidRequest(
            gettext("There is nothing earlier to summarize: the model reads it all.")
        )
    previous = next((m for m in covered if m.role == context.SUMMARY), None)
    transcript = _transcript(chosen, covered)
    messages = [
        {"role": "system", "content": INSTRUCTION},
        {"role": "user", "content": transcript},
    ]
    estimate = math.ceil(context.tokens(INSTRUCTION + transcript) * chosen.prompt_ratio)
    length = _length(chosen)
    record = UsageRecord.objects.reserve(
        user=conversation.owner,
        chat_model=chosen,
        prompt_tokens=estimate,
        max_tokens=length,
        n=1,
        conversation=conversation.id,
        generation=f"{GENERATION}{uuid.uuid4().hex}",
    )
    covers = len(earlier)
    if previous is not None:
        covers += Summary.objects.get(through=previous.id).covers
    payload = {"model": chosen.upstream_id, "messages": messages, "max_tokens": record.max_tokens}
    return Job(conversation, earlier[-1].id, covers, Call(chosen, payload, record.id, estimate))


def _length(model: ChatModel) -> int:
    """The most a summary may be: MAX_TOKENS, and a quarter of the window at most."""
    return min(MAX_TOKENS, model.max_output_tokens, model.context_window // 4)


def _replies(conversation: Conversation, path: list[Said]) -> Any:
    """The replies of `path`, newest first: the model they were written by."""
    ids = [m.id for m in path if m.role == Message.Role.ASSISTANT]
    return conversation.messages.filter(pk__in=ids).exclude(model="").order_by("-created")


def _transcript(model: ChatModel, covered: list[Said]) -> str:
    """The covered messages as one text, the newest that fit the model's window (a
    previous summary first, when it fits too)."""
    room = model.context_window - _length(model) - context.tokens(INSTRUCTION)
    parts: list[str] = []
    used = 0
    for message in reversed(covered):
        part = f"{ROLES.get(message.role, message.role)}: {context.text_of(message)}"
        cost = math.ceil(context.tokens(part) * model.prompt_ratio)
        if used + cost > room:
            break
        used += cost
        parts.append(part)
    if not parts:
        raise InvalidRequest(
            gettext("The earlier messages are too long to summarize with this model.")
        )
    return "\n\n".join(reversed(parts))


async def run(job: Job) -> Summary:
    """Ask the model, settle the call, keep the summary (or raise the upstream's error).
    The call is settled whatever happens, the request cancelled (the person left) too."""
    text: list[str] = []
    error: UpstreamError | None = None
    status = "interrupted"
    try:
        async with asyncio.timeout(settings.GROK_TOTAL_TIMEOUT):
            async for event in job.call.events():
                if isinstance(event, sse.ContentDelta) and event.index == 0:
                    text.append(event.text)
        status = "complete" if "".join(text).strip() else "error"
    except UpstreamError as exc:
        error, status = exc, "error"
    except TimeoutError:
        error = UpstreamError(
            "upstream_unavailable", gettext("The summary took too long. Try again.")
        )
        status = "error"
    finally:
        written = "".join(text).strip()
        # Shielded: a cancelled request still settles what it reserved.
        settle = database_sync_to_async(job.call.settle)
        await asyncio.shield(settle(status, error, context.tokens(written)))
    if error is not None:
        raise error
    return await _keep(job, written)


@database_sync_to_async
def _keep(job: Job, text: str) -> Summary:
    if not text:
        raise UpstreamError(
            "upstream_protocol", gettext("The model wrote no summary. Please try again.")
        )
    through = Message.objects.filter(pk=job.through, conversation=job.conversation).first()
    if through is None:
        raise NotFound(gettext("Those messages were deleted meanwhile."))
    summary, _ = Summary.objects.update_or_create(
        through=through,
        defaults={
            "conversation": job.conversation,
            "content": text,
            "model": job.call.model.slug,
            "covers": job.covers,
        },
    )
    return summary


@require_POST
@login_required
async def summarize(request: HttpRequest, id: uuid.UUID) -> JsonResponse:
    """`leaf` (the message on screen), and the composer's `model`, `system` and
    `max_tokens`; `retry=1` to summarize all before the last question → the summary."""
    user = await request.auser()
    conversation = await Conversation.objects.owned_by(user).filter(pk=id).afirst()
    if conversation is None:
        raise Http404("No such conversation.")
    data = SummarizeForm(request.POST).valid()
    job = await database_sync_to_async(prepare)(conversation, data.pop("leaf"), **data)
    try:
        summary = await run(job)
    except UpstreamError as error:
        return JsonResponse(error.body(), status=502)
    return JsonResponse({"summary": summary.as_dict()})
