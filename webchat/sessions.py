"""A login session as something that can end under a socket or a reply.

A socket or a reply outlives the request that started it: it joins its session's group
(logout closes it through there) and watches the session's expiry.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from django.contrib.sessions.models import Session
from django.utils import timezone


def group(session_key: str) -> str:
    """The channel-layer group of everything one session keeps open (its sockets, its
    replies): named by a digest, so no session key travels through the layer."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def expires(session_key: str | None) -> datetime | None:
    """When the session expires (None: unknown or already gone)."""
    if not session_key:
        return None
    row = Session.objects.filter(pk=session_key, expire_date__gt=timezone.now()).first()
    return row.expire_date if row is not None else None
