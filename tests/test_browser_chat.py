"""A person in headless Chromium: sign up, send, watch the words arrive, reload mid-reply."""

import contextlib
import html
import itertools
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import expect

from conversations.render import render_markdown
from tests.helpers import FINISHED, say, sign_up
from tests.live import LiveServer
from tests.proxy import Proxy

pytestmark = pytest.mark.browser


def words(text: str) -> int:
    return len(text.split())


def visible_words(markdown: str) -> int:
    """How many words a person sees once `markdown` is rendered (list markers vanish)."""
    return words(html.unescape(re.sub(r"<[^>]+>", " ", render_markdown(markdown))))


@pytest.mark.services
def test_a_newcomer_signs_up_chats_and_reloads_mid_reply(page: object, live: LiveServer) -> None:
    page.goto("/accounts/signup/")
    page.fill("#id_username", "newcomer")
    page.fill("#id_password1", "a long enough passphrase 42")
    page.fill("#id_password2", "a long enough passphrase 42")
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert "replies are simulated" in page.content()

    page.fill("#prompt", "Tell me something [sim words=90 delay=70 ttft=50]")
    page.press("#prompt", "Enter")
    reply = page.locator("article.message.assistant").last
    reply.wait_for()
    page.wait_for_url("**/c/*/")

    # The words appear one after another, not all at once.
    seen: list[int] = []
    deadline = time.monotonic() + 2.5
    while time.monotonic() < deadline:
        count = words(reply.locator(".content").inner_text())
        if not seen or count != seen[-1]:
            seen.append(count)
        time.sleep(0.03)
    # Rendered as markdown while it streams: a marker ("-", "**") may vanish once its line
    # is understood, but the reply keeps growing.
    growing = sum(b > a for a, b in itertools.pairwise(seen))
    assert growing >= 0.8 * (len(seen) - 1), f"the reply should keep growing, saw {seen}"
    assert len(seen) >= 10, f"expected a steady stream of words, saw {seen}"
    assert 0 < seen[-1] < 90, "the reload must happen mid-reply"
    assert reply.get_attribute("data-status") == "streaming"
    assert page.locator("#stop").is_visible()

    # Reload mid-reply: the page shows what was written so far, and the reply carries on.
    page.reload()
    reply = page.locator("article.message.assistant").last
    assert words(reply.locator(".content").inner_text()) >= 1
    page.wait_for_selector('article.message.assistant[data-status="complete"]', timeout=20_000)
    final = page.locator("article.message.assistant").last.locator(".content").inner_text()
    conversation = uuid.UUID(page.url.rstrip("/").rsplit("/", 1)[-1])
    [(stored_text, status)] = live.query(
        "SELECT content, status FROM conversations_message WHERE role = 'assistant' "
        "AND conversation_id = %s",
        conversation,
    )
    assert status == "complete" and words(stored_text) == 90, "no word lost or doubled"
    assert words(final) == visible_words(stored_text)
    assert page.locator("#stop").is_hidden()

    # It was stored: a fresh load shows the same reply, and the sidebar lists the chat.
    page.reload()
    stored = page.locator("article.message.assistant").last.locator(".content").inner_text()
    assert stored == final
    assert page.locator(".conversation-list a", has_text="Tell me something").count() == 1
    assert page.problems == []


# The page's sockets lose the first reply's deltas 3 to 5, and its asks for the whole text
# take 600 ms to leave (a slow link): every delta meanwhile arrives after a gap.
LOSSY_SOCKET = """(() => {
  const Native = window.WebSocket;
  window.resumesSent = 0;
  let first = null;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener("message", (event) => {
        const frame = JSON.parse(event.data);
        if (frame.type !== "delta") return;
        first ??= frame.message;
        if (frame.message === first && frame.seq >= 3 && frame.seq <= 5) event.stopImmediatePropagation();
      });
    }
    send(data) {
      if (!data.includes('"resume"')) return super.send(data);
      window.resumesSent++;
      setTimeout(() => super.send(data), 600);
    }
  };
})();"""


