"""The arithmetic of quotas: estimates, windows, prices and the one rule for a reply's room.

Pure functions, no database: the ledger (`UsageRecord.objects` in webchat/models.py) applies
them to sums over its rows, and the composer applies the same rule to say whether a send
can go through before anything is sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, Protocol

from django.utils import timezone
from django.utils.translation import gettext

from webchat import moments
from webchat.errors import QuotaError

# Below this many tokens of room a reply is not worth starting (unless fewer were asked for).
MIN_REPLY_TOKENS = 64
MILLION = Decimal(1_000_000)


def estimate_tokens(texts: Iterable[str]) -> int:
    """A generous guess of the prompt's tokens (about 3 characters a token, plus framing)."""
    return sum(math.ceil(len(text) / 3) + 8 for text in texts)


class Written(Protocol):
    content: str
    reasoning: str
    # Leading characters of `content` not written by this reply (a continued version's
    # text so far, which went upstream as prompt).
    prefix_chars: int


def estimate_completion(replies: Iterable[Written]) -> int:
    """What replies cost when the upstream never said (stopped, failed, interrupted): the
    text they wrote, reasoning included, by the same estimate."""
    return estimate_tokens(r.content[r.prefix_chars :] + r.reasoning for r in replies if r.content)


def reply_tokens(room: int, prompt_tokens: int, n: int, asked: int) -> int:
    """The tokens each of `n` replies may be given, or 0 when none may start.

    `asked` is what the request asked for (already capped by the model and the plan). Near
    the limit a reply is given less rather than refused; only a lack of room refuses, so a
    small request is served as asked: 32 tokens asked with 40 left is 32 tokens.
    """
    if asked < 1:
        return 0
    fits = (room - prompt_tokens) // n
    granted = min(asked, fits)
    return granted if granted >= min(asked, MIN_REPLY_TOKENS) else 0


def price(
    prompt: int, completion: int, per_million_in: Decimal, per_million_out: Decimal
) -> Decimal:
    """The cost in USD of a call, at prices per million tokens."""
    return (prompt * per_million_in + completion * per_million_out) / MILLION


def day_start(now: datetime) -> datetime:
    """The plans' day began at midnight in the server's zone (settings.TIME_ZONE), whatever
    the zone a reader's page is shown in: no one moves their own day."""
    server = timezone.get_default_timezone()
    return timezone.localtime(now, server).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def next_day(now: datetime) -> datetime:
    return day_start(now) + timedelta(days=1)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


def quota_exceeded(left: dict[str, Any], now: datetime) -> QuotaError:
    """The refusal for too little room (`left`: UsageRecord.objects.remaining()), naming the
    limit that binds and when it renews."""
    if left["binding"] == "day":
        resets = left["resets_today"]
        sentence = gettext(
            "You have used your tokens for the day; they renew on %(at)s (%(zone)s)."
        )
    else:
        resets = left["resets_month"]
        sentence = gettext(
            "You have used your tokens for the month; they renew on %(at)s (%(zone)s)."
        )
    return QuotaError(
        sentence % {"at": moments.words(resets), "zone": timezone.get_current_timezone_name()},
        code="quota_exceeded",
        retry_after=math.ceil((resets - now).total_seconds()),
    )
