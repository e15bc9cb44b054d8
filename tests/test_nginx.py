"""deploy/nginx.conf, as shipped, in front of two daphne processes: TLS, websocket upgrade,
and words that reach the browser one by one rather than in batches.

Runs in the PostgreSQL + Redis pass, with nginx installed (`.ci/run` installs it).
"""

import asyncio
import itertools
import json
import os
import shutil
import socket
import ssl
import statistics
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import websockets

from tests.live import ROOT, LiveServer, free_port, two_processes

pytestmark = pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres")
    or not os.environ.get("REDIS_URL"),
    reason="runs in the PostgreSQL + Redis pass (make pytest-services)",
)


def _nginx() -> str:
    path = shutil.which("nginx") or (
        "/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None
    )
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail("nginx is missing; CI must install Debian's nginx-light package")
        pytest.skip("nginx is missing: `apt-get install nginx-light` to test deploy/nginx.conf")
    return path


def _render(workdir: Path, https_port: int, http_port: int, upstreams: list[int]) -> Path:
    """The shipped file with this machine's ports, host name and a throwaway certificate."""
    cert, key = workdir / "cert.pem", workdir / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
         "-subj", "/CN=127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    site = (ROOT / "deploy" / "nginx.conf").read_text()
    replacements = {
        "server 127.0.0.1:8001;": f"server 127.0.0.1:{upstreams[0]};",
        "server 127.0.0.1:8002;": f"server 127.0.0.1:{upstreams[1]};",
        "listen 443 ssl http2;": f"listen 127.0.0.1:{https_port} ssl http2;",
        "listen 80;": f"listen 127.0.0.1:{http_port};",
        "server_name chat.example.com;": "server_name 127.0.0.1;",
        "/etc/ssl/certs/chat.example.com.pem": str(cert),
        "/etc/ssl/private/chat.example.com.key": str(key),
    }
    for old, new in replacements.items():
        assert old in site, f"deploy/nginx.conf no longer has {old!r}"
        site = site.replace(old, new)
    (workdir / "webchat.conf").write_text(site)
    main = workdir / "nginx.conf"
    main.write_text(
        ("user root;\n" if os.geteuid() == 0 else "")
        + f"daemon off;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log;\n"
        "events {}\n"
        f"http {{\n  access_log {workdir}/access.log;\n"
        + "".join(
            f"  {kind}_temp_path {workdir}/{kind};\n"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        + f"  include {workdir}/webchat.conf;\n}}\n"
    )
    return main


def _wait_for_port(port: int) -> None:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with socket.socket() as sock:
            if sock.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise RuntimeError(f"nothing listens on {port}")


class Proxied:
    def __init__(self, a: LiveServer, https: str, http: str) -> None:
        self.a, self.https, self.http = a, https, http


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Proxied]:
    nginx = _nginx()
    workdir = tmp_path_factory.mktemp("nginx")
    https_port, http_port = free_port(), free_port()
    env = {
        "REDIS_URL": os.environ["REDIS_URL"],
        "REDIS_PREFIX": f"webchat-nginx-{uuid.uuid4().hex[:8]}",
        "HTTPS": "1",
        "ALLOWED_HOSTS": "127.0.0.1",
        "CSRF_TRUSTED_ORIGINS": f"https://127.0.0.1:{https_port}",
    }
    with two_processes(workdir, "webchat_nginx", ("--proxy-headers",), **env) as (a, b):
        config = _render(workdir, https_port, http_port, [a.port, b.port])
        subprocess.run(
            [nginx, "-t", "-c", str(config), "-p", str(workdir)], check=True, capture_output=True
        )
        process = subprocess.Popen(
            [nginx, "-c", str(config), "-p", str(workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(https_port)
            a.public_url = f"https://127.0.0.1:{https_port}"
            yield Proxied(a, a.public_url, f"http://127.0.0.1:{http_port}")
        finally:
            process.terminate()
            process.wait(10)


def test_plain_http_is_sent_to_https(proxied: Proxied) -> None:
    response = httpx.get(f"{proxied.http}/accounts/login/")
    assert response.status_code == 301
    assert response.headers["location"].startswith("https://127.0.0.1")


def test_pages_and_static_files_come_through_tls(proxied: Proxied) -> None:
    with httpx.Client(base_url=proxied.https, verify=False) as client:  # noqa: S501
        page = client.get("/accounts/login/")
        assert page.status_code == 200
        assert page.headers["strict-transport-security"].startswith("max-age=31536000")
        assert "secure" in page.headers["set-cookie"].lower()
        css = client.get("/static/css/app.css")
        assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")


async def test_words_cross_the_proxy_one_by_one(proxied: Proxied) -> None:
    session = proxied.a.sign_up("alice")
    conversation = proxied.a.new_conversation(session)
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    async with websockets.connect(
        proxied.a.socket_url(conversation),
        ssl=context,
        additional_headers={"Cookie": f"sessionid={session}", "Origin": proxied.https},
    ) as sock:
        await sock.send(
            json.dumps({"type": "send", "content": "[sim words=40 delay=60]", "model": "grok-3"})
        )
        arrivals: list[float] = []
        text = ""
        while True:
            frame = json.loads(await asyncio.wait_for(sock.recv(), 20))
            if frame["type"] == "delta":
                arrivals.append(time.monotonic())
                text += frame["content"]
            if frame["type"] == "done":
                reply = frame["message"]
                break
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) >= 30, f"{len(arrivals)} frames for 40 words: batched somewhere"
    assert statistics.median(gaps) > 0.03, "frames arrive in bursts, not word by word"
    [(stored,)] = proxied.a.query(
        "SELECT content FROM conversations_message WHERE id = %s", uuid.UUID(reply)
    )
    assert text == stored and len(stored.split()) == 40