def test_a_gap_in_a_reply_is_asked_for_once_however_many_deltas_follow(
    page: Any, live: LiveServer
) -> None:
    """A reply whose words arrive after a gap asks for its whole text once, not once per
    delta until the text comes: those asks would spend the socket's allowance of frames
    and be refused ("Too many requests")."""
    page.add_init_script(LOSSY_SOCKET)
    sign_up(page, live, "gappy")
    say(page, "[sim words=300 delay=10]")
    assert page.evaluate("window.resumesSent") == 1
    reply = page.locator("article.message.assistant")
    [(stored,)] = live.query(
        "SELECT content FROM conversations_message WHERE id = %s",
        uuid.UUID(reply.get_attribute("data-id")),
    )
    assert words(stored) == 300
    assert words(reply.locator(".content").inner_text()) == visible_words(stored)
    assert page.locator("#error").is_hidden()
    assert page.problems == []


@pytest.mark.services
def test_stop_keeps_the_partial_reply(page: object, live: LiveServer) -> None:
    sign_up(page, live, "stopper")
    page.fill("#prompt", "A long one [sim words=300 delay=40]")
    page.click("#send")
    reply = page.locator("article.message.assistant").last
    page.wait_for_function(
        "() => (document.querySelector('article.message.assistant .content')?.textContent || '')"
        ".split(/\\s+/).length > 10"
    )
    page.keyboard.press("Escape")
    page.wait_for_selector('article.message.assistant[data-status="stopped"]', timeout=10_000)
    assert "Stopped." in reply.inner_text()
    kept = words(reply.locator(".content").inner_text())
    assert 5 < kept < 300
    page.reload()
    reply = page.locator("article.message.assistant").last
    assert reply.get_attribute("data-status") == "stopped"
    assert words(reply.locator(".content").inner_text()) == kept
    # A stopped reply can go on from its words, as one cut by its length limit.
    stopped = reply.locator(".content").inner_text()
    reply.get_by_role("button", name="Continue generating").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    page.wait_for_function(
        "() => (document.querySelector('article.message.assistant .content')?.textContent || '')"
        f".split(/\\s+/).length > {kept + 5}"
    )
    assert reply.locator(".content").inner_text().startswith(stopped.strip())
    page.keyboard.press("Escape")
    page.wait_for_selector('article.message.assistant[data-status="stopped"]', timeout=10_000)
    # Stopped again before the reload: offered at once, without one.
    assert reply.get_by_role("button", name="Continue generating").count() == 1
    assert page.problems == []


def test_escape_on_a_phone_closes_the_list_and_leaves_the_reply_going(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "list-closer")
    phone.fill("#prompt", "A long one [sim words=300 delay=40]")
    phone.click("#send")
    phone.wait_for_selector('article.message.assistant[data-status="streaming"]')
    phone.click("#menu-button")
    phone.wait_for_function("() => document.body.classList.contains('drawer-open')")
    phone.keyboard.press("Escape")
    phone.wait_for_function("() => !document.body.classList.contains('drawer-open')")
    phone.wait_for_timeout(300)  # a stop would have answered by now
    assert phone.locator("article.message.assistant").get_attribute("data-status") == "streaming"
    # Escape once more, the list closed, stops it, as on a computer.
    phone.keyboard.press("Escape")
    phone.wait_for_selector('article.message.assistant[data-status="stopped"]', timeout=10_000)
    assert phone.problems == []


def test_a_streaming_reply_has_its_cursor_after_its_last_word(page: Any, live: LiveServer) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})  # where it wrapped
    sign_up(page, live, "cursor")
    idle = page.locator(".composer-bar").bounding_box()["height"]
    # One paragraph, said back word by word.
    page.fill("#prompt", " ".join(f"word{n}" for n in range(200)) + " [sim repeat delay=40]")
    page.click("#send")
    page.wait_for_function(
        "() => (document.querySelector('article.message.assistant .content p')?.textContent || '')"
        ".split(/\\s+/).length > 10"
    )
    cursor = page.evaluate(
        """() => {
        const content = document.querySelector('article.message.assistant .content');
        const after = (element) => getComputedStyle(element, '::after').content;
        return [after(content), after(content.lastElementChild)];
    }"""
    )
    assert cursor == ["none", '"▍"']  # on the last paragraph's line, not one of its own
    # "Grok is writing…" keeps to one line beside the model's name, and the bar its height.
    status = page.locator("#composer .status")
    assert status.inner_text() == "Grok is writing…"
    lines = page.evaluate(
        """(element) => {
        const range = document.createRange();
        range.selectNodeContents(element);
        return new Set([...range.getClientRects()].map((r) => Math.round(r.top))).size;
    }""",
        status.element_handle(),
    )
    assert lines == 1
    assert page.locator(".composer-bar").bounding_box()["height"] == idle  # nothing jumps
    page.keyboard.press("Escape")
    page.wait_for_selector('article.message.assistant[data-status="stopped"]', timeout=10_000)
    assert page.problems == []


