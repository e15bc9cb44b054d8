"""Production settings, configured as docs/deploy.md says, pass Django's deployment checks."""

import os
import secrets
import subprocess
import sys
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent.parent


def _example_env() -> dict[str, str]:
    """deploy/webchat.env.example with a real secret, a local database and no upstream."""
    lines = (ROOT / "deploy" / "webchat.env.example").read_text().splitlines()
    env = dict(line.split("=", 1) for line in lines if line and not line.startswith("#"))
    assert {"ALLOWED_HOSTS", "HTTPS", "DATABASE_URL", "REDIS_URL"} <= set(env)
    env.pop("DATABASE_URL")  # the checks need no database; SQLite stands in
    env.pop("REDIS_URL")
    return {
        **env,
        "SECRET_KEY": secrets.token_urlsafe(50),
        "DJANGO_SETTINGS_MODULE": "webchat.settings",
    }


PRODUCTION = _example_env()


def run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if k not in ("DEBUG", "DJANGO_SETTINGS_MODULE")}
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        check=False,
    )


@contextmanager
def logging_as(*config: Any) -> Iterator[None]:
    """The app's LOGGING (webchat.logs.config) for a while; then the test run's own again
    (the root's handlers and level, and each logger's level: a handler left on a closed
    capture would fail every later log line)."""
    import logging
    import logging.config

    from webchat import logs

    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    named = {name: logging.getLogger(name).level for name in logs.config(*config)["loggers"]}
    logging.config.dictConfig(logs.config(*config))
    try:
        yield
    finally:
        for handler in root.handlers:
            handler.close()
        root.handlers[:] = handlers
        root.setLevel(level)
        for name, was in named.items():
            logging.getLogger(name).setLevel(was)


