"""What the tests share: people and sockets, conversations made directly, a browser's steps.

Fixtures live in conftest.py; everything here is a plain function or class to import.
"""

import contextlib
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from conversations.models import Conversation, Message
from tests.live import LiveServer
from webchat.models import User


# --- People and sockets -----------------------------------------------------------------------
def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def page(client: Client, url: str) -> str:
    """A page's HTML, which must be there: a 404 must never pass for a page without X."""
    response = client.get(url)
    assert response.status_code == 200, f"{url} answered {response.status_code}"
    return response.content.decode()


class Socket:
    """A websocket through the whole ASGI stack, as a browser on localhost opens it."""

    def __init__(self, communicator: WebsocketCommunicator) -> None:
        self.communicator = communicator

    async def send(self, frame: dict[str, Any] | str) -> None:
        text = frame if isinstance(frame, str) else json.dumps(frame)
        await self.communicator.send_to(text_data=text)

    async def receive(self, timeout: float = 5) -> dict[str, Any]:
        return json.loads(await self.communicator.receive_from(timeout))

    async def receive_until(
        self, kind: str, timeout: float = 10, **match: Any
    ) -> list[dict[str, Any]]:
        """Frames up to and including the first of `kind` whose fields equal `match`."""
        frames = []
        while True:
            frame = await self.receive(timeout)
            frames.append(frame)
            if frame["type"] == kind and all(frame.get(k) == v for k, v in match.items()):
                return frames

    async def nothing(self, timeout: float = 0.2) -> bool:
        return await self.communicator.receive_nothing(timeout)

    async def close(self) -> None:
        await self.communicator.disconnect()


async def open_socket(
    user: User | None,
    conversation_id: Any,
    origin: bytes = b"http://localhost",
    client: Client | None = None,
    language: str = "",
) -> tuple[Socket, Any]:
    """A socket of `user` (in a new login session, or in `client`'s), from a browser that
    asks for `language` (its Accept-Language), if given."""
    from webchat.asgi import application

    headers = [(b"origin", origin), (b"host", b"localhost")]
    if language:
        headers.append((b"accept-language", language.encode()))
    if user is not None:
        client = client or await database_sync_to_async(logged_in)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    communicator = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation_id}/", headers=headers
    )
    connected, _ = await communicator.connect()
    return Socket(communicator), connected


