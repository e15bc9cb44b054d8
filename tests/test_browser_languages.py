"""The main flow in Chromium in Chinese and in Arabic (right to left): the browser's
language chooses the interface's, the replies stay as the model writes them, code stays
left to right, and a person's own choice in the settings follows them."""

import re
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import file_of, say, sign_up, watch
from tests.live import LiveServer

pytestmark = pytest.mark.browser


# An element's characters from left to right as they are drawn.
IN_VISUAL_ORDER = """e => {
  const text = e.firstChild, drawn = [];
  for (let i = 0; i < text.length; i++) {
    const range = document.createRange();
    range.setStart(text, i);
    range.setEnd(text, i + 1);
    drawn.push([range.getBoundingClientRect().left, text.data[i]]);
  }
  return drawn.sort((a, b) => a[0] - b[0]).map(([, c]) => c).join("");
}"""


@pytest.fixture
def chinese(browser: Any, live: LiveServer) -> Any:
    context = browser.new_context(base_url=live.url, locale="zh-CN")
    page = context.new_page()
    watch(page)
    yield page
    context.close()


@pytest.fixture
def arabic(browser: Any, live: LiveServer) -> Any:
    context = browser.new_context(
        base_url=live.url, locale="ar-EG", viewport={"width": 390, "height": 844}, is_mobile=True
    )
    page = context.new_page()
    watch(page)
    yield page
    context.close()


def test_the_main_flow_in_chinese(chinese: Any, live: LiveServer) -> None:
    page = chinese
    page.goto("/accounts/signup/")
    assert page.locator("html").get_attribute("lang") == "zh-hans"
    assert page.locator("button[type=submit]").inner_text() == "注册"
    sign_up(page, live, "zhang")
    assert page.locator("#send").inner_text() == "发送"
    assert page.get_attribute("#prompt", "placeholder") == "给 Grok 发消息…"
    say(page, "你好 请介绍一下你自己")
    # The model's words are the model's: not translated.
    assert "你好" in page.locator("article.message.user .content").inner_text()
    item = page.locator(".conversation-list li").first
    item.hover()
    item.locator(".item-menu").click()
    assert page.get_by_role("menuitem").all_inner_texts()[:3] == ["重命名", "置顶", "移到文件夹…"]
    page.get_by_role("menuitem", name="置顶").click()
    page.locator(".conversation-list h2.group", has_text="已置顶").wait_for()
    page.goto("/settings/")
    assert page.locator("h1").inner_text() == "偏好设置"
    assert page.problems == []


