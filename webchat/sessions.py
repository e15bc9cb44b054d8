"""A login session as something that can end under a socket or a reply.

A socket or a reply outlives the request that started it: it joins its session's group
and watches the session's expiry. The session store below tells that group whenever a
session is deleted: a logout, a login over it (another person in the same browser), a
new key at login or after a password change.

SESSION_ENGINE names this module: Django's database sessions, plus that one message.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.contrib.sessions.backends.db import SessionStore as DatabaseStore
from django.contrib.sessions.models import Session
from django.db import connections
from django.utils import timezone

from webchat import sql


def group(session_key: str) -> str:
    """The channel-layer group of everything one session keeps open (its sockets, its
    replies): named by a digest, so no session key travels through the layer."""
    return "session." + hashlib.sha256(session_key.encode()).hexdigest()[:40]


def expires(session_key: str | None) -> datetime | None:
    """When the session expires (None: unknown or already gone)."""
    row = _live(session_key) if session_key else None
    return row.expire_date if row is not None else None


def _live(session_key: str) -> Session | None:
    """The session's row, unless it has expired. Written out: every request and socket
    asks, and the ORM's query cost more than this one."""
    connection = connections[Session.objects.db]
    table = connection.ops.quote_name(Session._meta.db_table)
    found = sql.select(
        Session,
        f"SELECT * FROM {table} WHERE session_key = %s AND expire_date > %s",  # noqa: S608
        [session_key, timezone.now()],
        using=Session.objects.db,
    )
    return found[0] if found else None


class SessionStore(DatabaseStore):
    def _get_session_from_db(self) -> Session | None:
        row = _live(self.session_key)
        if row is None:
            self._session_key = None
        return row

    def delete(self, session_key: str | None = None) -> None:
        key = session_key or self.session_key
        super().delete(session_key)
        if key:
            ended(key)

    async def adelete(self, session_key: str | None = None) -> None:
        """As delete(), for a session ended on the event loop (a page's request finding
        the person's password changed behind it)."""
        key = session_key or self.session_key
        await super().adelete(session_key)
        if key:
            await aended(key)


def ended(session_key: str) -> None:
    """Every socket of the session closes (4401); every reply it started stops."""
    async_to_sync(aended)(session_key)


async def aended(session_key: str) -> None:
    from conversations import frames

    event = {"type": frames.REVOKED, "code": frames.CLOSE_NOT_LOGGED_IN}
    await get_channel_layer().group_send(group(session_key), event)
