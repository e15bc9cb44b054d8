"""A turn: what a person asked for, turned into stored messages, a reservation and a payload.

Database and quota work only, synchronous, in one transaction: the websocket calls it
through `generation.start()`, and any other door (an HTTP API) can call it the same way.
The async runtime that then streams the reply is `conversations.generation`.
"""

from __future__ import annotations

import base64
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils.translation import gettext

from conversations import context, storage
from conversations.models import Attachment, Conversation, Message, Said
from webchat import grok, sql
from webchat.errors import InvalidRequest, ModelUnavailable, NotFound
from webchat.models import ChatModel, UsageRecord, User

# Where a new message goes: after the message on screen (the conversation's current leaf).
AFTER_LEAF = "leaf"
# How a summary of the turns left out is put to the model, after the system prompt.
SUMMARY_PREFACE = "Summary of the earlier part of this conversation, which is not shown:\n\n"
# The settings a person chooses per message (conversations/forms.py); everything else that
# goes upstream comes from the model's defaults, applied afresh on every turn.
PERSONAL = ("system", "temperature", "max_tokens")
# What gave a reply fewer tokens than asked (Message.limited_by): the person's allowance.
ALLOWANCE = "allowance"


@dataclass(frozen=True)
class TurnRequest:
    """A new message (`content`) or, with `regenerate`, new replies to an existing one.

    `parent` places a new message: AFTER_LEAF, a message id (an edit branches there), or
    None (a new first message). `params` are the person's (system, temperature, max_tokens);
    the model's defaults fill the rest. A regenerate without `params` keeps the reply's
    own; with them, they are the settings as they are now (one left out is the model's
    default). `n` candidates; None keeps a regenerated reply's.
    With `continue_from`, a reply cut short goes on: a new version of it that starts with
    its text, the model asked to carry on from there. `attachments` are the ids of the
    person's uploads in this conversation that go with a new message; `client_id` is the
    page's name for its send, kept with it.
    """

    content: str | None = None
    attachments: tuple[uuid.UUID, ...] = ()
    parent: uuid.UUID | str | None = AFTER_LEAF
    regenerate: uuid.UUID | None = None
    continue_from: uuid.UUID | None = None
    model: str | None = None
    params: dict[str, Any] | None = None
    n: int | None = None
    client_id: str | None = None


@dataclass
class Turn:
    """What the consumer needs to announce a turn and the generation to run it."""

    user_message: dict[str, Any] | None
    reply_ids: list[str]
    model: ChatModel
    payload: dict[str, Any]
    usage_record: int
    # A continued reply's text so far: the first thing its new version says.
    prefix: str = ""
    # The payload names these images; inline_images() puts their data in, off this thread.
    images: int = 0
    # The prompt's estimated tokens (reserved), to learn from what the upstream counts.
    estimate: int = 0
    # ALLOWANCE when the person's allowance gave the replies fewer tokens than asked.
    limited_by: str = ""


def begin(conversation: Conversation, request: TurnRequest, channel: str) -> Turn:
    """Store the turn and reserve its tokens at once, or raise a ChatError and store nothing."""
    conversation.current_leaf_id, conversation.title = _leaf_and_title(conversation)
    if request.continue_from is not None:
        return _continue(conversation, request.continue_from, channel)
    if request.regenerate is not None:
        target = conversation.messages.filter(pk=request.regenerate).first()
        if target is None:
            raise NotFound(gettext("That message does not exist."))
        parent = target if target.role == Message.Role.USER else target.parent
        if parent is None:
            raise InvalidRequest(gettext("That message has nothing to answer."))
        model = catalog_model(request.model or target.model or None)
        # What the person chose for that reply, not the defaults of the model it came from.
        kept = {k: v for k, v in (target.params or {}).items() if k in PERSONAL}
        n = min(request.n or int((target.params or {}).get("n") or 1), settings.CHAT_MAX_CANDIDATES)
        params = _params(model, kept if request.params is None else request.params, n)
        history = conversation.history(parent.id)
        # The question's own images, as a send of it is held to: never dropped unsaid.
        if history and history[-1].files:
            _readable_by(model, history[-1].files, regenerating=True)
        return _store(conversation, history, None, model, params, channel)
    model = catalog_model(request.model)
    if request.parent == AFTER_LEAF:
        history = conversation.history(conversation.current_leaf_id)
    elif request.parent is not None:
        history = conversation.history(uuid.UUID(str(request.parent)))
        if not history:
            raise NotFound(gettext("The message you replied to does not exist."))
    else:
        history = []
    params = _params(model, request.params or {}, request.n or 1)
    sent = _attachments(conversation, request.attachments, model)
    return _store(
        conversation,
        history,
        request.content or "",
        model,
        params,
        channel,
        sent,
        client_id=request.client_id,
    )


def _leaf_and_title(conversation: Conversation) -> tuple[Any, str]:
    """The conversation's message on screen and title as stored now (another tab may have
    moved it): written out, as every send asks (refresh_from_db cost ten times the query)."""
    key = Conversation._meta.pk.get_db_prep_value(conversation.pk, connection)
    with connection.cursor() as cursor:
        cursor.execute(_LEAF_AND_TITLE_SQL, [key])
        row = cursor.fetchone()
    if row is None:  # deleted (in another tab) since the socket opened
        raise NotFound(gettext("This conversation no longer exists."))
    leaf, title = row
    return (None if leaf is None else uuid.UUID(str(leaf))), title