def test_the_main_flow_in_arabic_reads_right_to_left(
    arabic: Any, live: LiveServer, tmp_path: Path
) -> None:
    page = arabic
    sign_up(page, live, "layla")
    assert page.locator("html").get_attribute("dir") == "rtl"
    assert page.locator("#send").inner_text() == "إرسال"
    say(page, "مرحبا [sim repeat delay=1]\n\n```python\nprint('hello')\n```")
    code = page.locator("article.message.assistant pre").first
    assert code.evaluate("e => getComputedStyle(e).direction") == "ltr"
    # The context gauge's "<1%" reads as written, not mirrored into "1%>".
    figure = page.locator("#context-gauge .context-text bdi")
    figure.wait_for()
    assert figure.evaluate(IN_VISUAL_ORDER) == "<1%"
    # An English model name reads from its start, any cut at its end: "Grok 4.1 F…".
    assert page.locator("#model").evaluate("e => getComputedStyle(e).direction") == "ltr"
    # A file's name and size read as written: "2.4 KB", not "KB 2.4".
    page.set_input_files(
        "#file-input",
        files=[{"name": "notes.txt", "mimeType": "text/plain", "buffer": b"note " * 500}],
    )
    size = page.locator("#attachments .chip[data-id] .chip-size")
    size.wait_for()
    assert size.evaluate(IN_VISUAL_ORDER) == "2.4 KB"
    assert page.locator("#attachments .chip-name").evaluate(IN_VISUAL_ORDER) == "notes.txt"
    page.locator("#attachments .chip-remove").click()
    # One over the limit: its name and both sizes read as written, its size over the limit.
    page.set_input_files("#file-input", files=file_of(tmp_path, "big.txt", 20 * 2**20 + 1))
    error = page.locator("#error")
    error.wait_for()
    drawn = re.sub("[\u2066-\u2069]", "", error.evaluate(IN_VISUAL_ORDER))  # the isolates
    assert "big.txt" in drawn and "20.1 MB" in drawn and "20.0 MB" in drawn, drawn
    # A reply in English reads left to right on the Arabic page, its lists too; one in
    # Arabic right to left; live and after a reload.
    say(page, "Steps: [sim repeat delay=1]\n\n- first\n- second")
    for _ in range(2):
        replies = page.locator("article.message.assistant .content")
        arabic_words = replies.nth(0).locator("p").first
        assert arabic_words.evaluate("e => getComputedStyle(e).direction") == "rtl"
        english_list = replies.nth(1).locator("ul").first
        assert english_list.evaluate("e => getComputedStyle(e).direction") == "ltr"
        page.reload()
    # The drawer comes in from the right, where an Arabic page begins.
    page.click("#menu-button")
    page.wait_for_timeout(400)
    drawer = page.locator("#sidebar").bounding_box()
    assert drawer["x"] + drawer["width"] >= 389 and drawer["x"] > 0
    # An English title reads left to right, clear of its ⋯ (at the row's left here).
    live.query("UPDATE conversations_conversation SET title = 'Lisbon trip'")
    page.reload()
    page.click("#menu-button")
    link = page.locator(".conversation-list li a").first
    link.wait_for()
    page.wait_for_timeout(400)
    words = link.evaluate(
        "a => { const r = document.createRange(); r.selectNodeContents(a);"
        " const b = r.getBoundingClientRect(); return [b.left, b.right]; }"
    )
    menu = page.locator(".conversation-list li .item-menu").first.bounding_box()
    assert menu["x"] + menu["width"] <= words[0], (menu, words)
    assert link.evaluate("e => getComputedStyle(e).direction") == "ltr"
    overflow = page.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    assert page.problems == []


def test_sizes_are_written_as_the_page_s_language_writes_figures(
    browser: Any, live: LiveServer, tmp_path: Path
) -> None:
    context = browser.new_context(base_url=live.url, locale="es-ES")
    page = context.new_page()
    watch(page)
    sign_up(page, live, "tamanos")
    notes = tmp_path / "notas.txt"
    notes.write_bytes(b"nota " * 500)
    page.set_input_files(
        "#file-input", files=[notes, file_of(tmp_path, "grande.txt", 20 * 2**20 + 1)]
    )
    size = page.locator("#attachments .chip[data-id] .chip-size")
    size.wait_for()
    assert size.inner_text() == "2,4 KB"  # as the server's pages write it after a reload
    expect_text = "“grande.txt” ocupa 20,1 MB; el límite es 20,0 MB."
    assert expect_text in page.locator("#error").inner_text()
    page.reload()
    assert page.locator("#attachments .chip[data-id] .chip-size").inner_text() == "2,4 KB"
    assert page.problems == []
    context.close()


