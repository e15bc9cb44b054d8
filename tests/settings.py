"""The project's settings, made fast and quiet for the test suite."""

import os
from urllib.parse import urlsplit, urlunsplit

os.environ.setdefault("SECRET_KEY", "tests-only-" + "x" * 50)

# `make test` runs the suite in parallel workers (pytest-xdist: gw0, gw1…). Each has a Redis
# database of its own from the one REDIS_URL names up (a test's cache.clear() empties a whole
# database) and a prefix of its own (pub/sub channels are shared by every database). Its live
# servers use that database with a prefix each (conftest.serving); a subprocess loading these
# settings again keeps them as they are.
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
if WORKER and os.environ.get("REDIS_URL") and os.environ.get("WEBCHAT_TEST_WORKER") != WORKER:
    os.environ["WEBCHAT_TEST_WORKER"] = WORKER
    _redis = urlsplit(os.environ["REDIS_URL"])
    _db = int(_redis.path.lstrip("/") or 0) + int(WORKER.removeprefix("gw"))
    os.environ["REDIS_URL"] = urlunsplit(_redis._replace(path=f"/{_db}"))
    os.environ["REDIS_PREFIX"] = f"{os.environ.get('REDIS_PREFIX', 'webchat')}-{WORKER}"

from webchat.settings import *  # noqa: E402, F403

# Tests start their own simulator on a loopback port and point GROK_API_BASE at it.
GROK_SIMULATOR = "off"
GROK_RETRY_BASE = 0.01
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
STATIC_ROOT = None  # whitenoise serves from the finders; nothing is collected
WHITENOISE_USE_FINDERS = True
# Attachments' files of the test run, in a folder of its own.
MEDIA_ROOT = BASE_DIR / ".test-media"  # noqa: F405
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
# Generous: the tests of a limit lower it for themselves.
RATE_LIMITS = dict.fromkeys(RATE_LIMITS, "10000/m")  # noqa: F405
LOGGING = {"version": 1, "disable_existing_loggers": False}

if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":  # noqa: F405
    # A file, not the shared in-memory database: concurrency tests need real locking
    # (busy timeout, IMMEDIATE transactions) between connections of several threads.
    _test_db = BASE_DIR / ".test-db.sqlite3"  # noqa: F405
    DATABASES["default"]["TEST"] = {"NAME": str(_test_db)}  # noqa: F405
    # pytest-django gives each worker its own copy: .test-db.sqlite3_gw0…
    _worker_db = _test_db.with_name(f"{_test_db.name}_{WORKER}") if WORKER else _test_db
    # Without WAL: Django drops the test database file but would leave a WAL file behind,
    # which SQLite would then replay into the next run's new database.
    DATABASES["default"]["OPTIONS"]["init_command"] = "PRAGMA synchronous=NORMAL;"  # noqa: F405
    for _stale in (
        _worker_db.with_name(_worker_db.name + "-wal"),
        _worker_db.with_name(_worker_db.name + "-shm"),
    ):
        _stale.unlink(missing_ok=True)
