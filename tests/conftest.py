import asyncio
import importlib
import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator
from django.test import Client

from conversations import generation
from conversations.models import Conversation
from webchat.models import ChatModel, Plan, User
from webchat.simulator import Simulator


@pytest.fixture(scope="session")
def simulator() -> Iterator[Simulator]:
    """A real simulator on a loopback port, fast enough for tests, slow enough to be streamed."""
    sim = Simulator(token_delay=0.004, first_token_delay=0.01, default_words=30)
    sim.start_in_thread()
    yield sim
    sim.stop_thread()


@pytest.fixture(autouse=True)
def upstream(settings: Any, simulator: Simulator) -> Simulator:
    settings.GROK_API_BASE = simulator.url
    return simulator


@pytest.fixture(autouse=True)
def catalog(request: pytest.FixtureRequest) -> None:
    """The seeded model catalog, put back after transactional tests flush every table."""
    if "django_db_setup" not in request.fixturenames:
        return
    request.getfixturevalue("db")
    from django.apps import apps

    if not ChatModel.objects.exists():
        importlib.import_module("webchat.migrations.0002_seed_catalog").seed(apps, None)
    if not Plan.objects.exists():
        importlib.import_module("webchat.migrations.0004_default_plan").seed(apps, None)


def _user(username: str) -> User:
    return User.objects.create_user(username=username, password="correct horse battery")


@pytest.fixture
def alice(db: None) -> User:
    """The owner of the things under test."""
    return _user("alice")


@pytest.fixture
def bob(db: None) -> User:
    return _user("bob")


@pytest.fixture
def charlie(db: None) -> User:
    """Should have no access to Alice's stuff."""
    return _user("charlie")


@pytest.fixture
def conversation(alice: User) -> Conversation:
    return Conversation.objects.create(owner=alice)


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
async def finish_generations() -> AsyncIterator[None]:
    """No reply may outlive its test and write into the next test's database."""
    yield
    tasks = list(generation._running)
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


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
    user: User | None, conversation_id: Any, origin: bytes = b"http://localhost"
) -> tuple[Socket, Any]:
    from webchat.asgi import application

    headers = [(b"origin", origin)]
    if user is not None:
        client = await database_sync_to_async(logged_in)(user)
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    communicator = WebsocketCommunicator(
        application, f"/ws/conversations/{conversation_id}/", headers=headers
    )
    connected, _ = await communicator.connect()
    return Socket(communicator), connected


def text_of(frames: list[dict[str, Any]], message_id: str) -> str:
    return "".join(
        f["content"] for f in frames if f["type"] == "delta" and f["message"] == message_id
    )