_LEAF_AND_TITLE_SQL = "SELECT current_leaf_id, title FROM conversations_conversation WHERE id = %s"


def _attachments(
    conversation: Conversation, ids: Sequence[uuid.UUID], model: ChatModel
) -> list[Attachment]:
    """The uploads a new message names, in its order: the person's own, in this
    conversation; images only for a model that reads them."""
    if not ids:
        return []
    found = {a.id: a for a in conversation.attachments.filter(pk__in=ids)}
    if len(found) < len(set(ids)):
        raise NotFound(gettext("An attached file was not found: attach it again."))
    chosen = [found[i] for i in dict.fromkeys(ids)]
    _readable_by(model, chosen)
    return chosen


def _readable_by(
    model: ChatModel, files: Sequence[Attachment], *, regenerating: bool = False
) -> None:
    if model.supports_vision or all(a.kind != Attachment.Kind.IMAGE for a in files):
        return
    if regenerating:  # a sent message's images stay: only the model can change
        said = gettext(
            "%(model)s cannot read images, and this question has some: regenerate the "
            "reply with a model that can."
        )
    else:
        said = gettext("%(model)s cannot read images. Pick a model that can, or remove the images.")
    raise InvalidRequest(said % {"model": model.display_name})


def _continue(conversation: Conversation, target_id: uuid.UUID, channel: str) -> Turn:
    target = conversation.messages.filter(pk=target_id, role=Message.Role.ASSISTANT).first()
    if target is None or target.parent_id is None:
        raise NotFound(gettext("That reply does not exist."))
    if target.status == Message.Status.STREAMING:
        raise InvalidRequest(gettext("That reply is still being written."))
    cut = target.finish_reason == "length" or target.status in (
        Message.Status.STOPPED,
        Message.Status.INTERRUPTED,
        Message.Status.ERROR,  # the model service failed partway
    )
    if not cut:
        raise InvalidRequest(gettext("Only a reply that was cut short can be continued."))
    if not target.content:
        raise InvalidRequest(gettext("That reply has nothing to continue from."))
    model = catalog_model(target.model or None)
    # Its settings, but not the max_tokens that cut it: the model's (and the plan's) limit.
    kept = {k: v for k, v in (target.params or {}).items() if k in PERSONAL}
    kept.pop("max_tokens", None)
    history = conversation.history(target.parent_id)
    # The reply so far goes upstream as the assistant's last message: the model carries on.
    history.append(Said(target.id, Message.Role.ASSISTANT, target.content))
    params = _params(model, kept, 1)
    return _store(conversation, history, None, model, params, channel, prefix=target.content)


def _store(
    conversation: Conversation,
    history: list[Said],
    content: str | None,
    model: ChatModel,
    params: dict[str, Any],
    channel: str,
    sent: Sequence[Attachment] = (),
    prefix: str = "",
    client_id: str | None = None,
) -> Turn:
    """Reserve, then store a new message (`content`, with the files `sent`) or new replies
    to the last of `history` (with a `prefix`, to the one before it: the last is the reply
    being continued).

    `params` are the person's; the model's current defaults fill in the rest of what goes
    upstream, and are not stored with the messages."""
    n = params["n"]
    asked = {**model.defaults(), **params}
    max_tokens = min(
        int(asked.get("max_tokens") or model.max_output_tokens), model.max_output_tokens
    )
    # The parent by its id alone: no query.
    answered = history[:-1] if prefix else history
    parent = Message(id=answered[-1].id, conversation=conversation) if answered else None
    path = history if content is None else [*history, Said(None, "user", content, tuple(sent))]
    system = asked.get("system") or ""
    messages, images, estimate = _messages(model, path, system, max_tokens)
    # Files an edit keeps are copied onto the new message: they count again.
    copied = sum(f.bytes_kept for f in sent if f.message_id is not None)
    stores = len(content or prefix) + copied
    with transaction.atomic():
        # A QuotaError reaches the person as an `error` frame, and nothing is stored.
        record = UsageRecord.objects.take(
            user=User(pk=conversation.owner_id),
            chat_model=model,
            prompt_tokens=estimate,
            max_tokens=max_tokens,
            n=n,
            conversation=conversation.id,
            generation=channel,
            check=lambda person: storage.check(person, stores),
        )
        # What was reserved bounds what is asked: max_tokens always goes upstream. Cut for
        # lack of allowance, the replies keep what the person asked (a regeneration once
        # the allowance renews asks it again) and the reason for a shorter one.
        if record.shortened:
            params = {**params, "limited_by": ALLOWANCE}
        else:
            params = {**params, "max_tokens": record.max_tokens}
        asked["max_tokens"] = record.max_tokens
        options = {"model": model.slug, "params": params, "n": n, "channel": channel}
        user_message = None
        if content is not None:
            user_message, replies = conversation.add_turn(
                content=content, parent=parent, files=sent, client_id=client_id, **options
            )
        else:
            assert parent is not None
            replies = conversation.add_regeneration(parent=parent, content=prefix, **options)
    if prefix:
        storage.stored(record.user)  # a whole copy at once: count afresh next time
    announced = None
    if user_message is not None:
        # What the model reads of it, files included: the page's context gauge counts it.
        announced = {**user_message.as_dict(), "tokens": context.tokens(context.text_of(path[-1]))}
    return Turn(
        announced,
        [str(r.id) for r in replies],
        model,
        _payload(model, messages, asked),
        record.id,
        prefix,
        images,
        estimate,
        ALLOWANCE if record.shortened else "",
    )


