"""The app as `make run` serves it: migrate, collectstatic, daphne, on its own database.

Used by the browser and multi-process tests and by the benchmarks. Without a token the app
starts its own simulator. On SQLite by default; `database_url` (PostgreSQL) and a
`REDIS_URL` in `env` give the scaled-out setup.
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent

# Debian's Chromium, never a downloaded browser; no background traffic off this machine.
CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(
        self,
        workdir: Path,
        database_url: str | None = None,
        daphne_args: tuple[str, ...] = (),
        root: Path = ROOT,
        **env: str,
    ) -> None:
        self.workdir = workdir
        # The checkout served: this one, or another (a benchmark's older revision).
        self.root = root
        self.daphne_args = daphne_args
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        # Where clients reach it: itself, or a proxy in front of it.
        self.public_url = self.url
        self.log = workdir / f"daphne-{self.port}.log"
        self.database_url = database_url or f"sqlite:///{workdir / 'db.sqlite3'}"
        inherited = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith(("GROK_", "DJANGO_", "DATABASE_", "REDIS_"))
        }
        self.env = {
            **inherited,
            "DJANGO_SETTINGS_MODULE": "webchat.settings",
            "DATABASE_URL": self.database_url,
            "STATIC_ROOT": str(workdir / "static"),
            "MEDIA_ROOT": str(workdir / "media"),
            "SECRET_KEY": "live-test-secret-key-" + "x" * 40,
            "GROK_SIMULATOR": "auto",
            "PYTHONPATH": str(root),
            # Tests and benchmarks sign many people up from one address.
            "RATE_LIMIT_SIGNUP": "10000/m",
            "RATE_LIMIT_SIGNUP_ATTEMPTS": "10000/m",
            "RATE_LIMIT_LOGIN": "10000/m",
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=self.root,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start(self, prepare: bool = True) -> str:
        if prepare:
            self.manage("migrate", "--noinput")
            self.manage("collectstatic", "--noinput")
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "webchat.serve",
                    "--bind",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    *self.daphne_args,
                    "webchat.asgi:application",
                ],
                cwd=self.root,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daphne exited:\n{self.log.read_text()[-3000:]}")
            try:
                if httpx.get(f"{self.url}/healthz", timeout=1).status_code == 200:
                    return self.url
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"daphne did not come up:\n{self.log.read_text()[-3000:]}")

    def sign_up(self, username: str, password: str = "a long enough passphrase 42") -> str:
        """A new account, logged in; returns its session cookie (valid on every process)."""
        with httpx.Client(base_url=self.public_url, verify=False) as client:  # noqa: S501
            client.get("/accounts/signup/")
            response = client.post(
                "/accounts/signup/",
                data={"username": username, "password1": password, "password2": password},
                headers={
                    "X-CSRFToken": client.cookies["csrftoken"],
                    "Referer": f"{self.public_url}/accounts/signup/",
                },
            )
            assert response.status_code == 302, response.text[:500]
            return client.cookies["sessionid"]

    def api_key(self, username: str, *args: str) -> str:
        """A new key of the API for `username` (`manage.py createapikey`: its last word)."""
        done = subprocess.run(
            [sys.executable, "manage.py", "createapikey", username, *args],
            cwd=self.root,
            env=self.env,
            check=True,
            capture_output=True,
            text=True,
        )
        return done.stdout.split()[-1]

    def new_conversation(self, session: str) -> str:
        return self.post(session, "/c/").json()["id"]

    def upload(self, session: str, conversation: str, name: str, data: bytes) -> dict[str, Any]:
        """Attach a file in the conversation, as the composer does: the attachment."""
        return self.post(
            session, f"/c/{conversation}/attachments/", files={"file": (name, data)}
        ).json()

    def post(self, session: str, path: str, expect: int = 201, **kwargs: Any) -> httpx.Response:
        """A logged-in POST with the page's CSRF token, which must answer `expect`."""
        with httpx.Client(
            base_url=self.public_url,
            cookies={"sessionid": session},
            verify=False,  # noqa: S501 (a test certificate)
        ) as client:
            client.get("/")
            response = client.post(
                path,
                headers={
                    "Accept": "application/json",
                    "X-CSRFToken": client.cookies["csrftoken"],
                    "Referer": f"{self.public_url}/",
                },
                **kwargs,
            )
            assert response.status_code == expect, response.text[:500]
            return response

    def socket_url(self, conversation: str) -> str:
        return self.public_url.replace("http", "ws", 1) + f"/ws/conversations/{conversation}/"

    def query(self, sql: str, *params: Any) -> list[tuple]:
        """Run SQL on the server's database directly, as an operator would (`%s` placeholders)."""
        if self.database_url.startswith("sqlite"):
            # Django keeps UUIDs on SQLite as 32 hex digits.
            params = tuple(p.hex if isinstance(p, uuid.UUID) else p for p in params)
            with sqlite3.connect(self.database_url.removeprefix("sqlite:///")) as db:
                return db.execute(sql.replace("%s", "?"), params).fetchall()
        import psycopg

        with psycopg.connect(self.database_url.replace("postgres://", "postgresql://", 1)) as db:
            cursor = db.execute(sql, params)
            return cursor.fetchall() if cursor.description else []

    def kill(self) -> None:
        """SIGKILL: the process dies mid-whatever, as in a crash or an OOM kill."""
        assert self.process is not None
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait()

    def stop(self) -> None:
        """SIGINT: stop at once (replies in flight end interrupted)."""
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()

    def restart(self) -> None:
        """A deploy: SIGTERM (the process drains, webchat/serve.py), then a new process on
        the same port."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGTERM)
        self.process.wait(float(self.env.get("SHUTDOWN_GRACE_SECONDS", 60)) + 15)
        self.start(prepare=False)


@contextmanager
def two_processes(
    workdir: Path, name: str, daphne_args: tuple[str, ...] = (), **env: str
) -> Iterator[tuple[LiveServer, LiveServer]]:
    """Two daphne processes sharing a new PostgreSQL database (dropped afterwards) and the
    Redis that `env` names: the scaled-out setup of docs/deploy.md."""
    from tests import services

    database = services.create_database(name)
    a = LiveServer(workdir, database, daphne_args, **env)
    b = LiveServer(workdir, database, daphne_args, **env)
    try:
        a.start()
        b.start(prepare=False)
        yield a, b
    finally:
        a.stop()
        b.stop()
        services.drop_database(database)
