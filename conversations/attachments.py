"""Attachments over HTTP: upload one before its message is sent, remove it unsent, and read
one back (its owner, or a reader of a live share whose snapshot holds it).

An upload is decoded and re-encoded (conversations/files.py) in a process of its own,
bounded in time and memory, ATTACHMENT_DECODERS at a time per server process. The `send`
frame then names the uploads that go with the message (conversations/turns.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
import weakref
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import PurePath
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import (
    FileResponse,
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseNotModified,
    JsonResponse,
)
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext, gettext_lazy
from django.views.decorators.http import require_POST, require_safe

from conversations import context, files, storage
from conversations.models import Attachment, Conversation, Share
from conversations.views import conversation_for
from webchat.errors import ChatError, InvalidRequest, Unavailable
from webchat.models import User

# The multipart envelope around the file.
ENVELOPE = 64 * 1024


@require_POST
@login_required
async def upload(request: HttpRequest, id: uuid.UUID) -> JsonResponse:
    """`file` (multipart) → 201 with the attachment, or 400/413 with a sentence."""
    user = await request.auser()
    conversation = await Conversation.objects.owned_by(user).filter(pk=id).afirst()
    if conversation is None:
        raise Http404("No such conversation.")
    limit = round(settings.ATTACHMENT_MAX_MB * files.MB)
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit + ENVELOPE:
        raise files.TooLarge(
            gettext("That file is over the limit of %(mb)s MB.")
            % {"mb": f"{settings.ATTACHMENT_MAX_MB:g}"}
        )
    async with _reading(user.pk):
        # Read into memory only once its turn has come (waiting, it stays on disk).
        name, data = await sync_to_async(_read_upload, thread_sensitive=False)(request)
        # Cancelled (the client left), the reading process is killed before this returns.
        processed = await files.process_apart(name, data, files.Limits.from_settings())
    attachment = await sync_to_async(_keep)(user, conversation.pk, name, processed)
    # What the model will read of a text file or PDF: the composer's context gauge counts it.
    text = files.fence(attachment.name, attachment.text) if attachment.text else ""
    return JsonResponse(
        {**attachment.as_dict(), "tokens": context.tokens(text) if text else 0}, status=201
    )


class _Gate:
    """Reading a large image takes a core and a few hundred MB: a few files at once per
    process (per event loop) and a few waiting their turn. One person's files take their
    turns a few at a time (the rest of theirs wait apart), so that one person cannot take
    every place, nor fill the queue others wait in."""

    def __init__(self) -> None:
        self.readers = asyncio.Semaphore(settings.ATTACHMENT_DECODERS)
        self.waiting = 0
        self.people: dict[Any, asyncio.Semaphore] = {}
        self.uploads: Counter[Any] = Counter()  # each person's files in flight


BUSY = gettext_lazy("Many files are being read just now. Please attach it again shortly.")
_gates: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _Gate] = weakref.WeakKeyDictionary()


@contextlib.asynccontextmanager
async def _reading(person: Any) -> AsyncIterator[None]:
    gate = _gates.setdefault(asyncio.get_running_loop(), _Gate())
    if gate.uploads[person] >= settings.ATTACHMENTS_PER_MESSAGE:
        raise ChatError(
            gettext("Your other files are still being read. Attach this one again in a moment."),
            code="rate_limited",
            retry_after=2,
        )
    turns = gate.people.setdefault(
        person, asyncio.Semaphore(settings.ATTACHMENT_DECODES_PER_PERSON)
    )
    gate.uploads[person] += 1
    try:
        async with turns:  # the person's own turn first, then a place among everyone's
            if gate.readers.locked() and gate.waiting >= settings.ATTACHMENT_DECODE_QUEUE:
                raise Unavailable(str(BUSY))
            gate.waiting += 1
            try:
                async with asyncio.timeout(settings.ATTACHMENT_DECODE_SECONDS):
                    await gate.readers.acquire()
            except TimeoutError:
                raise Unavailable(str(BUSY)) from None
            finally:
                gate.waiting -= 1
            try:
                yield
            finally:
                gate.readers.release()
    finally:
        gate.uploads[person] -= 1
        if not gate.uploads[person]:
            del gate.uploads[person], gate.people[person]


def _read_upload(request: HttpRequest) -> tuple[str, bytes]:
    upload = request.FILES.get("file")
    if upload is None:
        raise InvalidRequest(gettext("Send the file as the multipart field “file”."))
    return files.display_name(upload.name or "file"), upload.read()


def _keep(user: Any, conversation_id: uuid.UUID, name: str, processed: files.Processed) -> Any:
    """The file stored and its row written, or neither: a conversation (or person) deleted
    while the file was being read leaves nothing behind."""
    saved: list[str] = []
    try:
        with transaction.atomic():
            # One upload of a person's at a time is counted: two at once would pass the
            # same count. The conversation is locked against its deletion meanwhile.
            if User.objects.select_for_update().filter(pk=user.pk).first() is None:
                raise Http404("No such person.")
            conversation = (
                Conversation.objects.select_for_update()
                .filter(pk=conversation_id, owner=user)
                .first()
            )
            if conversation is None:
                raise Http404("No such conversation.")
            storage.check(user, processed.bytes_kept, fresh=True)
            attachment = Attachment.of(
                processed, name, saved, owner=user, conversation=conversation
            )
            attachment.save()
    except BaseException:
        for stored in saved:  # the row was not committed (even at COMMIT): its files go too
            Attachment.file.field.storage.delete(stored)
        raise
    storage.stored(user)
    return attachment


@require_POST
@login_required
def remove(request: HttpRequest, id: uuid.UUID, attachment_id: uuid.UUID) -> JsonResponse:
    """An upload taken out of the composer before its message was sent."""
    conversation = conversation_for(request, id)
    if not conversation.attachments.filter(pk=attachment_id).delete_unsent():
        raise Http404("No such file, or it was sent.")
    storage.stored(request.user)
    return JsonResponse({"removed": str(attachment_id)})


@require_safe
def download(
    request: HttpRequest, id: uuid.UUID, attachment_id: uuid.UUID, preview: bool = False
) -> HttpResponse:
    """The file (or its preview), for its owner only: anyone else, logged in or not, gets
    404."""
    if not request.user.is_authenticated:
        raise Http404("No such file.")
    attachment = get_object_or_404(
        Attachment, pk=attachment_id, conversation_id=id, conversation__owner=request.user
    )
    return _serve(request, attachment, preview)


@require_safe
def shared(
    request: HttpRequest, token: str, attachment_id: uuid.UUID, preview: bool = False
) -> HttpResponse:
    """A file of a shared conversation, while the link is live and only if the snapshot
    holds the message it was sent with."""
    share = get_object_or_404(Share.objects.active(), token=token)
    attachment = get_object_or_404(
        Attachment, pk=attachment_id, conversation_id=share.conversation_id, message__isnull=False
    )
    rows = share.conversation.messages.values_list("id", "parent_id")
    parents = dict(rows)
    node = share.leaf_id
    while node is not None and node != attachment.message_id:
        node = parents.get(node)
    if node is None:
        raise Http404("No such file.")
    return _serve(request, attachment, preview)


def _serve(request: HttpRequest, attachment: Attachment, preview: bool = False) -> HttpResponse:
    """Its own type, never sniffed; images inline, other files as downloads under the name
    of what they are; and a policy under which nothing in the file could run even if a
    browser tried. The browser asks again each time (the access checks run again: a revoked
    link, a logout), and a file it has already is answered 304: a file never changes."""
    if preview and not attachment.preview:
        raise Http404("No such preview.")
    tag = f'"{attachment.id}-preview"' if preview else f'"{attachment.id}"'
    if request.headers.get("If-None-Match") == tag:
        response: HttpResponse = HttpResponseNotModified()
    else:
        if preview:
            response = FileResponse(
                attachment.preview.open("rb"),
                content_type="image/webp",
                filename=PurePath(attachment.name).stem + ".webp",
            )
        else:
            response = FileResponse(
                attachment.file.open("rb"),
                content_type=attachment.content_type,
                as_attachment=attachment.kind != Attachment.Kind.IMAGE,
                filename=attachment.download_name,
            )
        response["X-Content-Type-Options"] = "nosniff"
        response["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response["ETag"] = tag
    response["Cache-Control"] = "private, no-cache"
    return response