CURSOR_CASES = {
    # the reply's content while it streams → the one element the cursor follows
    "<p>a</p><p id=here>b</p>": "here",
    "<ul><li>a</li><li id=here>b</li></ul>": "here",
    "<ul><li><p>a</p></li><li><p id=here>b</p></li></ul>": "here",  # a loose list
    "<ul><li>a<ul><li>a1</li><li id=here>a2</li></ul></li></ul>": "here",  # nested
    "<ul><li>a<ul><li>a1</li></ul></li><li id=here>b</li></ul>": "here",
    "<ol><li>a</li><li>b<ul><li>c</li></ul><p id=here>d</p></li></ol>": "here",
    "<ul><li id=here>a<ul><li>b</li></ul><pre>c</pre></li></ul>": "here",  # below the code
    "<p>a</p><pre>b</pre>": "",
}


def test_a_streaming_reply_s_cursor_follows_the_last_word_of_any_list(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "listcursor")
    found = page.evaluate(
        """(cases) => Object.keys(cases).map((html) => {
        const article = document.createElement('article');
        article.className = 'message assistant';
        article.dataset.status = 'streaming';
        article.innerHTML = `<div class="content markdown">${html}</div>`;
        document.getElementById('thread').append(article);
        const content = article.querySelector('.content');
        const marked = [content, ...content.querySelectorAll('*')].filter(
            (e) => getComputedStyle(e, '::after').content === '"▍"');
        article.remove();
        return marked.map((e) => e.id || e.className);
    })""",
        CURSOR_CASES,
    )
    expected = [[where or "content markdown"] for where in CURSOR_CASES.values()]
    assert dict(zip(CURSOR_CASES, found, strict=True)) == dict(
        zip(CURSOR_CASES, expected, strict=True)
    )


def test_a_reply_the_model_service_broke_off_offers_to_go_on(
    page: object, live: LiveServer
) -> None:
    sign_up(page, live, "brokenoff")
    say(page, "a story [sim words=30 delay=1 fault=drop]")
    reply = page.locator("article.message.assistant").last
    assert reply.get_attribute("data-status") == "error"
    for _ in range(2):  # live, then after a reload
        assert reply.get_by_role("button", name="Continue generating").count() == 1
        page.reload()
        reply = page.locator("article.message.assistant").last
    assert [p for p in page.problems if "upstream" not in p] == []


def own_plan(
    live: LiveServer, name: str, tokens_per_day: int = 200_000, requests_per_minute: int = 100
) -> None:
    """`name` (a person) on a plan of their own, also called `name`."""
    live.query(
        "INSERT INTO webchat_plan (name, is_default, storage_mb, tokens_per_day, "
        "tokens_per_month, requests_per_minute, concurrent_generations, max_tokens_cap) "
        "VALUES (%s, %s, NULL, %s, 3000000, %s, 4, 16384)",
        name,
        False,
        tokens_per_day,
        requests_per_minute,
    )
    live.query(
        "UPDATE webchat_user SET plan_id = (SELECT id FROM webchat_plan WHERE name = %s) "
        "WHERE username = %s",
        name,
        name,
    )


