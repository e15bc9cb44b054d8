"""PostgreSQL and Redis for the second test pass and the multi-process tests.

`python -m tests.services` exits 0 when both answer, else prints why and exits 1.
"""

from __future__ import annotations

import os
import sys
import uuid
from urllib.parse import urlsplit, urlunsplit

POSTGRES_URL = os.environ.get(
    "WEBCHAT_TEST_POSTGRES", "postgres://postgres@127.0.0.1:5432/postgres"
)
REDIS_URL = os.environ.get("WEBCHAT_TEST_REDIS", "redis://127.0.0.1:6379")


def unavailable() -> str | None:
    """Why the services can't be used, or None when both answer."""
    try:
        import psycopg

        with psycopg.connect(_conninfo(POSTGRES_URL), connect_timeout=3) as db:
            db.execute("SELECT 1")
    except Exception as exc:
        return f"PostgreSQL at {POSTGRES_URL} does not answer ({exc.__class__.__name__})"
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=3).ping()
    except Exception as exc:
        return f"Redis at {REDIS_URL} does not answer ({exc.__class__.__name__})"
    return None


def _conninfo(url: str) -> str:
    return url.replace("postgres://", "postgresql://", 1)


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, f"/{name}", parts.query, parts.fragment))


def create_database(prefix: str = "webchat_live") -> str:
    """A new empty database; returns its URL."""
    import psycopg

    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as db:
        db.execute(f'CREATE DATABASE "{name}"')
    return with_database(POSTGRES_URL, name)


def drop_database(url: str) -> None:
    import psycopg

    name = urlsplit(url).path.lstrip("/")
    with psycopg.connect(_conninfo(POSTGRES_URL), autocommit=True) as db:
        db.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    reason = unavailable()
    if reason:
        print(reason)
        sys.exit(1)
