import asyncio
import importlib
import os
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from conversations import generation
from conversations.models import Conversation
from tests import services
from tests.helpers import watch
from tests.live import CHROMIUM, CHROMIUM_ARGS, LiveServer
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


@pytest.fixture(scope="session", autouse=True)
def _no_stray_sessions(django_db_setup: None, django_db_blocker: Any) -> Iterator[None]:
    """Worker threads of the async tests may leave a PostgreSQL session open; end them
    before the test database is dropped."""
    yield
    from django.db import connection

    # Only the test database, and only if this run set it up (a run of browser or
    # multi-process tests alone never connects to it).
    if connection.vendor == "postgresql" and connection.settings_dict["NAME"].startswith("test_"):
        with django_db_blocker.unblock(), connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    """Counters (failed logins, the sockets' allowances of frames) start at zero in every
    test."""
    from django.core.cache import cache

    from conversations import consumers

    cache.clear()
    consumers._allowances.clear()
    yield


@pytest.fixture(autouse=True)
def catalog(request: pytest.FixtureRequest) -> None:
    """The seeded model catalog, put back after transactional tests flush every table."""
    uses_db = request.node.get_closest_marker("django_db") or {"db", "transactional_db"} & set(
        request.fixturenames
    )
    if not uses_db:
        return
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


@pytest.fixture
async def finish_generations() -> AsyncIterator[None]:
    """No reply may outlive its test and write into the next test's database."""
    yield
    tasks = list(generation._running)
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


# --- The app in a browser ---------------------------------------------------------------------
def _require_chromium() -> None:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing; CI must install Debian's chromium package")
        pytest.skip(f"{CHROMIUM} is missing: `apt-get install chromium` to run browser tests")


@contextmanager
def serving(workdir: Path, **env: str) -> Iterator[LiveServer]:
    """The app as `make run` serves it, on the pass's setup (SQLite, or PostgreSQL + Redis)."""
    scaled = os.environ.get("DATABASE_URL", "").startswith("postgres")
    database = services.create_database() if scaled else None
    if scaled and os.environ.get("REDIS_URL"):
        # Its own prefix: pub/sub reaches every prefix-sharing process on that Redis.
        env = {
            "REDIS_URL": os.environ["REDIS_URL"],
            "REDIS_PREFIX": f"webchat-live-{uuid.uuid4().hex[:8]}",
            **env,
        }
    env = {"DJANGO_SETTINGS_MODULE": "tests.live_settings", **env}
    server = LiveServer(workdir, database, **env)
    try:
        server.start()
        yield server
    finally:
        server.stop()
        if database:
            services.drop_database(database)


@pytest.fixture(scope="session")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with serving(tmp_path_factory.mktemp("live")) as server:
        yield server


class _Chromium:
    """One Chromium for a run of browser tests in a row, closed after the last of them: while
    it is open, Playwright's sync API keeps an event loop that asyncio tests (and the test
    database's teardown) must not find."""

    def __init__(self) -> None:
        self.playwright: Any = None
        self.browser: Any = None
        self.next_test: pytest.Item | None = None

    def open(self) -> Any:
        if self.browser is None or not self.browser.is_connected():
            self.close()
            from playwright.sync_api import sync_playwright

            self.playwright = sync_playwright().start()
            self.browser = self.playwright.chromium.launch(
                executable_path=CHROMIUM, args=CHROMIUM_ARGS
            )
        return self.browser

    def close(self) -> None:
        if self.playwright is not None:
            if self.browser is not None and self.browser.is_connected():
                self.browser.close()
            self.playwright.stop()
        self.playwright = self.browser = None


_chromium = _Chromium()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> Any:
    _chromium.next_test = nextitem
    return (yield)


@pytest.fixture
def browser() -> Iterator[Any]:
    """Headless Chromium; each test's contexts are closed after it."""
    _require_chromium()
    chromium = _chromium.open()
    yield chromium
    for context in chromium.contexts:
        context.close()
    following = _chromium.next_test
    if following is None or not _drives_a_browser(following):
        _chromium.close()


def _drives_a_browser(item: pytest.Item) -> bool:
    return "browser" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Browser tests last, in their order, so that Chromium starts once a run (or a worker).

    The PostgreSQL + Redis pass runs only the browser tests marked `services`: one or two a
    flow that crosses the database and the channel layer end to end (a reply streamed and
    reloaded, stopped, other tabs' versions, another session logged out, a shared reply
    followed live, search, import, the API, the XSS corpus stored and shown). The rest test
    the page itself, which does not change with the services behind it, and the other tests
    cover those services' code paths. BROWSER_TESTS=all runs every one on that pass too."""
    scaled = os.environ.get("DATABASE_URL", "").startswith("postgres")
    if scaled and os.environ.get("BROWSER_TESTS") != "all":
        left_out = [
            i for i in items if _drives_a_browser(i) and not i.get_closest_marker("services")
        ]
        if left_out:
            config.hook.pytest_deselected(items=left_out)
            items[:] = [
                i for i in items if not _drives_a_browser(i) or i.get_closest_marker("services")
            ]
    items.sort(key=_drives_a_browser)


@pytest.fixture
def page(browser: Any, live: LiveServer) -> Iterator[Any]:
    """A fresh browser context; `page.problems` collects console errors (CSP violations
    among them), uncaught exceptions and dialogs; `page.foreign` any request that left
    for another host."""
    context = browser.new_context(base_url=live.url)
    page = context.new_page()
    watch(page)
    yield page
    context.close()


@pytest.fixture
def phone(browser: Any, live: LiveServer) -> Iterator[Any]:
    """A page on a 390 px phone screen."""
    context = browser.new_context(
        base_url=live.url, viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page = context.new_page()
    watch(page)
    yield page
    context.close()