def test_a_reply_the_allowance_cut_short_says_so_and_goes_on_only_once_there_are_tokens(
    page: object, live: LiveServer
) -> None:
    name = f"nearlyout{uuid.uuid4().hex[:6]}"
    sign_up(page, live, name)
    own_plan(live, name, tokens_per_day=300)
    say(page, "a long story [sim words=400 delay=1]")
    reply = page.locator("article.message.assistant").last
    for _ in range(2):  # live, then after a reload
        assert reply.get_attribute("data-finish") == "length"
        expect(reply.locator(".note")).to_have_text("Cut short: your tokens ran out.")
        assert reply.get_by_role("button", name="Continue generating").count() == 0
        page.reload()
        reply = page.locator("article.message.assistant").last
    # Once there are tokens again (a new day, a grant), it can go on.
    live.query("UPDATE webchat_plan SET tokens_per_day = 200000 WHERE name = %s", name)
    page.reload()
    reply = page.locator("article.message.assistant").last
    reply.get_by_role("button", name="Continue generating").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    page.wait_for_function(FINISHED)
    assert page.problems == []


def test_a_rate_limit_counts_its_wait_down_and_keeps_what_is_typed(
    page: object, live: LiveServer
) -> None:
    name = f"ratelimited{uuid.uuid4().hex[:6]}"
    sign_up(page, live, name)
    own_plan(live, name, requests_per_minute=1)
    page.fill("#prompt", "one [sim words=3 delay=1]")
    page.click("#send")
    page.wait_for_selector('article.message.assistant[data-status="complete"]')
    page.fill("#prompt", "two")
    page.click("#send")
    banner = page.locator("#error")
    expect(banner).to_contain_text("1 messages a minute")
    first = int(re.search(r"in (\d+) s", banner.inner_text()).group(1))
    page.wait_for_timeout(2_500)
    later = int(re.search(r"in (\d+) s", banner.inner_text()).group(1))
    assert first - 4 <= later < first
    assert page.input_value("#prompt") == "two"
    assert page.problems == []


@contextlib.contextmanager
def database_held(live: LiveServer, username: str) -> Iterator[None]:
    """The server's sends wait meanwhile: SQLite's write lock, or the person's row on
    PostgreSQL (a send's reservation locks it)."""
    if live.database_url.startswith("sqlite"):
        db = sqlite3.connect(live.database_url.removeprefix("sqlite:///"), isolation_level=None)
        db.execute("BEGIN IMMEDIATE")
    else:
        import psycopg

        db = psycopg.connect(live.database_url.replace("postgres://", "postgresql://", 1))
        db.execute("SELECT id FROM webchat_user WHERE username = %s FOR UPDATE", (username,))
    try:
        yield
    finally:
        db.rollback()
        db.close()


def greeted(page: Any, live: LiveServer, name: str) -> str:
    """A new person (`name` and a random end) with a chat of one exchange: its address."""
    sign_up(page, live, f"{name}{uuid.uuid4().hex[:6]}")
    say(page, "hello [sim words=2]")
    return page.url


def send_pending(page: Any, text: str) -> Any:
    """Typed and sent; its message shows as on its way (the server has not answered)."""
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    pending = page.locator('article.message.user[data-status="sending"]')
    expect(pending).to_contain_text(text.split(" [")[0])
    return pending


def test_a_message_on_its_way_says_so_and_the_next_one_waits_for_it(
    page: object, live: LiveServer
) -> None:
    name = f"patient{uuid.uuid4().hex[:6]}"
    sign_up(page, live, name)
    say(page, "hello [sim words=2]")
    with database_held(live, name):
        pending = send_pending(page, "first [sim words=3]")
        expect(page.locator("#status")).to_have_text("Sending…")
        page.fill("#prompt", "second [sim words=2]")
        page.press("#prompt", "Enter")
        page.wait_for_timeout(300)
        assert pending.count() == 1
        assert page.input_value("#prompt") == "second [sim words=2]"
    replies = page.locator('article.message.assistant[data-status="complete"]')
    expect(replies).to_have_count(2)
    expect(page.locator("#status")).not_to_have_text("Sending…")
    assert pending.count() == 0
    assert page.input_value("#prompt") == "second [sim words=2]"
    page.press("#prompt", "Enter")  # the kept text goes now
    expect(replies).to_have_count(3)
    users = page.locator("article.message.user .content")
    expect(users).to_have_count(3)
    expect(users.last).to_have_text("second [sim words=2]")
    assert page.problems == []


