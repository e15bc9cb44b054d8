"""The cache of the scaled-out setup (webchat/cache.py): every socket of a process reads
it through one Redis connection pool, not a connection of its own."""

import asyncio
import os
from contextvars import Context
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from asgiref.sync import sync_to_async
from django.core.cache import cache

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="runs in the PostgreSQL + Redis pass (make pytest-services)",
)


def connections_to(port: int) -> int:
    """This process's established TCP connections to `port`."""
    mine = set()
    for fd in os.listdir("/proc/self/fd"):
        try:
            mine.add(os.readlink(f"/proc/self/fd/{fd}"))
        except OSError:
            continue  # closed meanwhile
    count = 0
    for table in ("/proc/self/net/tcp", "/proc/self/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            remote_port = int(fields[2].rsplit(":", 1)[1], 16)
            established = fields[3] == "01"
            if remote_port == port and established and f"socket:[{fields[9]}]" in mine:
                count += 1
    return count


async def test_sockets_open_at_once_share_the_cache_s_redis_connections() -> None:
    port = urlsplit(os.environ["REDIS_URL"]).port or 6379
    # Each in a context of its own, as a websocket's consumer runs: not in this test's, whose
    # cache the fixtures made already, and which tasks it starts would share.
    await asyncio.create_task(sync_to_async(cache.get)("warm"), context=Context())
    before = connections_to(port)
    release = asyncio.Event()
    read = 0

    async def socket() -> None:
        nonlocal read
        await sync_to_async(cache.get)("storage-used:1")
        read += 1
        await release.wait()

    sockets = [asyncio.create_task(socket(), context=Context()) for _ in range(20)]
    while read < 20:
        await asyncio.sleep(0.01)
    during = connections_to(port)
    release.set()
    await asyncio.gather(*sockets)
    assert during - before <= 1, f"{during - before} new Redis connections for 20 sockets"
