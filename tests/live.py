"""The app as `make run` serves it: migrate, collectstatic, daphne, on a temporary database.

Used by the browser tests and the benchmarks; the app starts its own simulator (no token).
"""

from __future__ import annotations

import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class LiveServer:
    def __init__(self, workdir: Path, **env: str) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = workdir / "daphne.log"
        self.database = workdir / "db.sqlite3"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith(("GROK_", "DJANGO_"))},
            "DJANGO_SETTINGS_MODULE": "webchat.settings",
            "DATABASE_URL": f"sqlite:///{self.database}",
            "STATIC_ROOT": str(workdir / "static"),
            "SECRET_KEY": "live-test-secret-key-" + "x" * 40,
            "GROK_SIMULATOR": "auto",
            "PYTHONPATH": str(ROOT),
            **env,
        }
        self.process: subprocess.Popen[bytes] | None = None

    def manage(self, *args: str) -> None:
        subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            check=True,
            capture_output=True,
        )

    def start(self) -> str:
        self.manage("migrate", "--noinput")
        self.manage("collectstatic", "--noinput")
        daphne = Path(sys.executable).with_name("daphne")
        self.process = subprocess.Popen(
            [
                str(daphne),
                "--bind",
                "127.0.0.1",
                "--port",
                str(self.port),
                "webchat.asgi:application",
            ],
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("wb"),
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

    def query(self, sql: str, *params: object) -> list[tuple]:
        """Read the server's database directly, as an operator would."""
        with sqlite3.connect(self.database) as db:
            return db.execute(sql, params).fetchall()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