def _params(model: ChatModel, requested: dict[str, Any], n: int) -> dict[str, Any]:
    """What the person asked for, within the model's limits."""
    params = {k: v for k, v in requested.items() if k in PERSONAL and v is not None}
    if "max_tokens" in params:
        params["max_tokens"] = min(int(params["max_tokens"]), model.max_output_tokens)
    params["n"] = n
    return params


def _messages(
    model: ChatModel, path: Sequence[Said], system: str, max_tokens: int
) -> tuple[list[dict[str, Any]], int, int]:
    """The messages that go upstream, how many images they carry, and their estimate.

    What fits the model's context window goes (conversations.context): a summary joins the
    system prompt. A message with images becomes content parts: its text, then each image,
    named here by its Attachment (inline_images() makes it a data URL: the files are read
    by the generation, not in the database's thread). The API keeps nothing between calls,
    so earlier images go again, the newest first, as many as the room left holds; an image
    left out (or any image, to a model that cannot read them) is named in the text."""
    window = context.fit(model, path, system, max_tokens)
    estimate = window.used
    if window.summary is not None:
        system = "\n\n".join(p for p in (system, SUMMARY_PREFACE + window.summary.content) if p)
    sent = [m for m in window.sent if m.role != context.SUMMARY]
    newest = context.turns_of(sent)[-1][0] if sent else None  # its images were counted
    room = (window.room - window.used) // settings.ATTACHMENT_IMAGE_TOKENS
    images = 0
    messages: list[dict[str, Any]] = []
    for message in reversed(sent):
        if message.role == Message.Role.ASSISTANT and not message.content:
            continue  # a failed reply has nothing to say
        text, parts = context.text_of(message), []
        for image in context.images_of(message):
            if model.supports_vision and (message is newest or room > 0):
                parts.append({"type": "image_url", "image_url": {"url": image}})
                if message is not newest:
                    room -= 1
                    estimate += settings.ATTACHMENT_IMAGE_TOKENS
            else:
                text += f"\n\n[An image, “{image.name}”, was attached here; it is not shown.]"
        images += len(parts)
        content: Any = ([{"type": "text", "text": text}] if text else []) + parts if parts else text
        messages.append({"role": message.role, "content": content})
    if system:
        messages.append({"role": "system", "content": system})
    messages.reverse()
    return messages, images, estimate


def inline_images(payload: dict[str, Any]) -> dict[str, Any]:
    """The payload with each image's file read into a data URL (blocking: a worker thread)."""
    for message in payload["messages"]:
        for part in message["content"] if isinstance(message["content"], list) else ():
            if isinstance(url := part.get("image_url", {}).get("url"), Attachment):
                part["image_url"]["url"] = data_url(url)
    return payload


def data_url(image: Attachment) -> str:
    with image.file.open("rb") as stored:
        encoded = base64.b64encode(stored.read()).decode()
    return f"data:{image.content_type};base64,{encoded}"


def _payload(
    model: ChatModel, messages: list[dict[str, Any]], params: dict[str, Any]
) -> dict[str, Any]:
    payload: dict[str, Any] = {"model": model.upstream_id, "messages": messages}
    # Every parameter the upstream takes goes along (the admin refuses any other).
    for key in grok.PARAMS:
        if params.get(key) is not None:
            payload[key] = params[key]
    return payload


_ENABLED_MODEL_SQL = "SELECT * FROM webchat_chatmodel WHERE enabled = %s AND slug = %s"
# The catalog's first enabled model, in its order (ChatModel.Meta.ordering).
_DEFAULT_MODEL_SQL = (
    "SELECT * FROM webchat_chatmodel WHERE enabled = %s ORDER BY position, slug LIMIT 1"
)


def catalog_model(slug: str | None) -> ChatModel:
    # Written out: every send asks, and the ORM's query cost three times this one.
    if slug is None:
        for model in sql.select(ChatModel, _DEFAULT_MODEL_SQL, [True]):
            return model
        raise ModelUnavailable(gettext("No model is enabled on this site."))
    for model in sql.select(ChatModel, _ENABLED_MODEL_SQL, [True, slug]):
        return model
    # By the name people know it by, if the catalog has it (disabled) at all.
    known = ChatModel.objects.filter(slug=slug).values_list("display_name", flat=True).first()
    raise ModelUnavailable(
        gettext("The model “%(model)s” is not available.") % {"model": known or slug}
    )
