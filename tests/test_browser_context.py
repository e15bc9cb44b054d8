"""A long conversation in Chromium: where the model's view begins, how full its context is,
"Summarize earlier messages", and "Summarize and retry" after the upstream's length error.
Both summaries are POSTs made by the page itself."""

from typing import Any

import pytest

from tests.helpers import say, sign_up
from tests.live import LiveServer

pytestmark = pytest.mark.browser

FAST = "[sim words=60 delay=1]"


def test_the_marker_and_gauge_show_what_the_model_reads_and_a_summary_stands_in(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "longtalker")
    catalog = live.query("SELECT id, context_window, max_output_tokens FROM webchat_chatmodel")
    live.query("UPDATE webchat_chatmodel SET context_window = 1200, max_output_tokens = 200")
    try:
        long_conversation_in_the_browser(page)
    finally:  # the server is the session's: the next tests find the catalog as it was
        for row in catalog:
            live.query(
                "UPDATE webchat_chatmodel SET context_window = %s, max_output_tokens = %s "
                "WHERE id = %s",
                row[1],
                row[2],
                row[0],
            )


def long_conversation_in_the_browser(page: Any) -> None:
    page.reload()
    say(page, f"first question {FAST}")
    assert page.locator(".context-marker").count() == 0
    assert page.locator("#context-gauge").is_visible()
    assert page.locator("#context-gauge .context-text").inner_text().startswith("Context ")
    for i in range(2, 9):
        say(page, f"question {i} {FAST}")
    marker = page.locator("#thread .context-marker")
    marker.wait_for()
    # The marker stands before a person's message: whole turns are left out.
    assert marker.evaluate("m => m.nextElementSibling.classList.contains('user')")
    assert "full" in (page.locator("#context-gauge").get_attribute("class") or "")
    # The page's rule is the server's: the first message it marks, with this draft, is the
    # first one the upstream receives.
    page.fill("#prompt", "what did I ask first? [sim echo words=12 delay=1]")
    page.wait_for_timeout(200)
    first_sent = marker.evaluate("m => m.nextElementSibling.querySelector('.content').textContent")
    page.press("#prompt", "Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('article.message.assistant')].pop()"
        ".dataset.status === 'complete' && document.querySelectorAll('article.message.assistant').length === 9"
    )
    echo = page.locator("article.message.assistant .content").last.inner_text()
    assert f"user: {' '.join(first_sent.split()[:2])}" in echo, (first_sent, echo)

    page.click("#thread .context-marker button.summarize")
    summary = page.locator("#thread aside.summary")
    summary.wait_for()
    assert "earlier message" in summary.locator("summary").inner_text()
    # The gauge redraws on the next frame: the marker goes then.
    marker.wait_for(state="detached")
    # The next request carries the summary in place of those turns.
    after = summary.evaluate("s => s.nextElementSibling.querySelector('.content').textContent")
    later = summary.evaluate(
        "s => { let n = 0; for (let e = s.nextElementSibling; e; e = e.nextElementSibling)"
        " if (e.matches('article.message')) n++; return n; }"
    )
    say(page, "and now? [sim echo words=12 delay=1]")
    echo = page.locator("article.message.assistant .content").last.inner_text()
    # The messages after the summary, the new one, and a system message: the summary.
    assert echo.startswith(f"I received {later + 2} messages."), (later, echo)
    # What follows the summary's last message is the first message sent after it.
    assert echo.split(". user: ", 1)[1].startswith(" ".join(after.split()[:2]))
    page.reload()
    assert page.locator("#thread aside.summary").count() == 1
    assert page.problems == []


def test_a_context_error_offers_summarize_and_retry(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "tooLong")
    # Too long at the first message: nothing before it to summarize, so no button.
    page.fill("#prompt", "x [sim context=5]")
    page.press("#prompt", "Enter")
    page.locator("article.message.assistant .note.error").wait_for()
    assert page.locator(".summarize-retry").count() == 0
    assert page.locator("#error").is_hidden()  # said once, in the reply
    page.goto("/")
    for i in range(6):
        say(page, f"tell me more {i} {FAST}")
    # Our window is wide; the upstream's is not: it answers with its length error.
    page.fill("#prompt", "and now? [sim context=300 delay=1]")
    page.press("#prompt", "Enter")
    retry = page.locator("article.message.assistant .note.error button.summarize-retry")
    retry.wait_for()
    assert "too long for the model" in page.locator(".note.error").last.inner_text()
    retry.click()
    page.wait_for_selector("#thread aside.summary")
    page.wait_for_function(
        "() => { const a = [...document.querySelectorAll('article.message.assistant')].pop();"
        " return a && a.dataset.status === 'complete'; }"
    )
    last = page.locator("article.message.assistant").last
    assert last.locator(".siblings .count").inner_text() == "2/2"  # the failed one kept
    assert page.problems == []
