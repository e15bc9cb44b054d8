"""How much a person keeps (text and attachments), against their plan's `storage_mb`.

Sends are bounded by the token quota already (a message is part of its prompt); forks and
imports store without spending tokens, so they are checked against a fresh count. The
count is an aggregate over the person's messages, kept in the cache for a few minutes so
that a send checks it for the price of a cache read.
"""

from __future__ import annotations

import json

from django.core.cache import cache
from django.db.models import Sum, TextField
from django.db.models.functions import Cast, Coalesce, Length
from django.utils.formats import number_format
from django.utils.translation import gettext

from conversations.files import MB
from conversations.models import Attachment, Message
from webchat.errors import StorageFull
from webchat.models import User

RECOUNT_SECONDS = 300


def _key(user: User) -> str:
    return f"storage-used:{user.pk}"


def used(user: User, *, fresh: bool = False) -> int:
    """Characters of text in the person's messages, their settings (a system prompt)
    included, and the bytes of their attachments' files, previews and text; a character
    counts as a byte."""
    if not fresh:
        cached = cache.get(_key(user))
        if cached is not None:
            return cached
    sizes = Message.objects.filter(conversation__owner=user).aggregate(
        total=Coalesce(Sum(Length("content")), 0)
        + Coalesce(Sum(Length("reasoning")), 0)
        + Coalesce(Sum(Length(Cast("params", TextField()))), 0)
    )
    files = Attachment.objects.filter(owner=user).aggregate(
        total=Coalesce(Sum("size"), 0)
        + Coalesce(Sum("preview_size"), 0)
        + Coalesce(Sum(Length("text")), 0)
    )
    total = sizes["total"] + files["total"]
    cache.set(_key(user), total, RECOUNT_SECONDS)
    return total


def size(message: Message) -> int:
    """What one message adds, counted as `used` counts it."""
    return len(message.content) + len(message.reasoning) + len(json.dumps(message.params))


def check(user: User, adding: int, *, fresh: bool = False) -> None:
    """StorageFull unless `adding` more characters fit in the person's allowance."""
    plan = user.plan
    if plan is None or plan.storage_mb is None:
        return
    limit = plan.storage_mb * MB
    now = used(user, fresh=fresh)
    if now + adding > limit:
        raise StorageFull(
            gettext(
                "Your storage is full: you keep %(used)s MB and your plan allows %(limit)s MB. "
                "Delete conversations you no longer need to make room."
            )
            % {
                "used": number_format(now / MB, 1, force_grouping=True),
                "limit": number_format(plan.storage_mb, force_grouping=True),
            }
        )


def stored(user: User) -> None:
    """Something was stored outside a send: the next check counts afresh."""
    cache.delete(_key(user))