@contextlib.contextmanager
def through_proxy(page: Any, live: LiveServer) -> Iterator[Proxy]:
    """The page again, its connections through a proxy that can cut them."""
    proxy = Proxy(live.port)
    proxy.start()
    try:
        page.goto(page.url.replace(live.url, f"http://127.0.0.1:{proxy.port}"))
        expect(page.locator("#prompt")).to_be_editable()
        if page.get_attribute("#chat", "data-conversation"):
            # Its socket open: a handshake the proxy lost would leave a send queued, not lost.
            expect(page.locator('#chat[data-connection="open"]')).to_be_attached()
        yield proxy
    finally:
        proxy.stop()


def cut(proxy: Proxy) -> None:
    """Every connection cut, and the proxy back at once: the page reconnects."""
    proxy.stop()
    proxy.swallow(False)
    proxy.start()


def test_a_message_stored_while_the_connection_was_lost_shows_stored_with_its_reply(
    page: Any, live: LiveServer
) -> None:
    name = f"cutoff{uuid.uuid4().hex[:6]}"
    sign_up(page, live, name)
    say(page, "hello [sim words=2]")
    with through_proxy(page, live) as proxy:
        with database_held(live, name):
            before = proxy.delivered
            send_pending(page, "on its way [sim words=4]")
            proxy.wait_delivered(before)  # the frame went through,
            page.wait_for_timeout(300)  # and the server read it: it waits for the database
            cut(proxy)
        users = page.locator("article.message.user")
        expect(users).to_have_count(2)
        expect(users.last).to_have_attribute("data-status", "complete")
        expect(users.last).to_contain_text("on its way")
        replies = page.locator('article.message.assistant[data-status="complete"]')
        expect(replies).to_have_count(2)
        expect(page.locator("#status")).not_to_have_text("Sending…")
        assert page.input_value("#prompt") == ""
        page.fill("#prompt", "and on [sim words=2]")  # the conversation goes on
        page.press("#prompt", "Enter")
        expect(replies).to_have_count(3)
    assert page.problems == []


def test_a_message_the_connection_lost_goes_back_to_the_composer(
    page: Any, live: LiveServer
) -> None:
    greeted(page, live, "lost")
    with through_proxy(page, live) as proxy:
        proxy.swallow()
        send_pending(page, "never arrives [sim words=2]")
        page.fill("#prompt", "typed since")  # the next message, waiting for it
        page.wait_for_timeout(300)
        cut(proxy)
        expect(page.locator("#error")).to_contain_text("It is back in the box")
        expect(page.locator("article.message.user")).to_have_count(1)
        assert page.input_value("#prompt") == "never arrives [sim words=2]\n\ntyped since"
        page.press("#prompt", "Enter")  # sent again, it arrives
        replies = page.locator('article.message.assistant[data-status="complete"]')
        expect(replies).to_have_count(2)
        expect(page.locator("article.message.user").last).to_contain_text("never arrives")
    assert page.problems == []


def test_a_message_sent_while_the_connection_is_down_goes_when_it_is_back_and_the_next_waits(
    page: Any, live: LiveServer
) -> None:
    greeted(page, live, "offline")
    with through_proxy(page, live) as proxy:
        proxy.stop()  # down, and it stays down a while
        expect(page.locator("#error")).not_to_be_empty()
        send_pending(page, "queued [sim words=3]")
        expect(page.locator("#status")).to_have_text("Sending…")
        page.fill("#prompt", "next [sim words=2]")
        page.press("#prompt", "Enter")  # waits for the first, its text kept
        page.wait_for_timeout(1_000)  # a reconnection attempt or two fails meanwhile
        expect(page.locator("#status")).to_have_text("Sending…")
        proxy.start()
        replies = page.locator('article.message.assistant[data-status="complete"]')
        expect(replies).to_have_count(2)
        users = page.locator("article.message.user .content")
        expect(users).to_have_text(["hello [sim words=2]", "queued [sim words=3]"])
        expect(page.locator("#error")).to_be_empty()
        assert page.input_value("#prompt") == "next [sim words=2]"
        page.press("#prompt", "Enter")
        expect(replies).to_have_count(3)
    # Only the reconnections while it was down: refused, or (the server stopping or starting
    # as one arrived) closed before the handshake's answer.
    down = ("ERR_CONNECTION_REFUSED", "Connection closed before receiving a handshake response")
    refused = [p for p in page.problems if any(sign in p for sign in down)]
    assert refused and page.problems == refused


