"""One Redis connection pool per process for Django's cache.

Django keeps a cache backend per async context (asgiref's Local), and its Redis backend
makes a connection pool per backend. Under ASGI every websocket and request runs in a
context of its own, so each one's first cache read opened a new connection to Redis (a
TCP handshake and the client's greetings, several round trips), and the pools it left
held their connections until collected. Here every backend of the process with the same
address and options shares one pool, which redis-py makes safe across threads and resets
in a forked child.
"""

from __future__ import annotations

import threading
from typing import Any

import redis

_pools: dict[tuple[str, str], redis.ConnectionPool] = {}
_lock = threading.Lock()


class SharedConnectionPool(redis.ConnectionPool):
    @classmethod
    def from_url(cls, url: str, **options: Any) -> redis.ConnectionPool:
        key = (url, repr(sorted(options.items())))
        with _lock:
            pool = _pools.get(key)
            if pool is None:
                pool = _pools[key] = super().from_url(url, **options)
            return pool
