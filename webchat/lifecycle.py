"""A process asked to stop drains first (webchat/serve.py): it takes no new sends, tells
its sockets to reconnect (the browser resumes on another process), and lets its replies
in flight finish, within SHUTDOWN_GRACE_SECONDS. While it runs, it sweeps up after
processes that died without draining."""

from __future__ import annotations

import asyncio
import logging
import random
import weakref
from typing import Any

log = logging.getLogger(__name__)

# "This process is restarting": the browser reconnects, and lands on another process.
# (RFC 6455's 1012 says the same, but autobahn, under daphne, may not send it.)
CLOSE_RESTARTING = 4503

sockets: weakref.WeakSet[Any] = weakref.WeakSet()
# The API's calls in flight (api.views): their tasks, waited for like replies.
calls: weakref.WeakSet[Any] = weakref.WeakSet()
draining = False


async def sweep_forever() -> None:
    """Every CHAT_SWEEP_SECONDS, end what a process that died (killed, crashed) left
    running: its replies, once their lease has run out and their generation does not
    answer, are marked interrupted with their last checkpoint's text, and their calls and
    its API calls are settled. Until then their reservations counted against their
    people's plans, and a reply showed as being written to anyone opening its
    conversation. Every process sweeps; each ending is written once (only a row still
    streaming, or still running, is changed)."""
    from django.conf import settings

    while not draining:
        await asyncio.sleep(settings.CHAT_SWEEP_SECONDS * random.uniform(0.8, 1.2))
        try:
            await sweep()
        except Exception:
            log.exception("the sweep for abandoned replies failed; trying at the next")


async def sweep() -> None:
    from channels.db import database_sync_to_async
    from django.utils import timezone

    from conversations import generation
    from conversations.models import Message
    from webchat.models import UsageRecord

    stale = await database_sync_to_async(Message.objects.stale_channels)()
    dead = await generation.end_dead(stale)
    calls = await database_sync_to_async(UsageRecord.objects.settle_abandoned)(timezone.now())
    if dead or calls:
        log.info("swept %d dead generations' replies and %d abandoned calls", len(dead), calls)