def test_a_new_chat_started_while_the_server_is_down_says_so_and_keeps_the_text(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, f"early{uuid.uuid4().hex[:6]}")
    with through_proxy(page, live) as proxy:
        proxy.stop()
        page.fill("#prompt", "first words [sim words=2]")
        page.press("#prompt", "Enter")
        expect(page.locator("#error")).to_have_text(
            "The server is not answering. Your message is still here, to send again in a moment."
        )
        assert page.input_value("#prompt") == "first words [sim words=2]"
        proxy.start()
        page.press("#prompt", "Enter")
        expect(page.locator('article.message.assistant[data-status="complete"]')).to_have_count(1)
        expect(page.locator("#error")).to_be_empty()
    assert all("ERR_CONNECTION_REFUSED" in p for p in page.problems)


def test_a_page_whose_network_goes_says_so_at_once_and_goes_on_when_it_is_back(
    page: Any, live: LiveServer
) -> None:
    """The browser tells the page the network is gone: its socket, which would look open
    until the connection timed out, is dropped, and taken up again when the network is back."""
    greeted(page, live, "offline")
    page.context.set_offline(True)
    expect(page.locator("#error")).to_have_text("Connection lost. Reconnecting…")
    expect(page.locator("#chat")).to_have_attribute("data-connection", "closed")
    send_pending(page, "while offline [sim words=2]")
    page.wait_for_timeout(1_500)  # tries to reconnect fail meanwhile, and back off
    page.context.set_offline(False)
    expect(page.locator('article.message.assistant[data-status="complete"]')).to_have_count(2)
    expect(page.locator("#error")).to_be_empty()
    expect(page.locator("article.message.user .content").last).to_have_text(
        "while offline [sim words=2]"
    )


def sent_from_another_tab(page: Any, url: str, text: str) -> Any:
    """A second tab of the page's browser, on `url` (a chat with one exchange): `text` sent
    there and answered."""
    other = page.context.new_page()
    other.goto(url)
    other.fill("#prompt", text)
    other.press("#prompt", "Enter")
    expect(other.locator('article.message.assistant[data-status="complete"]')).to_have_count(2)
    return other


def test_what_another_tab_sent_while_the_connection_was_down_shows_once_it_is_back(
    page: Any, live: LiveServer
) -> None:
    direct = greeted(page, live, "missed")
    with through_proxy(page, live) as proxy:
        proxy.stop()
        expect(page.locator("#error")).to_have_text("Connection lost. Reconnecting…")
        sent_from_another_tab(page, direct, "from the other tab [sim words=3]").close()
        proxy.start()
        users = page.locator("article.message.user .content")
        expect(users).to_have_text(["hello [sim words=2]", "from the other tab [sim words=3]"])
        expect(page.locator('article.message.assistant[data-status="complete"]')).to_have_count(2)
        expect(page.locator("#error")).to_be_empty()
        page.fill("#prompt", "and on [sim words=2]")  # this page's next follows it
        page.press("#prompt", "Enter")
        expect(page.locator('article.message.assistant[data-status="complete"]')).to_have_count(3)
    page.goto(direct)
    expect(page.locator("article.message.user .content")).to_have_text(
        ["hello [sim words=2]", "from the other tab [sim words=3]", "and on [sim words=2]"]
    )
    down = ("ERR_CONNECTION_REFUSED", "Connection closed before receiving a handshake response")
    assert all(any(sign in p for sign in down) for p in page.problems)