def test_check_deploy_is_clean_in_production() -> None:
    result = run("check", "--deploy", "--fail-level", "WARNING", **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout


def test_check_deploy_complains_without_https() -> None:
    result = run("check", "--deploy", "--fail-level", "WARNING", **{**PRODUCTION, "HTTPS": "0"})
    assert result.returncode != 0
    assert "SECURE_HSTS_SECONDS" in result.stderr


def test_production_settings_are_secure() -> None:
    code = (
        "from django.conf import settings as s; "
        "print(s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECURE_HSTS_SECONDS, "
        "s.SECURE_PROXY_SSL_HEADER, s.SECURE_SSL_REDIRECT, s.DEBUG)"
    )
    result = run("shell", "-c", code, **PRODUCTION)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[-2] == (
        "True True 31536000 ('HTTP_X_FORWARDED_PROTO', 'https') True False"
    )


def test_production_needs_a_secret_key_and_writes_none(tmp_path: Path) -> None:
    without = {k: v for k, v in PRODUCTION.items() if k != "SECRET_KEY"}
    clean = {k: v for k, v in os.environ.items() if k not in ("SECRET_KEY", "SECRET_KEY_FILE")}
    before = (ROOT / ".secret_key").exists()
    result = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=ROOT, env={**clean, **without}, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode != 0
    assert "SECRET_KEY is required when DEBUG is off" in result.stderr
    assert (ROOT / ".secret_key").exists() == before
    # A key file named by SECRET_KEY_FILE is made once, then read.
    key_file = tmp_path / "secret"
    for _ in range(2):
        made = subprocess.run(
            [sys.executable, "manage.py", "check"],
            cwd=ROOT, env={**clean, **without, "SECRET_KEY_FILE": str(key_file)},
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        assert made.returncode == 0, made.stderr
    assert len(key_file.read_text()) > 50 and oct(key_file.stat().st_mode)[-3:] == "600"


def test_a_server_error_reaches_stdout_with_its_traceback_and_request_id(
    capsys: object, rf: object, settings: object
) -> None:
    """DEBUG off and no ADMINS: a 500's traceback still reaches the log on stdout."""
    from django.test import Client

    settings.DEBUG = False
    settings.ADMINS = []
    settings.ROOT_URLCONF = "tests.failing_urls"
    with logging_as("INFO", "text"):
        response = Client(raise_request_exception=False).get("/boom/")
    out = capsys.readouterr().out
    assert response.status_code == 500
    request_id = response["X-Request-ID"]
    assert f"ERROR   django.request [{request_id}] Internal Server Error: /boom/" in out
    assert "Traceback" in out and "RuntimeError: deliberately broken" in out


def test_an_uncaught_error_is_the_site_s_own_page_and_a_locked_database_a_503(
    capsys: object, settings: object
) -> None:
    """Not Django's bare "Server Error (500)": a page with a way back, or JSON for a script.
    A database locked past its wait (a login's session saved while a long write held
    SQLite's writer) says to try again, as a 503; the traceback is logged either way."""
    from django.test import Client

    settings.DEBUG = False
    settings.ROOT_URLCONF = "tests.failing_urls"
    client = Client(raise_request_exception=False, headers={"Accept": "text/html"})
    with logging_as("INFO", "text"):
        broken = client.get("/boom/")
        locked = client.post("/locked/")  # a login's form, say
        script = Client(raise_request_exception=False).post("/locked/")
    out = capsys.readouterr().out
    assert broken.status_code == 500 and locked.status_code == 503
    assert 'href="/"' in broken.text and "css/app.css" in broken.text
    assert "Please try again in a moment" in locked.text and locked["Retry-After"] == "5"
    assert script.status_code == 503 and script.json()["error"]["code"] == "busy"
    assert "OperationalError: database is locked" in out


def test_json_logs_are_one_object_a_line(capsys: object) -> None:
    import json
    import logging

    from webchat import logs

    with logging_as("INFO", "json"):
        logs.request_id.set("abc123")
        logging.getLogger("webchat.test").info("hello %s", "there")
    line = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert line["message"] == "hello there" and line["request_id"] == "abc123"
    assert line["levelname"] == "INFO" and line["name"] == "webchat.test"


def test_nothing_is_logged_per_request_unless_asked(capsys: object) -> None:
    """A message sent costs no log line: daphne's access log is off unless LOG_ACCESS,
    and the HTTP client's line per upstream call is off unless LOG_LEVEL=DEBUG."""
    import logging

    from webchat import logs

    def lines(*config: object) -> str:
        with logging_as(*config):
            logs.AccessLog()("websocket", "connected", {"path": "/ws/c/1/", "client": "10.0.0.1:1"})
            logging.getLogger("httpx").info("HTTP Request: POST http://upstream 200 OK")
            logging.getLogger("axes.handlers.database").info("AXES: Successful login by x")
            logging.getLogger("axes.handlers.database").warning("AXES: Locked out x")
            logging.getLogger("webchat.test").info("the app's own line")
        return capsys.readouterr().out

    quiet = lines("INFO", "text")
    assert "the app's own line" in quiet
    assert "/ws/c/1/" not in quiet and "HTTP Request" not in quiet
    assert "Successful login" not in quiet and "AXES: Locked out" in quiet
    assert "WSCONNECT /ws/c/1/" in lines("INFO", "text", True)
    assert "HTTP Request" in lines("DEBUG", "text")


def test_a_bad_boolean_stops_the_app_with_its_name() -> None:
    result = run("check", **{**PRODUCTION, "DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_the_database_threads_are_as_many_as_set() -> None:
    """A container limited to fewer cores than its machine's sets its own pool's size."""
    show = "from webchat import inline; print(inline._pool._max_workers)"
    shown = run("shell", "-c", show, **PRODUCTION, DATABASE_THREADS="3").stdout
    assert shown.splitlines()[-1] == "3"
    result = run("check", **PRODUCTION, DATABASE_THREADS="0")
    assert result.returncode != 0
    assert "DATABASE_THREADS must be at least 1" in result.stderr


def test_createsuperuser_works_without_a_prompt(tmp_path: Path) -> None:
    env = {
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "DJANGO_SUPERUSER_USERNAME": "admin",
        "DJANGO_SUPERUSER_PASSWORD": "a long enough passphrase 42",
        "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
        "SECRET_KEY": secrets.token_urlsafe(50),
    }
    assert run("migrate", "--noinput", **env).returncode == 0
    result = run("createsuperuser", "--noinput", **env)
    assert result.returncode == 0, result.stderr
    assert "Superuser created" in result.stdout


def test_the_project_builds_with_plain_pip(tmp_path: Path) -> None:
    """`pip install .` builds this wheel; it must carry both apps and their migrations."""
    result = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q",
         "-w", str(tmp_path), str(ROOT)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    [wheel] = tmp_path.glob("webchat-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    for module in ("webchat/asgi.py", "webchat/migrations/0002_seed_catalog.py",
                   "conversations/consumers.py", "conversations/migrations/0001_initial.py"):  # fmt: skip
        assert module in names


def test_no_shipped_command_lets_daphne_believe_a_clients_forwarding_header() -> None:
    """daphne's --proxy-headers takes the client's address from whoever sends the header,
    which would defeat the login throttle: the shipped commands serve through webchat.serve,
    and TRUSTED_PROXIES decides whose header counts."""
    for name in ("Procfile", "deploy/webchat@.service", "Dockerfile", "Makefile", "README.md",
                 "docs/deploy.md"):  # fmt: skip
        text = (ROOT / name).read_text()
        commands = [line for line in text.splitlines() if "webchat.asgi:application" in line]
        for command in commands:
            assert "--proxy-headers" not in command, f"{name}: {command}"
            assert "webchat.serve" in command, f"{name}: {command}"


def test_the_examples_placeholder_key_is_refused() -> None:
    result = run("check", **{**PRODUCTION, "SECRET_KEY": "change-me-to-50-random-characters"})
    assert result.returncode != 0 and "placeholder" in result.stderr


def test_a_server_on_an_unmigrated_database_says_so_and_stops(tmp_path: Path) -> None:
    from tests.live import LiveServer

    server = LiveServer(tmp_path)
    with pytest.raises(RuntimeError, match=r"lacks \d+ of the app's migrations: run"):
        server.start(prepare=False)
    assert server.process is not None and server.process.returncode == 1
