"""The XSS corpus in a real browser: typed by a person, repeated by the model, streamed and
rendered live (markdown-it + DOMPurify), reloaded (server rendering), and shared.
No dialog may open and no request may leave for another host."""

from typing import Any

import pytest

from tests.helpers import share_link, sign_up, watch
from tests.live import LiveServer
from tests.xss_corpus import CORPUS

pytestmark = [pytest.mark.browser, pytest.mark.services]

# Elements and attributes that must never appear in the thread, whatever was written.
INSPECT = """() => {
  const bad = [];
  // What was written lives in .content; around it are the page's own controls.
  for (const el of document.querySelectorAll("#thread .content *")) {
    const tag = el.tagName.toLowerCase();
    if (["script", "img", "iframe", "svg", "object", "embed", "style", "link", "meta", "base",
         "form", "video", "audio"].includes(tag)) bad.push(tag);
    // A task list's box is a disabled checkbox; math is MathML, with no link in it.
    if (tag === "input" && !(el.type === "checkbox" && el.disabled)) bad.push(tag);
    if (el.closest("math") && (tag === "a" || el.hasAttribute("href"))) bad.push(`${tag} in math`);
    if (tag === "button" && !el.parentElement.classList.contains("code-bar")) bad.push(tag);
    for (const attr of el.getAttributeNames()) {
      if (attr.startsWith("on")) bad.push(`${tag}[${attr}]`);
    }
    const href = (el.getAttribute("href") || "").trim().toLowerCase();
    if (/^(javascript|data|vbscript):/.test(href)) bad.push(`${tag}[href=${href}]`);
  }
  return bad;
}"""


def assert_clean(page: Any) -> None:
    assert page.evaluate(INSPECT) == []
    assert page.problems == [], page.problems
    assert page.foreign == [], page.foreign


def test_the_corpus_is_harmless_everywhere_it_is_shown(
    page: Any, live: LiveServer, browser: Any
) -> None:
    sign_up(page, live, "mallory")  # one message per entry: more than 30 a minute

    for done, payload in enumerate(CORPUS, start=1):
        page.fill("#prompt", f"[sim repeat delay=3] {payload}")
        page.press("#prompt", "Enter")
        page.wait_for_function(
            "n => document.querySelectorAll('article.message.assistant:not([data-status=\"streaming\"])').length >= n",
            arg=done,
        )
    replies = page.locator("article.message.assistant")
    assert replies.count() == len(CORPUS)
    assert "onerror" in page.locator("article.message.user").nth(1).inner_text()  # shown as text
    assert_clean(page)  # as streamed and rendered in the browser, then replaced by the server's

    page.reload()
    assert page.locator("article.message.assistant").count() == len(CORPUS)
    assert_clean(page)  # as rendered by the server

    link = share_link(page)
    viewer = browser.new_context().new_page()
    watch(viewer)
    viewer.goto(link)
    assert viewer.locator("article.message.assistant").count() == len(CORPUS)
    assert_clean(viewer)  # on the share page, to someone without an account
    viewer.context.close()


def test_a_reader_follows_a_shared_reply_live_until_revoked(
    page: Any, live: LiveServer, browser: Any
) -> None:
    sign_up(page, live, "sharer")
    page.fill("#prompt", "A long answer, please [sim words=400 delay=40]")
    page.press("#prompt", "Enter")
    page.wait_for_function(
        "() => (document.querySelector('article.message.assistant .content')?.textContent || '').length > 20"
    )
    link = share_link(page)
    reader = browser.new_context().new_page()
    watch(reader)
    reader.goto(link)
    reply = reader.locator("article.message.assistant .content")
    first = len(reply.inner_text())
    reader.wait_for_function(
        f"() => document.querySelector('article.message.assistant .content').textContent.length > {first + 50}"
    )
    # The owner revokes the link: the reader is cut off and told so.
    token = page.locator("#share-link").input_value().rstrip("/").rsplit("/", 1)[-1]
    page.goto("/shares/")
    page.click(f"form[action='/s/{token}/revoke/'] button")
    # It asks first, in the page's own dialog: Cancel changes nothing.
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    assert "revoked" not in page.locator("table.shares").inner_text()
    page.click(f"form[action='/s/{token}/revoke/'] button")
    page.get_by_role("dialog").get_by_role("button", name="Revoke").click()
    reader.wait_for_selector("text=This link has been revoked.")
    page.wait_for_selector("table.shares >> text=revoked")
    assert reader.foreign == [] and page.foreign == []
    reader.context.close()