@pytest.mark.services
def test_a_message_sent_while_down_after_another_tab_answered_shows_as_the_new_version_it_is(
    page: Any, live: LiveServer
) -> None:
    """It answers what this page showed when it was written: stored after the other tab's
    message, it is a second version of that turn, and both tabs show it so, as a reload does."""
    direct = greeted(page, live, "versions")
    with through_proxy(page, live) as proxy:
        proxy.stop()
        expect(page.locator("#error")).to_have_text("Connection lost. Reconnecting…")
        send_pending(page, "from here [sim words=2]")
        other = sent_from_another_tab(page, direct, "from there [sim words=3]")
        proxy.start()
        for tab in (page, other):
            users = tab.locator("article.message.user")
            expect(users.locator(".content")).to_have_text(
                ["hello [sim words=2]", "from here [sim words=2]"]
            )
            expect(users.last.locator(".siblings .count")).to_have_text("2/2")
            expect(tab.locator('article.message.assistant[data-status="complete"]')).to_have_count(
                2
            )
        expect(page.locator("#error")).to_be_empty()
        fresh = page.context.new_page()  # as a reload shows it
        fresh.goto(direct)
        expect(fresh.locator("article.message.user .content")).to_have_text(
            ["hello [sim words=2]", "from here [sim words=2]"]
        )
        fresh.close()
        other.locator("article.message.user").last.locator(".siblings .prev").click()
        expect(other.locator("article.message.user .content").last).to_have_text(
            "from there [sim words=3]"
        )
    page.goto(direct)  # the last version flipped to is the conversation's
    expect(page.locator("article.message.user .content")).to_have_text(
        ["hello [sim words=2]", "from there [sim words=3]"]
    )


def regenerated_in_another_tab(page: Any) -> None:
    """The page's last reply regenerated in a second tab, and its new version finished."""
    other = page.context.new_page()
    other.goto(page.url)
    other.locator("article.message.assistant").last.locator("button.regenerate").click()
    last = other.locator("article.message.assistant").last
    expect(last.locator(".siblings .count")).to_have_text("2/2")
    expect(last).to_have_attribute("data-status", "complete")


@pytest.mark.services
def test_a_reply_another_tab_regenerates_shows_as_its_new_version(
    page: Any, live: LiveServer
) -> None:
    greeted(page, live, "regen")
    regenerated_in_another_tab(page)
    replies = page.locator("article.message.assistant")
    expect(replies).to_have_count(1)
    expect(replies.locator(".siblings .count")).to_have_text("2/2")
    expect(replies).to_have_attribute("data-status", "complete")


def test_a_thread_read_again_that_answers_late_keeps_what_came_meanwhile(
    page: Any, live: LiveServer
) -> None:
    """After a reconnection the page reads the thread; a message sent and answered while
    that read was on a slow network is not taken off the page by its older answer."""
    url = greeted(page, live, "late")
    held: list[Any] = []

    def hold_the_first_read(route: Any, request: Any) -> None:
        if "application/json" in (request.headers.get("accept") or "") and not held:
            held.append((route, route.fetch()))  # rendered now, answered later
        else:
            route.continue_()

    page.route(url, hold_the_first_read)
    page.context.set_offline(True)
    expect(page.locator("#chat")).to_have_attribute("data-connection", "closed")
    page.context.set_offline(False)
    expect(page.locator("#chat")).to_have_attribute("data-connection", "open")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(50)
    say(page, "sent meanwhile [sim words=3]")
    route, response = held[0]
    route.fulfill(response=response)
    page.wait_for_timeout(1_000)  # the late answer handled, and the thread read again
    users = page.locator("article.message.user .content")
    expect(users).to_have_text(["hello [sim words=2]", "sent meanwhile [sim words=3]"])
    expect(page.locator('article.message.assistant[data-status="complete"]')).to_have_count(2)
    page.unroute(url)
    say(page, "and on [sim words=2]")
    page.reload()
    expect(users).to_have_text(
        ["hello [sim words=2]", "sent meanwhile [sim words=3]", "and on [sim words=2]"]
    )
    expect(page.locator(".siblings")).to_have_count(0)  # one straight thread


def test_a_regenerated_reply_whose_start_the_connection_lost_shows_once_it_is_back(
    page: Any, live: LiveServer
) -> None:
    greeted(page, live, "regenlost")
    lose, sockets = relayed(page)
    lose["frames"] = True
    page.locator("article.message.assistant button.regenerate").click()
    page.wait_for_timeout(500)  # the reply made, its start lost
    sockets[-1].close(code=4000, reason="cut")
    lose["frames"] = False
    replies = page.locator("article.message.assistant")
    expect(replies).to_have_count(1)
    expect(replies.locator(".siblings .count")).to_have_text("2/2")
    expect(replies).to_have_attribute("data-status", "complete")
    say(page, "and on [sim words=2]")
    page.reload()
    roles = page.locator("article.message").evaluate_all("all => all.map(a => a.className)")
    assert roles == ["message user", "message assistant"] * 2


