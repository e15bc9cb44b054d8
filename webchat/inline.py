"""Short database work of the chat's hot path, on the event loop's own thread when it can be.

Channels runs every database call in one database thread. On one core that costs twice:
a thread hop each way, and the interpreter's lock, which the thread gives up at every
statement and then waits for while the event loop streams (a 2 ms send took 4 to 10 ms
of wall time under load). On the embedded setup (SQLite, no Redis) a send is a few
statements on a local file, so it runs here, on the loop, where it costs only its own
CPU: every word of every reply waits for that CPU either way, since one core runs all
the Python. (A send is what people wait on; the end of a reply and its checkpoints stay
in the database thread, where they give way to the words.)

The loop must never wait long: on the database's work, on the disk or on a lock.
- A call still reading after BUDGET_SECONDS (a history of thousands of messages, the
  recount of a large account) is interrupted by SQLite and run again in the database
  thread, where it holds up no socket. Once it has written, it finishes here.
- A commit here never copies the write-ahead log into the database (a checkpoint, two
  fsyncs): the database thread's next commit does.
- The busy timeout is 0 here: a call that finds the database locked (another process, or
  this one's database thread, writing) is run again in the database thread, which waits
  its turn as before.

So a function given here must be safe to run again when its first run raised before it
wrote: its writes in one transaction, only reads before it, no query after the commit.
It must not call async code: `async_to_sync` would not see the hidden loop, and would
block it while a second loop ran.

PostgreSQL, or any setup with Redis, keeps them off the loop: there each statement is a
network round trip, which the loop must not wait for. On PostgreSQL they run in a pool of
threads, each on its connection kept open (`in_pool`), not in the one database thread: a
burst's sends then wait for their round trips together, not one after another, and one
send waiting for a lock (the same person's send in another process) holds up no other
person's: a person's sends in a process go one after another (`one_at_a_time`), so at most
one of them waits in the pool. SQLite with Redis keeps the database thread, its one writer
at a time.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Awaitable, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any, ParamSpec, TypeVar

from asgiref.sync import sync_to_async
from channels.db import database_sync_to_async
from django.conf import settings
from django.db import OperationalError, close_old_connections, connection

P = ParamSpec("P")
T = TypeVar("T")

# The longest the loop's thread works on the database for one call before it gives the work
# to the database thread instead (a send is about 2 ms; a very long history takes longer).
BUDGET_SECONDS = 0.025
# How often SQLite asks whether to go on, in its virtual machine's instructions.
_ASK_EVERY = 1000
# What the connection checkpoints at otherwise: SQLite's default, in pages of the log.
AUTOCHECKPOINT_PAGES = 1000


async def database(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    """fn(*args, **kwargs), on this thread where it can, else in the database thread."""
    if settings.DATABASE_ON_EVENT_LOOP and connection.vendor == "sqlite":
        try:
            return _here(fn, *args, **kwargs)
        except OperationalError as error:
            if "locked" not in str(error) and "interrupted" not in str(error):
                raise
    if connection.vendor != "sqlite":
        return await in_pool(fn)(*args, **kwargs)
    return await database_sync_to_async(fn)(*args, **kwargs)


def in_pool(fn: Callable[P, T]) -> Callable[P, Awaitable[T]]:
    """`fn` in a thread of the database's pool, on that thread's kept-open connection (a
    new thread, so a new connection, per call would cost more than its queries). A broken
    or old connection is replaced first. The pool is its own: calls waiting there for a
    lock leave asyncio's default threads (rendering, reading files) to their work."""

    def fresh(*args: P.args, **kwargs: P.kwargs) -> T:
        close_old_connections()
        return fn(*args, **kwargs)

    return sync_to_async(fresh, thread_sensitive=False, executor=_pool)


_pool = ThreadPoolExecutor(settings.DATABASE_THREADS, thread_name_prefix="database")
# One lock for each person sending in this process (while someone waits for it).
_senders: weakref.WeakValueDictionary[Any, asyncio.Lock] = weakref.WeakValueDictionary()


async def one_at_a_time(
    person: Any, fn: Callable[P, Awaitable[T]], *args: P.args, **kwargs: P.kwargs
) -> T:
    """await fn(*args, **kwargs), after the person's sends in this process before it: each
    locks the person's row anyway, so at most one of them waits in the pool for it (the
    person's send in another process holding it), and the others' sends have the rest of
    the pool. The turn is held until the work is done, even when its caller is cancelled
    (a socket closed): its thread goes on meanwhile."""
    lock = _senders.get(person)
    if lock is None:
        lock = _senders[person] = asyncio.Lock()
    await lock.acquire()
    try:
        work = asyncio.ensure_future(fn(*args, **kwargs))
    except BaseException:
        lock.release()
        raise
    work.add_done_callback(lambda done: lock.release())
    # Read even when its caller was cancelled: no "never retrieved" warning.
    work.add_done_callback(lambda done: done.cancelled() or done.exception())
    return await asyncio.shield(work)


def _here(fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
    with synchronous():
        connection.close_if_unusable_or_obsolete()  # as database_sync_to_async does
        connection.ensure_connection()
        raw = connection.connection
        raw.execute("PRAGMA busy_timeout = 0")
        raw.execute("PRAGMA wal_autocheckpoint = 0")
        deadline = time.perf_counter() + BUDGET_SECONDS
        unwritten = raw.total_changes

        def too_long() -> bool:
            # Only before the first write: what was read is read again in the database
            # thread; a transaction that has begun writing finishes here.
            return raw.total_changes == unwritten and time.perf_counter() > deadline

        raw.set_progress_handler(too_long, _ASK_EVERY)
        try:
            return fn(*args, **kwargs)
        finally:
            if connection.connection is raw:  # fn may have closed it
                raw.set_progress_handler(None, 0)
                raw.execute(f"PRAGMA busy_timeout = {_busy_ms()}")
                raw.execute(f"PRAGMA wal_autocheckpoint = {AUTOCHECKPOINT_PAGES}")


@contextmanager
def synchronous() -> Iterator[None]:
    """This thread as if it ran no event loop, meanwhile: Django refuses the ORM in a thread
    running one (code that blocks there by mistake), and gives async code a connection of
    its own. Here it is done on purpose, briefly, on the thread's one connection."""
    loop = asyncio.events._get_running_loop()
    asyncio.events._set_running_loop(None)
    try:
        yield
    finally:
        asyncio.events._set_running_loop(loop)


@contextmanager
def brief_lock_wait(ms: int = 100) -> Iterator[None]:
    """Meanwhile, SQLite gives up on a held lock after `ms`, not the busy timeout: for a
    write tried again later anyway, so the database thread, which serves every socket and
    page, is not held for the whole busy timeout by each try."""
    if connection.vendor != "sqlite":
        yield
        return
    connection.ensure_connection()
    connection.connection.execute(f"PRAGMA busy_timeout = {ms}")
    try:
        yield
    finally:
        if connection.connection is not None:
            connection.connection.execute(f"PRAGMA busy_timeout = {_busy_ms()}")


def _busy_ms() -> int:
    """The connection's own busy timeout (Django's `timeout` option, in seconds)."""
    return int(float(settings.DATABASES["default"].get("OPTIONS", {}).get("timeout", 5)) * 1000)