def test_a_language_chosen_in_the_settings_wins_over_the_browser(
    chinese: Any, phone: Any, live: LiveServer
) -> None:
    page = chinese
    sign_up(page, live, "choosy")
    # The same person on a phone, logged in before the choice: in its browser's English.
    phone.goto("/accounts/login/")
    phone.fill("#id_username", "choosy")
    phone.fill("#id_password", "a long enough passphrase 42")
    phone.click("button[type=submit]")
    phone.wait_for_url("**/")
    assert phone.locator("#send").inner_text() == "Send"
    page.goto("/settings/")
    page.select_option("#id_language", "es")
    page.click("#defaults button[type=submit]")
    page.wait_for_selector("text=Guardado.")
    assert page.locator("html").get_attribute("lang") == "es"
    # The phone's very next page is in Spanish, and so is its login page after logging out.
    phone.goto("/accounts/")
    assert phone.locator("html").get_attribute("lang") == "es"
    phone.locator("form[action='/accounts/logout/'] button").first.click()
    phone.wait_for_url("**/accounts/login/**")
    assert phone.locator("html").get_attribute("lang") == "es"
    assert phone.problems == []
    # Logged out and in again, still Spanish, though the browser asks for Chinese.
    page.goto("/")
    page.locator("form[action='/accounts/logout/'] button").first.click()
    page.wait_for_url("**/accounts/login/**")
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    assert page.locator("h1").inner_text() == "登录 webchat"
    page.fill("#id_username", "choosy")
    page.fill("#id_password", "a long enough passphrase 42")
    page.click("button[type=submit]")
    page.wait_for_url("**/")
    assert page.locator("#send").inner_text() == "Enviar"
    assert page.problems == []


@pytest.mark.parametrize("language", ["zh-hans", "ar"])
def test_the_other_pages_speak_the_readers_language(
    browser: Any, live: LiveServer, language: str
) -> None:
    """Keys (a key made by the page's form), usage with the reader's digit grouping, search,
    the archive's download, and a file the server refuses: each in the reader's words."""
    from django.utils import translation

    def said(sentence: str) -> str:
        with translation.override(language):
            return translation.gettext(sentence)

    locale = {"zh-hans": "zh-CN", "ar": "ar-EG"}[language]
    context = browser.new_context(base_url=live.url, locale=locale)
    page = context.new_page()
    watch(page)
    sign_up(page, live, f"reader-{language}")
    page.set_input_files(
        "#file-input",
        files=[
            {
                "name": "notes.exe",
                "mimeType": "application/octet-stream",
                "buffer": b"MZ\x90\x00" + bytes(range(256)) * 4,
            }
        ],
    )
    refusal = said(
        "“%(name)s” is not an image, a PDF or text. Attach images (JPEG, PNG, WebP, GIF, BMP, AVIF), PDFs, or text files (plain text, Markdown, code, CSV)."
    ) % {"name": "notes.exe"}
    page.wait_for_function(
        "text => document.getElementById('error').textContent.includes(text)", arg=refusal[:30]
    )
    say(page, "Paella de marisco [sim words=5]")
    page.goto("/keys/")
    assert page.locator("h1").inner_text() == said("API keys")
    page.fill("#id_name", "script")
    page.click("form[action='/keys/#create'] button[type=submit]")
    assert page.locator("#new-key").inner_text().startswith("wc-")
    page.goto("/usage/")
    assert page.locator("h1").inner_text() == said("Your usage")
    month = page.locator("tr", has_text=said("This month")).first.inner_text()
    grouped = ","  # as the browser's own scripts write them in both languages
    assert re.search(rf"\d{re.escape(grouped)}\d{{3}}{re.escape(grouped)}\d{{3}}", month), month
    page.goto("/search/?q=Paella")
    assert page.locator("h1").inner_text() == said("Search")
    assert page.locator("main a", has_text="Paella").count() >= 1
    # An English title reads left to right on any page, in the dialog too.
    direction = "e => getComputedStyle(e).direction"
    assert page.locator("main a", has_text="Paella").first.evaluate(direction) == "ltr"
    page.goto("/")
    page.keyboard.press("Control+k")
    page.locator("#search-dialog-q").press_sequentially("Paella")
    title = page.locator("#search-results .result-title", has_text="Paella").first
    assert title.evaluate(direction) == "ltr"
    page.keyboard.press("Escape")
    page.goto("/settings/")
    with page.expect_download() as download:
        page.click(f"text={said('Download all conversations')}")
    assert download.value.suggested_filename.endswith(".zip")
    # The only problem is the refused file, which the browser logs as a failed request.
    assert all("400" in p for p in page.problems), page.problems
    context.close()