def test_a_version_made_in_another_tab_while_this_one_edits_shows_once_the_edit_is_done(
    page: Any, live: LiveServer
) -> None:
    greeted(page, live, "editing")
    page.locator("article.message.user button.edit").click()
    page.fill("form.editor textarea", "half typed")
    regenerated_in_another_tab(page)
    page.wait_for_timeout(1_500)
    assert page.input_value("form.editor textarea") == "half typed"  # not swept away
    page.click("form.editor .cancel")
    expect(page.locator("article.message.assistant .siblings .count")).to_have_text("2/2")
    expect(page.locator("article.message.assistant")).to_have_attribute("data-status", "complete")


def test_a_reply_regenerated_as_candidates_leaves_the_next_reply_without_arrows(
    page: Any, live: LiveServer
) -> None:
    greeted(page, live, "takes")
    page.click("#settings-button")
    page.fill("#candidates", "2")
    page.locator("article.message.assistant button.regenerate").click()
    candidates = page.locator('.candidates article.message.assistant[data-status="complete"]')
    expect(candidates).to_have_count(2)
    candidates.nth(1).locator(".pick").click()
    expect(page.locator(".candidates")).to_have_count(0)  # the thread goes on from the pick
    page.fill("#candidates", "1")
    say(page, "and on [sim words=2]")
    expect(page.locator("article.message.assistant").last.locator(".siblings")).to_have_count(0)
    regenerated_in_another_tab(page)  # and this page, done with its own, follows others'
    last = page.locator("article.message.assistant").last
    expect(last.locator(".siblings .count")).to_have_text("2/2")


def relayed(page: Any) -> tuple[dict[str, bool], list[Any]]:
    """The page's sockets through a relay that loses the server's frames while
    `lose["frames"]`; the relays' page ends, to close. The page is loaded again through it."""
    lose = {"frames": False}
    sockets: list[Any] = []

    def relay(ws: Any) -> None:
        server = ws.connect_to_server()
        sockets.append(ws)
        server.on_message(lambda message: None if lose["frames"] else ws.send(message))
        ws.on_message(server.send)

    page.route_web_socket(re.compile(r".*/ws/conversations/"), relay)
    page.reload()
    expect(page.locator("#chat")).to_have_attribute("data-connection", "open")
    return lose, sockets


def test_a_message_being_edited_stays_open_when_the_thread_is_read_after_a_lost_send(
    page: Any, live: LiveServer
) -> None:
    greeted(page, live, "drafting")
    lose, sockets = relayed(page)
    page.locator("article.message.user button.edit").click()
    page.fill("form.editor textarea", "a long edit, half typed")
    lose["frames"] = True
    page.fill("#prompt", "sent meanwhile [sim words=2]")
    page.press("#prompt", "Enter")
    page.wait_for_timeout(500)  # stored, its ack lost
    sockets[-1].close(code=4000, reason="cut")
    lose["frames"] = False
    users = page.locator("article.message.user")
    expect(users.locator(".content")).to_have_text(
        ["hello [sim words=2]", "sent meanwhile [sim words=2]"]
    )
    expect(users.last).to_have_attribute("data-status", "complete")  # the thread was read
    expect(page.locator("form.editor textarea")).to_have_value("a long edit, half typed")


def test_another_tabs_message_with_the_same_words_is_not_taken_for_the_one_the_connection_lost(
    page: Any, live: LiveServer
) -> None:
    direct = greeted(page, live, "tabs")
    with through_proxy(page, live) as proxy:
        proxy.swallow()
        send_pending(page, "lost text [sim words=2]")
        page.wait_for_timeout(300)
        proxy.stop()
        proxy.swallow(False)
        sent_from_another_tab(page, direct, "lost text [sim words=2]")  # "yes", say, in both
        proxy.start()
        expect(page.locator("#error")).to_contain_text("It is back in the box")
        assert page.input_value("#prompt") == "lost text [sim words=2]"
        expect(page.locator("article.message.user")).to_have_count(2)  # the other tab's
