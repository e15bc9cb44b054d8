"""deploy/nginx.conf, as shipped, in front of two daphne processes: TLS, websocket upgrade,
and words that reach the browser one by one rather than in batches.

Runs in the PostgreSQL + Redis pass, with nginx installed (`.ci/run` installs it).
"""

import asyncio
import base64
import io
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
import zipfile
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
        "server 127.0.0.1:8001 ": f"server 127.0.0.1:{upstreams[0]} ",
        "server 127.0.0.1:8002 ": f"server 127.0.0.1:{upstreams[1]} ",
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
    def __init__(self, a: LiveServer, b: LiveServer, https: str, http: str) -> None:
        self.a, self.b, self.https, self.http = a, b, https, http


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
        # As deploy/webchat.env.example and deploy/webchat@.service set them.
        "TRUSTED_PROXIES": "127.0.0.1,::1",
        "SHUTDOWN_GRACE_SECONDS": "30",
    }
    with two_processes(workdir, "webchat_nginx", **env) as (a, b):
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
            b.public_url = a.public_url
            yield Proxied(a, b, a.public_url, f"http://127.0.0.1:{http_port}")
        finally:
            process.terminate()
            process.wait(10)


def test_an_attachment_of_several_megabytes_is_let_through(proxied: Proxied) -> None:
    from PIL import Image

    noise = Image.frombytes("RGB", (1400, 1000), os.urandom(1400 * 1000 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    assert out.tell() > 3_000_000  # past the 2 MB every other request may carry
    session = proxied.a.sign_up(f"uploader-{uuid.uuid4().hex[:6]}")
    conversation = proxied.a.new_conversation(session)
    attachment = proxied.a.upload(session, conversation, "noise.png", out.getvalue())
    assert attachment["kind"] == "image" and (attachment["width"], attachment["height"]) == (
        1400,
        1000,
    )


def test_an_import_of_several_megabytes_is_let_through(proxied: Proxied) -> None:
    from tests import chatgpt_export

    export = io.BytesIO(chatgpt_export.as_zip())
    with zipfile.ZipFile(export, "a") as made:  # what else an export holds: its audio, say
        made.writestr("audio/noise.wav", os.urandom(3_000_000), zipfile.ZIP_STORED)
    session = proxied.a.sign_up(f"importer-{uuid.uuid4().hex[:6]}")
    response = proxied.a.post(
        session, "/settings/import/", expect=302, files={"file": ("export.zip", export.getvalue())}
    )
    assert response.headers["Location"] == "/settings/?imported=2#data"
    # Without a live login session (none, or a made-up one) it is refused before its body
    # is read: nginx asks the app about the session first.
    for cookies in ({}, {"sessionid": "made-up"}):
        with httpx.Client(base_url=proxied.https, verify=False, cookies=cookies) as client:  # noqa: S501
            refused = client.post("/settings/import/", files={"file": ("x.zip", b"0" * 3_000_000)})
        assert refused.status_code == 401


def test_an_api_call_with_an_image_inline_streams_through(proxied: Proxied) -> None:
    from PIL import Image

    noise = Image.frombytes("RGB", (1400, 1000), os.urandom(1400 * 1000 * 3))
    out = io.BytesIO()
    noise.save(out, "PNG")
    image = "data:image/png;base64," + base64.b64encode(out.getvalue()).decode()
    assert len(image) > 3_000_000
    name = f"program-{uuid.uuid4().hex[:6]}"
    proxied.a.sign_up(name)
    key = proxied.a.api_key(name)
    content = [
        {"type": "text", "text": "[sim words=20] what is this?"},
        {"type": "image_url", "image_url": {"url": image}},
    ]
    body = {"model": "grok-4", "messages": [{"role": "user", "content": content}], "stream": True}
    with httpx.stream(
        "POST",
        f"{proxied.https}/v1/chat/completions",
        json=body,
        headers={"Authorization": f"Bearer {key}"},
        verify=False,  # noqa: S501 (a test certificate)
        timeout=30,
    ) as response:
        assert response.status_code == 200, response.read()[:300]
        events = [line for line in response.iter_lines() if line.startswith("data: ")]
    assert events[-1] == "data: [DONE]" and len(events) > 20
    text = "".join(json.loads(e[6:])["choices"][0]["delta"].get("content", "") for e in events[:-1])
    assert text.startswith("I see 1 image: PNG 1400x1000")


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


def _tls() -> ssl.SSLContext:
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


async def _follow(proxied: Proxied, session: str, conversation: str, words: int) -> dict:
    """Sends one message and follows its reply as a browser does (static/js/chat.js): on
    4503 it reconnects (nginx picks a process that is up) and resumes from the last seq it
    holds. A new socket forwards the reply's frames from the moment it joins, before the
    resume reaches it: a delta then that does not follow on is skipped, as the browser does,
    for the snapshot on its way. Once that snapshot is in, every delta must continue the
    text exactly: a gap fails."""
    text, seq, reply, reconnects = "", 0, None, 0
    while True:
        try:
            async with websockets.connect(
                proxied.a.socket_url(conversation),
                ssl=_tls(),
                additional_headers={"Cookie": f"sessionid={session}", "Origin": proxied.https},
            ) as sock:
                resumed = reply is None  # the first socket follows the reply from its start
                if reply is None:
                    content = f"[sim words={words} delay=25]"
                    await sock.send(json.dumps({"type": "send", "content": content}))
                else:
                    await sock.send(json.dumps({"type": "resume", "message": reply, "seq": seq}))
                while True:
                    frame = json.loads(await asyncio.wait_for(sock.recv(), 30))
                    kind = frame["type"]
                    if kind == "start":
                        reply = frame["messages"][0]
                    elif kind == "error":
                        raise AssertionError(frame)
                    elif frame.get("message") != reply:
                        continue
                    elif kind == "snapshot":
                        resumed = True
                        if frame["seq"] < seq:
                            continue  # a checkpoint behind the deltas taken: they follow on
                        assert frame["content"].startswith(text)
                        text, seq = frame["content"], frame["seq"]
                        if frame["status"] != "streaming":
                            return {"reply": reply, "text": text, "status": frame["status"],
                                    "reconnects": reconnects}  # fmt: skip
                    elif kind == "delta" and frame["seq"] > seq + 1 and not resumed:
                        continue
                    elif kind == "delta" and frame["seq"] > seq:
                        assert frame["seq"] == seq + 1, f"a gap: {seq} then {frame['seq']}"
                        text, seq = text + frame["content"], frame["seq"]
                    elif kind == "done":
                        return {"reply": reply, "text": text, "status": frame["status"],
                                "reconnects": reconnects}  # fmt: skip
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == 4503, closed
        except (OSError, websockets.InvalidStatus):
            pass  # connecting while nginx has no process to offer (502): try again
        reconnects += 1
        await asyncio.sleep(0.3)


async def test_restarting_both_processes_one_after_the_other_cuts_no_reply(
    proxied: Proxied,
) -> None:
    """A deploy: each process in turn gets SIGTERM (it drains) and comes back, while
    replies stream on both. No reply ends interrupted; no word is lost or doubled."""
    session = proxied.a.sign_up("deployer")
    followers = []
    for server in (proxied.a, proxied.b):
        for _ in range(3):  # the default plan allows 3 replies at once
            conversation = proxied.a.new_conversation(session)
            followers.append(
                asyncio.create_task(_follow(proxied, session, conversation, words=200))
            )
        await asyncio.sleep(1.5)  # the replies are under way (about 5 s each)
        await asyncio.to_thread(server.restart)
    results = await asyncio.gather(*followers)
    # nginx spreads the sockets over both processes: each restart moves some of them.
    assert sum(r["reconnects"] for r in results) >= 2, "no socket was moved: nothing tested"
    for result in results:
        [(stored, status)] = proxied.a.query(
            "SELECT content, status FROM conversations_message WHERE id = %s",
            uuid.UUID(result["reply"]),
        )
        assert result["status"] == status == "complete", result
        assert result["text"] == stored and len(stored.split()) == 200


async def test_a_forwarded_address_from_the_client_is_not_believed(proxied: Proxied) -> None:
    """Through the shipped nginx, a client's X-Forwarded-For can't dodge the login lock."""
    async with httpx.AsyncClient(base_url=proxied.https, verify=False) as client:  # noqa: S501
        await client.get("/accounts/login/")
        token = client.cookies["csrftoken"]
        statuses = []
        for i in range(6):
            response = await client.post(
                "/accounts/login/",
                data={"username": "nobody-here", "password": "wrong", "csrfmiddlewaretoken": token},
                headers={"X-Forwarded-For": f"198.51.100.{i}", "Referer": f"{proxied.https}/"},
            )
            statuses.append(response.status_code)
    assert statuses[:4] == [200] * 4 and statuses[4:] == [429, 429], statuses