MIXED = (
    "1. مرحبا world\n2. hello عالم\n   - ١٢٣ שלום\n\n"
    "| اسم | value |\n|-|-|\n| x | ب |\n\n"
    "> **123** `كود` text\n\n$x$ نص\n\n### עברית heading\n\n[رابط](https://example.com) ok"
    "\n\n½ كوب سكر"  # a number first, not a letter
)

# Each block of `text` as the page renders it: its own direction, and the one Chromium's
# dir="auto" gives the same block.
DIRECTIONS = """async (text) => {
  const src = document.querySelector('script[type=module][src*="chat"]').src;
  const { loadExtras, showMarkdown } = await import(new URL('render.js', src).href);
  await loadExtras();
  const host = document.createElement('div');
  document.body.append(host);
  showMarkdown(host, text);
  const auto = host.cloneNode(true);
  for (const block of auto.querySelectorAll('[dir]')) block.dir = 'auto';
  document.body.append(auto);
  const read = (root) => [...root.querySelectorAll('[dir]')].map((b) => [b.localName, getComputedStyle(b).direction]);
  return { page: read(host), auto: read(auto), html: host.innerHTML };
}"""


def test_each_block_reads_as_its_first_letter_on_the_page_and_from_the_server(
    page: Any, live: LiveServer
) -> None:
    """A block's direction is written out (dir="auto" made Chromium look through a block
    again at each element added inside it: a table of 4,000 rows took 5.8 s to show, now
    0.4 s). The page and the server write the same."""
    from conversations.render import render_markdown

    sign_up(page, live, "ibn-sina")
    shown = page.evaluate(DIRECTIONS, MIXED)
    # A paragraph, item or cell reads as dir="auto" reads it. A list, table or quote reads as
    # its first letter too (dir="auto" found none in them: each block in them had its own).
    texts = ("p", "li", "th", "td", "h3")
    assert [b for b in shown["page"] if b[0] in texts] == [
        b for b in shown["auto"] if b[0] in texts
    ]
    assert [d for tag, d in shown["page"] if tag not in texts] == ["rtl"] * 4
    assert [d for _, d in shown["page"]].count("rtl") == 12
    server = page.evaluate(
        "html => { const host = document.createElement('div'); host.innerHTML = html;"
        " return [...host.querySelectorAll('[dir]')].map((b) => [b.localName, b.dir]); }",
        render_markdown(MIXED),
    )
    assert server == [[tag, direction] for tag, direction in shown["page"]]
    assert 'dir="auto"' not in shown["html"] + render_markdown(MIXED)
    assert page.problems == []


def test_an_arabic_title_on_an_english_page_is_cut_at_its_own_end(
    phone: Any, live: LiveServer
) -> None:
    """A long title in Arabic reads right to left in the list, its "…" at its end (on the
    left), clear of the row's ⋯ on the right: it was cut at its start."""
    sign_up(phone, live, "hafez")
    say(phone, "مرحبا، أرني كيف أكتب برنامجا صغيرا يقرأ ملفا ويعد كلماته [sim words=3 delay=1]")
    phone.click("#menu-button")
    link = phone.locator(".conversation-list li a").first
    link.wait_for()
    phone.wait_for_timeout(400)
    assert link.evaluate("e => getComputedStyle(e).direction") == "rtl"
    assert link.evaluate("e => e.scrollWidth > e.clientWidth")  # cut
    words = link.evaluate(
        "a => { const r = document.createRange(); r.selectNodeContents(a);"
        " const b = r.getBoundingClientRect(); return [b.left, b.right]; }"
    )
    menu = phone.locator(".conversation-list li .item-menu").first.bounding_box()
    box = link.bounding_box()
    assert words[1] <= menu["x"] + 1, (words, menu)  # its start, on the right, is shown
    assert words[0] < box["x"]  # its end runs out on the left, where the "…" is
    assert phone.problems == []