def split_at_snapshot(frames: list[dict[str, Any]]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The snapshot and the deltas after it. Frames may come before the snapshot: a socket
    is in the conversation's group from the moment it connects."""
    at = next(i for i, f in enumerate(frames) if f["type"] == "snapshot")
    return frames[at], [f for f in frames[at + 1 :] if f["type"] == "delta"]


def text_of(frames: list[dict[str, Any]], message_id: str) -> str:
    return "".join(
        f["content"] for f in frames if f["type"] == "delta" and f["message"] == message_id
    )


async def send(socket: Socket, content: str, **extra: Any) -> dict[str, Any]:
    frame = {"type": "send", "content": content, "model": "grok-3", "client_id": "c1", **extra}
    await socket.send(frame)
    ack = await socket.receive()
    assert ack["type"] == "ack", ack
    start = await socket.receive()
    assert start["type"] == "start", start
    return start


# --- Conversations made directly ----------------------------------------------------------------
def add_exchange(
    conversation: Conversation, question: str, answer: str, **reply: object
) -> Message:
    user_message = Message.objects.create(
        conversation=conversation, role="user", content=question, parent=conversation.current_leaf
    )
    fields = {"status": Message.Status.COMPLETE, **reply}
    answer_message = Message.objects.create(
        conversation=conversation,
        role="assistant",
        content=answer,
        parent=user_message,
        model="grok-3",
        **fields,
    )
    conversation.current_leaf = answer_message
    conversation.save()
    return answer_message


# --- The app in a browser ---------------------------------------------------------------------
def attach_image(message: Message, name: str = "image.png") -> Any:
    """A small PNG with transparency stored on `message` (a person's), as an upload leaves
    one."""
    from django.core.files.base import ContentFile

    from conversations.models import Attachment
    from tests import samples

    data = samples.image("PNG", mode="RGBA")
    conversation = message.conversation
    attachment = Attachment(
        owner=conversation.owner,
        conversation=conversation,
        message=message,
        kind="image",
        name=name,
        content_type="image/png",
        size=len(data),
    )
    attachment.file.save("upload.png", ContentFile(data), save=False)
    attachment.save()
    return attachment


# No step of history on its way out: its dialog (or the phone's drawer) closed, the step back
# not yet done.
STEPPING_DONE = """() => {
  const state = history.state;
  const drawer = state?.drawer && !document.body.classList.contains('drawer-open');
  return !drawer && !((state?.modal || state?.viewer) && !document.querySelector('dialog[open]'));
}"""


def watch(page: Any) -> None:
    page.problems = []
    page.foreign = []
    page.on("console", lambda m: m.type == "error" and page.problems.append(m.text))
    page.on("pageerror", lambda e: page.problems.append(str(e)))

    def dialog(d: Any) -> None:
        # Our own confirmation (delete) is accepted when a test says so; any other dialog
        # is a problem, as an XSS would raise one.
        if d.type == "confirm" and getattr(page, "accept_confirm", False):
            d.accept()
            return
        page.problems.append(f"dialog: {d.message}")
        d.dismiss()

    page.on("dialog", dialog)
    # A dialog just closed steps off its step of history (static/js/dialog.js stepFor): an
    # address gone to at that very moment (as a person could not, a test can) is cut off by
    # that step back. Going somewhere, or reloading, waits for it.
    for name in ("goto", "reload"):
        go = getattr(page, name)

        def settled_first(*args: Any, _go: Any = go, **kwargs: Any) -> Any:
            with contextlib.suppress(Exception):  # a page that never loaded has no steps
                page.wait_for_function(STEPPING_DONE, timeout=5_000)
            return _go(*args, **kwargs)

        setattr(page, name, settled_first)
    page.on(
        "request",
        lambda r: (
            urlsplit(r.url).hostname not in ("127.0.0.1", "localhost", None)
            and r.url.startswith("http")
            and page.foreign.append(r.url)
        ),
    )


def eventually(read: Callable[[], Any], expected: Any, seconds: float = 5) -> None:
    """`read()` comes to equal `expected` within `seconds` (a write on its way)."""
    deadline = time.monotonic() + seconds
    while (value := read()) != expected and time.monotonic() < deadline:
        time.sleep(0.05)
    assert value == expected


def file_of(folder: Path, name: str, size: int) -> Path:
    """A file of `size` bytes (zeros, written as a hole) for a file input: Playwright hands
    Chromium a local path as it is, where it sends a buffer's bytes over its protocol (seven
    seconds for 20 MB)."""
    path = folder / name
    with path.open("wb") as file:
        file.truncate(size)
    return path


def sign_up(page: Any, live: LiveServer, name: str) -> None:
    """A new person through the signup page, with room for many messages a minute."""
    live.query("UPDATE webchat_plan SET requests_per_minute = 1000")
    page.goto("/accounts/signup/")
    page.fill("#id_username", name)
    page.fill("#id_password1", "a long enough passphrase 42")
    page.fill("#id_password2", "a long enough passphrase 42")
    page.click("button[type=submit]")
    # The home page, not the signup page again (a name already taken stays there).
    page.wait_for_url(lambda url: urlsplit(url).path == "/")


def share_link(page: Any) -> str:
    """Share the conversation on screen from its header (its ⋯ fold on a phone); the link."""
    if page.locator("#actions-button").is_visible():
        page.click("#actions-button")
    page.click("#share")
    page.wait_for_function("() => document.getElementById('share-link').value.includes('/s/')")
    return page.input_value("#share-link")


# No reply on the page is still streaming.
FINISHED = "() => !document.querySelector('article.message.assistant[data-status=\"streaming\"]')"


def say(page: Any, text: str, replies: int = 1) -> None:
    """Send and wait until `replies` more replies have finished (with Enter, or on a touch
    screen, where Return starts a new line, with the Send button)."""
    done = page.locator('article.message.assistant:not([data-status="streaming"])').count()
    page.fill("#prompt", text)
    if page.evaluate("matchMedia('(pointer: coarse) and (hover: none)').matches"):
        page.tap("#send")
    else:
        page.press("#prompt", "Enter")
    page.wait_for_function(
        "n => document.querySelectorAll('article.message.assistant').length >= n && "
        "!document.querySelector('article.message.assistant[data-status=\"streaming\"]')",
        arg=done + replies,
    )


def edit(page: Any, text: str, *, last: bool = False) -> None:
    """Edit the first question (or the last) to `text`: its second version, replied to."""
    edits = page.locator("article.message.user .edit")
    (edits.last if last else edits.first).click()
    page.fill("article.message.user textarea", text)
    page.keyboard.press("Enter")
    page.wait_for_selector("article.message.user .siblings .count >> text=2/2")
    page.wait_for_function(FINISHED)
