"""Finding one's way, in headless Chromium: the phone's drawer and menus, each
conversation's own menu, search as you type, the page's own dialogs, a fresh site's first
page, and a desktop page that never scrolls."""

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers import FINISHED, edit, eventually, say, share_link, sign_up, watch
from tests.live import LiveServer

pytestmark = pytest.mark.browser

# Every control a finger may need on the chat page, when it is on screen.
CONTROLS = "button, select, summary, a, input, textarea"
SMALL_TARGETS = """sel => [...document.querySelectorAll(sel)].filter(e => {
  if (!e.checkVisibility({ visibilityProperty: true }) || e.closest('.content')) return false;
  const box = e.getBoundingClientRect();
  if (box.right <= 0 || box.left >= innerWidth || box.bottom <= 0 || box.top >= innerHeight) return false;
  return box.height < 44 || (e.matches('button, select, summary') && box.width < 44);
}).map(e => `${e.tagName.toLowerCase()}#${e.id}.${e.className} ${Math.round(e.getBoundingClientRect().width)}x${Math.round(e.getBoundingClientRect().height)}`)"""


# The distance from each line of an element's own text (not its children's) to the next,
# as a share of its font's size.
LINE_GAPS = """sel => {
  const element = document.querySelector(sel);
  const tops = new Set();
  for (const node of element.childNodes) {
    if (node.nodeType !== Node.TEXT_NODE || !node.textContent.trim()) continue;
    const range = document.createRange();
    range.selectNodeContents(node);
    for (const rect of range.getClientRects()) tops.add(Math.round(rect.top));
  }
  const sorted = [...tops].sort((a, b) => a - b);
  const size = parseFloat(getComputedStyle(element).fontSize);
  return sorted.slice(1).map((top, i) => Math.round((top - sorted[i]) / size * 10) / 10);
}"""


# The elements whose words sit more than 2 px off their box's middle, up or down.
OFF_CENTRE = """sel => [...document.querySelectorAll(sel)].filter(e => {
  const range = document.createRange();
  range.selectNodeContents(e);
  const words = range.getBoundingClientRect(), box = e.getBoundingClientRect();
  return Math.abs((words.top + words.bottom) / 2 - (box.top + box.bottom) / 2) > 2;
}).map(e => e.id || e.textContent)"""


def chats(page: Any, *texts: str) -> list[str]:
    """A conversation of each text (said in a new chat, one after another): their addresses."""
    addresses = []
    for text in texts:
        if addresses:
            page.goto("/")
        say(page, text)
        addresses.append(page.url)
    return addresses


def on_screen(page: Any, selector: str) -> bool:
    box = page.locator(selector).bounding_box()
    size = page.viewport_size
    return box is not None and box["x"] >= 0 and box["x"] + box["width"] <= size["width"] + 1


# --- 10. The phone -------------------------------------------------------------------------
def test_on_a_phone_a_long_message_is_written_across_the_whole_box(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "writer")
    box = phone.locator(".composer-box").bounding_box()
    phone.fill("#prompt", "short")
    assert phone.locator("#prompt").bounding_box()["width"] < box["width"] / 2 + 60
    phone.fill("#prompt", "a longer message, written on a phone, that goes on " * 3)
    prompt = phone.locator("#prompt").bounding_box()
    assert prompt["width"] > box["width"] - 40  # the buttons went below it
    assert phone.locator("#send").bounding_box()["y"] >= prompt["y"] + prompt["height"] - 1
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    phone.fill("#prompt", "")
    assert phone.locator("#prompt").bounding_box()["width"] < box["width"] / 2 + 60
    assert phone.problems == []


def test_on_a_small_phone_a_reply_s_actions_are_one_row_and_the_gauge_says_what_it_is(
    phone: Any, live: LiveServer
) -> None:
    phone.set_viewport_size({"width": 360, "height": 740})
    sign_up(phone, live, "small")
    # The composer's words for what to do fit its box on one line.
    room = phone.evaluate(
        """() => { const t = document.getElementById('prompt'), s = getComputedStyle(t);
        const c = document.createElement('canvas').getContext('2d'); c.font = s.font;
        return t.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight)
            - c.measureText(t.placeholder).width; }"""
    )
    assert room >= 0, room
    say(phone, "hello [sim words=20 delay=1]")
    buttons = phone.locator("article.message.assistant .actions > button")
    tops = {round(buttons.nth(i).bounding_box()["y"]) for i in range(buttons.count())}
    assert buttons.count() == 5 and len(tops) == 1, tops
    # The word "Context" gives way to the model's name, its meter does not; a few words of
    # a context of millions are not "0%".
    assert phone.locator("#context-gauge meter").is_visible()
    assert phone.locator("#context-gauge .context-text").inner_text() == "<1%"
    # The allowance beside it wraps, never cut: a cut number would read as another one.
    allowance = phone.locator("#allowance")
    assert allowance.evaluate("a => a.scrollWidth <= a.clientWidth"), allowance.inner_text()
    lines = allowance.evaluate(
        """a => { const r = document.createRange(); r.selectNodeContents(a);
        return new Set([...r.getClientRects()].map(x => Math.round(x.top))).size; }"""
    )
    assert lines == 2, allowance.inner_text()
    # What it counts, which a tooltip cannot tell on a phone, is told by a tap on it (a click: the page has no touch here).
    phone.click("#context-gauge")
    note = phone.locator("#context-note")
    assert note.is_visible() and note.inner_text().startswith("About "), note.inner_text()
    assert phone.locator("#context-gauge").get_attribute("aria-expanded") == "true"
    phone.click("#context-gauge")
    assert note.is_hidden()
    # Named for what it measures, with its figure, for a screen reader.
    name = "How full the model\N{RIGHT SINGLE QUOTATION MARK}s context is <1%"
    named = phone.get_by_role("button", name=name, exact=True)
    assert named.count() == 1
    # From the keyboard too; a key on it sends nothing.
    phone.focus("#context-gauge")
    phone.keyboard.press("Enter")
    assert note.is_visible()
    assert phone.locator("article.message").count() == 2
    phone.keyboard.press("Space")
    assert note.is_hidden()
    assert phone.evaluate(SMALL_TARGETS, CONTROLS) == []
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 360
    # With a second version, its switcher is a row of its own and the five stay one row.
    phone.locator("article.message.assistant .regenerate").click()
    phone.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    phone.wait_for_function(FINISHED)
    switcher = phone.locator("article.message.assistant .siblings").bounding_box()
    tops = {round(buttons.nth(i).bounding_box()["y"]) for i in range(buttons.count())}
    assert buttons.count() == 5 and len(tops) == 1, tops
    assert switcher["y"] + switcher["height"] <= min(tops), (switcher, tops)
    # At 2/2 the next-version arrow, which cannot be used, looks it; the previous does not.
    opacity = "b => Number(getComputedStyle(b).opacity)"
    assert phone.locator("article.message.assistant .siblings .next").evaluate(opacity) < 1
    assert phone.locator("article.message.assistant .siblings .prev").evaluate(opacity) == 1
    assert phone.evaluate(SMALL_TARGETS, CONTROLS) == []  # the arrows too
    # A question's two actions have room beside its switcher: one row.
    edit(phone, "hello again [sim words=5 delay=1]")
    row = phone.locator("article.message.user .actions").first
    parts = row.locator(".siblings, :scope > button")
    tops = {round(parts.nth(i).bounding_box()["y"]) for i in range(parts.count())}
    assert parts.count() == 3 and len(tops) == 1, tops
    # The login page's links are a finger's size too.
    phone.context.clear_cookies()
    phone.goto("/accounts/login/")
    assert phone.evaluate(SMALL_TARGETS, CONTROLS) == []
    assert phone.problems == []


def test_on_a_phone_a_wide_table_scrolls_and_keeps_its_words_whole(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "widetables")
    header = "|" + "|".join(f"Column {c}" for c in "ABCDEF") + "|"
    row = "|" + "|".join(["2,718.28"] * 6) + "|"
    say(phone, f"[sim repeat delay=1]\n\n{header}\n|{'-|' * 6}\n{row}")
    table = phone.locator("article.message.assistant table").first
    # The table scrolls in itself; the page does not.
    assert table.evaluate("t => t.scrollWidth > t.clientWidth")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    # No number is broken across lines: each is one line, as high as a line of the text.
    line = float(table.evaluate("t => parseFloat(getComputedStyle(t).lineHeight)"))
    heights = table.locator("td").evaluate_all("cells => cells.map(c => c.clientHeight)")
    assert max(heights) < 2 * line, heights
    assert phone.problems == []


def test_on_a_phone_the_sidebar_is_a_drawer_and_the_header_a_menu(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "drawer")
    # A new chat's header: its button in line with the title, clear of the banner above.
    title, button = (phone.locator(s).bounding_box() for s in ("#title", "#temporary"))
    banner = phone.locator(".banner").first.bounding_box()
    middle = [box["y"] + box["height"] / 2 for box in (title, button)]
    assert abs(middle[0] - middle[1]) <= 1.5, (title, button)
    assert button["y"] >= banner["y"] + banner["height"] + 2, (banner, button)
    first, _ = chats(
        phone,
        "A conversation with a rather long title to read [sim words=5 delay=1]",
        "Another one [sim words=60 delay=0]",
    )
    # Closed: the chat has the whole screen; nothing of the list is in the way.
    assert not phone.locator("#sidebar").is_visible() or not on_screen(phone, "#sidebar")
    assert phone.locator("#rename").is_hidden()
    phone.click("#menu-button")
    phone.wait_for_function(
        "() => getComputedStyle(document.getElementById('sidebar')).transform === 'none'"
    )
    sidebar = phone.locator("#sidebar").bounding_box()
    assert sidebar["height"] >= 843 and sidebar["x"] == 0
    link = phone.locator(".conversation-list a", has_text="A conversation with")
    assert link.is_visible() and on_screen(phone, ".conversation-list li:last-child a")
    assert phone.locator(".account").get_by_text("Log out").is_visible()
    assert phone.evaluate(SMALL_TARGETS, CONTROLS) == []
    # The page behind is out of reach until the drawer closes.
    assert phone.evaluate("() => document.getElementById('chat').inert")
    phone.keyboard.press("Escape")
    phone.wait_for_function("() => !document.body.classList.contains('drawer-open')")
    assert phone.evaluate("() => document.activeElement.id") == "menu-button"
    # The header's actions are one tap away.
    phone.click("#actions-button")
    assert phone.locator("#rename").is_visible() and phone.locator("#share").is_visible()
    assert phone.evaluate(SMALL_TARGETS, CONTROLS) == []
    # Cancelling a delete from the fold gives focus back to its ⋯ button, not the page.
    phone.click("#delete")
    phone.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    phone.wait_for_function("() => document.activeElement.id === 'actions-button'")
    # The composer and the model picker take a small share of the screen.
    composer = phone.locator("#composer").bounding_box()
    assert composer["height"] <= 844 * 0.2, composer
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    # A conversation from the drawer.
    phone.click("#menu-button")
    phone.locator(".conversation-list a", has_text="A conversation with").click()
    phone.wait_for_url(first)
    assert phone.locator("#sidebar").is_hidden() or not on_screen(phone, "#sidebar")
    assert phone.evaluate(SMALL_TARGETS, CONTROLS) == []
    assert phone.problems == []


def test_on_a_phone_the_links_of_panels_dialogs_and_pages_are_a_finger_s_size(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "fingers")
    say(phone, "Something to find again [sim words=5 delay=1]")
    phone.click("#actions-button")
    phone.click("#share")
    phone.wait_for_selector("#share-panel .note a", state="visible")
    assert phone.evaluate(SMALL_TARGETS, "#share-panel a") == []
    # ... and its note's sentence keeps its lines' height around it.
    gaps = phone.evaluate(LINE_GAPS, "#share-panel .note")
    assert gaps and all(gap <= 1.6 for gap in gaps), gaps
    phone.keyboard.press("Escape")
    phone.keyboard.press("Control+k")
    phone.keyboard.type("find")
    phone.wait_for_selector("#search-all", state="visible")
    assert phone.evaluate(SMALL_TARGETS, "#search-dialog a") == []
    phone.keyboard.press("Escape")
    for path in ("/accounts/", "/search/?q=find", "/shares/", "/settings/", "/usage/", "/keys/"):
        phone.goto(path)
        assert phone.evaluate(SMALL_TARGETS, "main a") == [], path
        # A list's link wrapped onto two lines starts beside its bullet, not a line above it.
        assert phone.evaluate(
            "() => [...document.querySelectorAll('.page-links li > a')]"
            ".every(a => getComputedStyle(a).display === 'block')"
        ), path
    # A shared link's copy button says so on one line; its conversation's title heads its
    # card, read from the start of the line.
    phone.goto("/shares/")
    copy = phone.locator(".copy-link").first.bounding_box()
    assert copy is not None and copy["height"] < 50
    heading = phone.locator("table.shares td:first-child a").first.bounding_box()
    assert heading["x"] <= 17, heading
    # A result's title, its match marked, still reads with its spaces.
    phone.goto("/search/?q=find")
    title = phone.locator(".results li > a").first
    assert title.locator("mark").count() == 1
    assert title.inner_text().startswith("Something to find again [sim")
    assert phone.problems == []


def test_on_a_phone_the_header_s_menu_pins_moves_and_archives(
    phone: Any, page: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "pinner")
    say(phone, "Pin me from the header [sim words=5 delay=1]")
    conversation = phone.url
    item = phone.locator(f'.conversation-list li[data-id="{conversation.split("/")[-2]}"]')
    phone.click("#actions-button")
    phone.get_by_role("button", name="Pin", exact=True).click()
    phone.wait_for_function("() => document.getElementById('pin').textContent === 'Unpin'")
    assert item.get_attribute("data-pinned") is not None
    assert phone.evaluate("() => document.activeElement.id") == "actions-button"
    assert phone.evaluate(SMALL_TARGETS, CONTROLS) == []
    # The menu's links (the exports) have their words in the middle, as its buttons do.
    phone.click("#actions-button")
    assert phone.evaluate(OFF_CENTRE, "#header-actions > :not([hidden])") == []
    phone.keyboard.press("Escape")
    # Stored: a reload still says so.
    phone.reload()
    phone.click("#actions-button")
    assert phone.locator("#pin").inner_text() == "Unpin"
    # Into a folder, and the dialog then names the folder it is in.
    phone.get_by_role("button", name="Move to folder…").click()
    phone.get_by_role("textbox", name="Folder").fill("Errands")
    phone.get_by_role("button", name="Move", exact=True).click()
    phone.locator("details.folder .folder-name", has_text="Errands").wait_for(state="attached")
    assert item.get_attribute("data-folder") and item.get_attribute("data-pinned") is None
    phone.click("#actions-button")
    phone.get_by_role("button", name="Move to folder…").click()
    assert phone.get_by_label("Folder", exact=True).input_value() == "Errands"
    phone.keyboard.press("Escape")
    phone.click("#actions-button")
    phone.get_by_role("button", name="Archive", exact=True).click()
    phone.wait_for_selector(".archived-note")
    lines = "el => { const r = document.createRange(); r.selectNodeContents(el); return r.getClientRects().length }"
    assert phone.locator(".archived-note span").evaluate(lines) == 1  # beside it, Unarchive
    assert phone.locator(".conversation-list").get_by_text("Pin me from the header").count() == 0
    phone.click("#actions-button")
    assert phone.locator("#pin").is_hidden() and phone.locator("#move").is_hidden()
    # A temporary chat is not in the list: nothing to pin or archive.
    phone.goto("/")
    phone.click("#temporary")
    say(phone, "Not kept [sim words=3 delay=1]")
    phone.click("#actions-button")
    assert phone.locator("#pin").is_hidden() and phone.locator("#archive").is_hidden()
    assert phone.problems == []
    # A desktop has the list's own menus beside the chat: the header stays as it was.
    sign_up(page, live, "desktop-pinner")
    say(page, "On a desktop [sim words=3 delay=1]")
    assert page.locator("#rename").is_visible()
    assert page.locator("#pin").is_hidden() and page.locator("#archive").is_hidden()


def test_a_phone_turned_sideways_keeps_the_phone_s_layout_and_every_action_in_reach(
    browser: Any, live: LiveServer
) -> None:
    context = browser.new_context(
        base_url=live.url, viewport={"width": 740, "height": 360}, is_mobile=True, has_touch=True
    )
    phone = context.new_page()
    watch(phone)
    sign_up(phone, live, "sideways")
    say(phone, "A title long enough to want the header's whole width [sim words=5 delay=1]")
    # The list is a drawer, as on a phone held upright, and every control a finger's size.
    assert phone.locator("#menu-button").is_visible()
    assert not on_screen(phone, "#sidebar") or phone.locator("#sidebar").is_hidden()
    assert phone.evaluate(SMALL_TARGETS, CONTROLS) == []
    header = phone.locator("#chat-header").bounding_box()
    assert (
        phone.evaluate("() => document.getElementById('chat-header').scrollWidth")
        <= header["width"]
    )
    assert phone.locator("#title").bounding_box()["width"] > header["width"] / 2
    assert phone.locator("#rename").is_hidden()
    # The menu stays within the window, scrolling inside to its last action.
    phone.click("#actions-button")
    menu = phone.locator("#header-actions").bounding_box()
    assert menu["y"] + menu["height"] <= 360
    phone.click("#delete")
    phone.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    # The thread keeps room to be read: the keys' hint gives way on a short screen.
    assert phone.locator("#composer-hint").is_hidden()
    assert phone.locator("#scroller").bounding_box()["height"] >= 80
    # The drawer scrolls whole: its list at its own length, not a line's height between the
    # search and the account's links.
    phone.click("#menu-button")
    current = phone.locator(".conversation-list a[aria-current=page]").bounding_box()
    assert current["y"] >= 0 and current["y"] + current["height"] <= 360
    assert phone.evaluate(
        "() => { const l = document.getElementById('conversation-list');"
        " return l.scrollHeight <= l.clientHeight + 1 }"
    )
    phone.locator("#theme").scroll_into_view_if_needed()
    assert phone.locator("#theme").bounding_box()["y"] + 44 <= 360
    phone.keyboard.press("Escape")
    assert phone.problems == []
    context.close()


def test_a_narrow_window_folds_the_header_beside_the_list(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "narrow")
    say(page, "A title long enough to want the header's whole width [sim words=5 delay=1]")
    page.set_viewport_size({"width": 900, "height": 700})
    assert page.locator("#sidebar").is_visible() and on_screen(page, "#sidebar")
    header = page.locator("#chat-header").bounding_box()
    assert (
        page.evaluate("() => document.getElementById('chat-header').scrollWidth") <= header["width"]
    )
    assert page.locator("#rename").is_hidden()
    # The composer's bar keeps the allowance on the model picker's line.
    picker, allowance = (
        page.locator(s).bounding_box() for s in (".composer-bar select", ".allowance")
    )
    assert (
        abs((picker["y"] + picker["height"] / 2) - (allowance["y"] + allowance["height"] / 2)) < 8
    )
    page.click("#actions-button")
    page.click("#rename")
    expect(page.locator("#rename-input")).to_be_focused()
    assert page.problems == []


# --- 11. Each conversation's menu ------------------------------------------------------------
def test_rename_offers_an_automatic_title_without_its_ellipsis(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "longtitle")
    say(page, "Plan a week of dinners for four people who eat no meat or fish [sim words=3]")
    cut = "Plan a week of dinners for four people who eat no meat or…"
    expect(page.locator("#title")).to_have_text(cut)
    page.click("#rename")
    assert page.input_value("#rename-input") == cut.removesuffix("…")
    page.keyboard.press("Enter")  # unchanged: nothing is renamed
    expect(page.locator("#title")).to_have_text(cut)
    item = page.locator(".conversation-list li").first
    item.hover()
    item.locator(".item-menu").click()
    page.get_by_role("menuitem", name="Rename").click()
    field = page.get_by_role("dialog").get_by_label("Title")
    assert field.input_value() == cut.removesuffix("…")
    field.press("End")
    field.press_sequentially(" fish")
    field.press("Enter")
    renamed = cut.removesuffix("…") + " fish"
    expect(page.locator("#title")).to_have_text(renamed)
    # Where the header or the list cuts it, its whole title is its tooltip, from the
    # server's page as from a change made here.
    expect(page.locator("#title")).to_have_attribute("title", renamed)
    expect(item.locator("a")).to_have_attribute("title", renamed)
    page.reload()
    expect(page.locator("#title")).to_have_attribute("title", renamed)
    expect(page.locator(".conversation-list li a").first).to_have_attribute("title", renamed)
    assert page.problems == []


def test_on_a_phone_a_title_typed_in_is_kept_by_a_tap_elsewhere_and_esc_cancels(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "retitler")
    say(phone, "Name me later [sim words=3 delay=1]")
    conversation = phone.url.split("/")[-2]

    def stored() -> str:
        return live.query(
            "SELECT title FROM conversations_conversation WHERE id = %s", uuid.UUID(conversation)
        )[0][0]

    phone.click("#actions-button")
    phone.click("#rename")
    phone.fill("#rename-input", "Picnic plans")
    phone.locator("#thread").click()  # no Enter: the title typed in stays all the same
    phone.wait_for_selector("#title >> text=Picnic plans")
    assert phone.locator("#rename-input").is_hidden()
    item = phone.locator(f'.conversation-list li[data-id="{conversation}"]')
    assert "Picnic plans" in item.text_content()
    phone.wait_for_function("() => document.title.startsWith('Picnic plans')")
    eventually(stored, "Picnic plans")
    phone.click("#actions-button")
    phone.click("#rename")
    phone.fill("#rename-input", "Not this one")
    phone.keyboard.press("Escape")
    assert phone.locator("#title").inner_text() == "Picnic plans"
    phone.reload()
    assert phone.locator("#title").inner_text() == "Picnic plans" == stored()
    # Leaving the window (another tab) halfway through keeps the field as it was, unsaved;
    # the field has the focus back with the window. Playwright shows every page as focused
    # unless told otherwise.
    phone.context.new_cdp_session(phone).send(
        "Emulation.setFocusEmulationEnabled", {"enabled": False}
    )
    phone.click("#actions-button")
    phone.click("#rename")
    phone.fill("#rename-input", "Picnic plans for Sat")
    elsewhere = phone.context.new_page()
    elsewhere.bring_to_front()
    phone.wait_for_function("() => !document.hasFocus()")
    assert phone.locator("#rename-input").is_visible()
    assert stored() == "Picnic plans"
    elsewhere.close()
    phone.bring_to_front()
    phone.wait_for_function("() => document.activeElement.id === 'rename-input'")
    phone.keyboard.type("urday")
    with phone.expect_response("**/rename/"):
        phone.keyboard.press("Enter")
    assert phone.locator("#title").inner_text() == "Picnic plans for Saturday" == stored()
    assert phone.problems == []


def test_each_conversation_in_the_sidebar_has_its_own_menu(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "itemmenus")
    say(page, "Keep this one [sim words=5 delay=1]")
    kept = page.url
    page.goto("/")
    # A new chat lands under "Today" at once, before its reply has ended.
    page.fill("#prompt", "Throw this one away [sim words=200 delay=10]")
    page.press("#prompt", "Enter")
    today = page.locator(".conversation-list h2.group >> text=Today")
    page.wait_for_selector('.conversation-list a[aria-current="page"]')
    assert today.count() == 1
    page.wait_for_selector('article.message.assistant[data-status="streaming"]')
    page.click("#stop")
    page.goto(kept)
    other = page.locator(".conversation-list li", has_text="Throw this one away")
    # A title has the row's whole width until its ⋯ shows, over the row's end.
    page.mouse.move(600, 400)
    room = "li => li.querySelector('a').getBoundingClientRect().width / li.clientWidth"
    assert other.evaluate(room) == 1
    # Rename, without opening it.
    other.hover()
    menu = other.locator(".item-menu").bounding_box()
    title = other.locator("a").evaluate(
        "a => { const s = getComputedStyle(a); const r = a.getBoundingClientRect();"
        " return r.right - parseFloat(s.paddingRight); }"
    )
    assert title <= menu["x"] + 1, (title, menu)  # the words end before the ⋯ begins
    other.locator(".item-menu").click()
    page.get_by_role("menuitem", name="Rename").click()
    page.get_by_role("dialog").get_by_label("Title").fill("Renamed from the list")
    page.keyboard.press("Enter")
    page.wait_for_selector(".conversation-list a >> text=Renamed from the list")
    assert page.url == kept
    item = page.locator(".conversation-list li", has_text="Renamed from the list")
    # Share: a link in a dialog.
    item.locator(".item-menu").click()
    page.get_by_role("menuitem", name="Share").click()
    link = page.get_by_role("dialog").get_by_label("Link")
    assert "/s/" in link.input_value()
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.activeElement.classList.contains('item-menu')")
    # Export.
    item.locator(".item-menu").click()
    with page.expect_download() as download:
        page.get_by_role("menuitem", name="Export as Markdown").click()
    assert "# Renamed from the list" in Path(download.value.path()).read_text()
    # Delete, after the page's own dialog: the page stays, the item goes.
    item.locator(".item-menu").click()
    page.get_by_role("menuitem", name="Delete").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.wait_for_function(
        "() => ![...document.querySelectorAll('.conversation-list a')]"
        ".some(a => a.textContent === 'Renamed from the list')"
    )
    assert page.url == kept
    assert page.evaluate("() => document.activeElement !== document.body")
    # Said where it is seen: in the list; not on the next page as news of this one.
    page.reload()
    assert page.get_by_text("was deleted").count() == 0
    assert page.problems == []


def test_a_menu_is_worked_by_keyboard(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "menukeys")
    say(page, "One [sim words=5 delay=1]")
    page.locator(".conversation-list .item-menu").focus()
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.textContent") == "Rename"
    page.keyboard.press("ArrowDown")
    assert page.evaluate("() => document.activeElement.textContent") == "Pin"
    page.keyboard.press("ArrowUp")
    page.keyboard.press("ArrowUp")
    assert page.evaluate("() => document.activeElement.textContent") == "Delete"
    page.keyboard.press("Escape")
    assert page.get_by_role("menu").count() == 0
    assert page.evaluate("() => document.activeElement.classList.contains('item-menu')")


def test_the_keyboard_s_first_stop_skips_to_the_message_box(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "skipper")
    say(page, "One [sim words=5 delay=1]")
    page.reload()
    address = page.url
    # The box has the focus when a conversation opens; from the list, the way back to it
    # is the page's first stop, not every message's buttons.
    assert page.evaluate("() => document.activeElement.id") == "prompt"
    page.locator(".new-chat").focus()
    page.keyboard.press("Shift+Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip-link"
    box = page.locator(".skip-link").bounding_box()
    assert box["y"] >= 0 and box["height"] > 0  # in sight once it has the focus
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "prompt"
    assert page.url == address  # no #prompt in the conversation's address
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.id") == "prompt"
    assert page.locator(".skip-link").bounding_box()["y"] < 0  # out of sight again


def test_on_a_phone_the_skip_link_closes_the_drawer(phone: Any, live: LiveServer) -> None:
    sign_up(phone, live, "phoneskipper")
    phone.click("#menu-button")
    phone.locator(".new-chat").focus()
    phone.keyboard.press("Shift+Tab")
    assert phone.evaluate("() => document.activeElement.className") == "skip-link"
    phone.keyboard.press("Enter")
    assert phone.evaluate("() => document.activeElement.id") == "prompt"
    assert phone.locator("#backdrop").is_hidden()


def test_on_a_phone_back_closes_the_drawer_and_a_page_opened_from_it_goes_back_past_it(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "backdrawer")
    first, second = chats(
        phone,
        "The first conversation [sim words=3 delay=1]",
        "The second conversation [sim words=3 delay=1]",
    )
    steps = phone.evaluate("() => history.length")
    backdrop = phone.locator("#backdrop")
    # Back closes the drawer, and stays on the conversation.
    phone.click("#menu-button")
    phone.wait_for_function("() => history.state?.drawer")
    phone.go_back()
    backdrop.wait_for(state="hidden")
    assert phone.url == second and phone.evaluate("() => history.state") is None
    # Closed otherwise (✕, then Esc, opened again at once): no step of it is left behind.
    phone.click("#menu-button")
    phone.click("#drawer-close")
    phone.click("#menu-button")
    phone.wait_for_function("() => history.state?.drawer")
    phone.wait_for_timeout(200)
    assert backdrop.is_visible()
    phone.keyboard.press("Escape")
    phone.wait_for_function("() => history.state === null")
    assert phone.evaluate("() => history.length") == steps + 1  # the drawer's, now forward
    # A conversation opened from it takes its step: Back comes to this conversation.
    phone.click("#menu-button")
    phone.wait_for_function("() => history.state?.drawer")
    phone.locator(".conversation-list a", has_text="The first conversation").click()
    phone.wait_for_url(first)
    phone.go_back()
    phone.wait_for_url(second)
    assert phone.evaluate("() => history.state") is None
    assert backdrop.is_hidden()
    assert phone.problems == []


def test_on_a_phone_back_closes_a_dialog_and_only_the_dialog(phone: Any, live: LiveServer) -> None:
    """Back (a phone's back gesture) closes the page's own dialogs as it closes the drawer,
    and leaves the page no more than the dialog was there: a confirmation, the search; over
    the drawer, the dialog alone. A result chosen takes the search's step."""
    sign_up(phone, live, "backdialog")
    first, second = chats(phone, "One [sim words=3 delay=1]", "Two [sim words=3 delay=1]")
    steps = phone.evaluate("() => history.length")
    dialog = phone.locator("dialog.dialog[aria-labelledby^=dialog-]")
    # A deletion's confirmation: Back closes it; nothing is deleted, the page stays.
    phone.click("#actions-button")
    phone.click("#delete")
    phone.wait_for_function("() => history.state?.modal")
    phone.go_back()
    dialog.wait_for(state="detached")
    assert phone.url == second and phone.evaluate("() => history.state") is None
    assert phone.locator("article.message.assistant").count() == 1
    # Over the drawer: Back closes the dialog, and the drawer stays open; then the drawer.
    phone.click("#menu-button")
    phone.wait_for_function("() => history.state?.drawer")
    phone.locator(".conversation-list li", has_text="One").locator(".item-menu").click()
    phone.get_by_role("menuitem", name="Rename").click()
    phone.wait_for_function("() => history.state?.modal")
    phone.go_back()
    dialog.wait_for(state="detached")
    phone.wait_for_timeout(200)
    assert phone.locator("#backdrop").is_visible()
    assert phone.evaluate("() => history.state?.drawer") is True
    phone.go_back()
    phone.locator("#backdrop").wait_for(state="hidden")
    # Cancelled or sent otherwise, its step goes too: Back then leaves at once.
    phone.click("#actions-button")
    phone.click("#delete")
    phone.wait_for_function("() => history.state?.modal")
    phone.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    phone.wait_for_function("() => history.state === null")
    assert phone.evaluate("() => history.length") == steps + 1  # its step, now forward
    # The search: Back closes it; a result chosen takes its step, so Back from the result
    # comes back here.
    phone.keyboard.press("Control+k")
    search = phone.locator("#search-dialog")
    phone.wait_for_function("() => history.state?.modal")
    phone.go_back()
    search.wait_for(state="hidden")
    assert phone.url == second
    phone.keyboard.press("Control+k")
    phone.wait_for_function("() => history.state?.modal")
    phone.keyboard.type("One")
    search.locator("li[role=option]").first.click()
    phone.wait_for_url(lambda url: url.startswith(first))
    phone.go_back()
    phone.wait_for_url(second)
    assert phone.evaluate("() => history.state") is None
    assert phone.problems == []


def test_on_a_phone_a_reload_or_forward_onto_the_drawer_s_step_leaves_no_dead_step(
    phone: Any, live: LiveServer
) -> None:
    """The page reloaded with the list open, or Forward after it closed, lands on its step
    with no list open: the step is stepped off, so Back leaves the conversation at once."""
    sign_up(phone, live, "drawerreload")
    _, second = chats(phone, "One [sim words=3 delay=1]", "Two [sim words=3 delay=1]")
    phone.click("#menu-button")
    phone.wait_for_function("() => history.state?.drawer")
    phone.reload()
    phone.wait_for_function("() => history.state === null")
    assert phone.locator("#backdrop").is_hidden() and phone.url == second
    phone.click("#menu-button")
    phone.wait_for_function("() => history.state?.drawer")
    phone.go_back()
    phone.wait_for_function("() => history.state === null")
    phone.go_forward()
    phone.wait_for_timeout(300)
    assert phone.evaluate("() => history.state") is None and phone.url == second
    phone.go_back()
    phone.wait_for_url(lambda url: url != second)
    assert phone.problems == []


# --- 12. Search as you type -----------------------------------------------------------------
def test_search_as_you_type_with_rendered_snippets_and_the_keyboard(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "searcher")
    say(
        page,
        "A bird I saw today, small and loud, by the river: tell me about **the zebra finch** [sim repeat delay=1]",
    )
    page.goto("/")
    say(page, "Something about a zebra crossing [sim repeat delay=1]")
    page.goto("/")
    assert page.get_attribute("#search-q", "placeholder") == "Search (Ctrl+K)"
    page.keyboard.press("Control+k")
    dialog = page.locator("#search-dialog")
    assert dialog.is_visible()
    page.keyboard.type("zebra")
    options = dialog.locator("li[role=option]")
    options.nth(1).wait_for()
    snippets = dialog.locator(".snippet").all_inner_texts()
    assert any("the zebra finch" in s for s in snippets)
    assert not any("**" in s for s in snippets)
    assert dialog.locator("mark").first.inner_text().lower() == "zebra"
    # Each says its day, as the search page does: the same title twice is told apart.
    today = page.evaluate(
        "() => new Intl.DateTimeFormat('en', { dateStyle: 'medium' }).format(new Date())"
    )
    assert dialog.locator(".result-date").all_inner_texts() == [today, today]
    assert dialog.locator(".keys-hint").is_visible()  # a keyboard is there
    assert options.nth(0).get_attribute("aria-selected") == "true"
    page.keyboard.press("ArrowDown")
    assert options.nth(1).get_attribute("aria-selected") == "true"
    target = options.nth(1).locator(".result-title").inner_text()
    page.keyboard.press("Enter")
    page.wait_for_url("**/c/**")
    assert page.locator("#title").inner_text() == target
    # The sidebar's field searches as you type too, in the same dialog.
    page.locator("#search-q").press_sequentially("finch")
    dialog.locator("li[role=option]").first.wait_for()
    assert "finch" in page.input_value("#search-dialog-q")
    page.keyboard.press("Escape")
    assert dialog.is_hidden()
    # The shortcuts, behind "?".
    page.locator("#thread").click()
    page.keyboard.press("?")
    shortcuts = page.get_by_role("dialog", name="Keyboard shortcuts")
    assert shortcuts.is_visible() and "Ctrl" in shortcuts.inner_text()
    page.keyboard.press("Escape")
    assert shortcuts.is_hidden()
    assert page.problems == []


def test_enter_right_after_typing_opens_what_the_new_words_find_not_the_last_list(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "quickenter")
    python, poster = chats(
        page,
        "Python list tricks: what is a tuple? [sim repeat delay=1]",
        "Ideas for a concert poster [sim repeat delay=1]",
    )
    page.goto(python)
    page.keyboard.press("Control+k")
    dialog = page.locator("#search-dialog")
    page.keyboard.type("tuple")
    dialog.locator("li[role=option]").first.wait_for()
    # New words, and Enter before their results are asked for (the typing's pause is 150 ms).
    page.fill("#search-dialog-q", "landscape")
    page.keyboard.press("Enter")
    expect(dialog.locator("li.empty")).to_have_text("Nothing matches “landscape”.")
    assert page.url == python and dialog.is_visible()
    # An Enter still waiting for its results goes nowhere once the dialog is closed.
    held: list[Any] = []
    page.route("**/search/?q=poster*", lambda route: held.append(route))
    page.fill("#search-dialog-q", "poster")
    page.keyboard.press("Enter")
    while not held:
        page.wait_for_timeout(20)
    page.keyboard.press("Escape")
    held.pop().continue_()
    page.wait_for_timeout(300)
    assert page.url == python and dialog.is_hidden()
    page.unroute("**/search/?q=poster*")
    page.keyboard.press("Control+k")
    page.fill("#search-dialog-q", "poster")
    page.keyboard.press("Enter")
    page.wait_for_url(poster)
    assert page.problems == []


@pytest.mark.services
def test_a_search_result_opens_at_the_message_found(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "finder")
    # Taller than the view: it opens at its start, where the word is.
    say(page, "Where do ocelots live? " + "Tell me all of it, slowly. " * 150 + "[sim words=5]")
    for turn in range(4):
        say(page, f"More, part {turn} [sim words=120 delay=1]")
    conversation = page.url
    found = page.locator("article.message.user").first
    start_in_view = (
        "e => { const b = e.getBoundingClientRect();"
        " const view = document.getElementById('scroller').getBoundingClientRect();"
        " return b.top >= view.top - 1 && b.top < view.top + 100; }"
    )

    def opened_at_it() -> None:
        page.wait_for_function("() => document.querySelector('article.message.found') !== null")
        assert found.evaluate("e => e.classList.contains('found')")
        # Its whole box is marked for a moment, not only its edge (mostly out of view).
        assert found.evaluate(
            """e => { const probe = document.createElement('i');
            probe.style.color = 'var(--found)'; document.body.append(probe);
            const colour = getComputedStyle(probe).color; probe.remove();
            return getComputedStyle(e).backgroundColor === colour; }"""
        )
        assert found.evaluate(start_in_view)
        assert page.locator("#jump").is_visible()  # the end is a tap away
        # The address is the conversation's again: a reload opens at the latest message.
        page.wait_for_function("() => location.hash === ''")
        assert page.url == conversation

    # From another page: the dialog's result loads the conversation at the message.
    page.goto("/")
    page.keyboard.press("Control+k")
    page.keyboard.type("ocelots")
    page.locator("#search-dialog li[role=option]").first.wait_for()
    page.keyboard.press("Enter")
    opened_at_it()
    page.reload()
    assert not found.evaluate(start_in_view) and page.locator("#jump").is_hidden()
    # From the conversation itself, at its end: the same result goes back up.
    page.keyboard.press("Control+k")
    page.keyboard.type("ocelots")
    page.locator("#search-dialog li[role=option]").first.wait_for()
    page.keyboard.press("Enter")
    opened_at_it()
    # The search page's result too.
    page.goto("/search/?q=ocelots")
    page.locator(".results li > a").first.click()
    opened_at_it()
    assert page.problems == []


def test_a_match_in_another_version_opens_that_version(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "aardwolf-finder")
    say(page, "Tell me about the aardwolf [sim words=5 delay=1]")
    say(page, "And more [sim words=5 delay=1]")
    edit(page, "Tell me about hyenas [sim words=5 delay=1]")
    page.goto("/")
    page.keyboard.press("Control+k")
    page.keyboard.type("aardwolf")
    page.locator("#search-dialog li[role=option]").first.wait_for()
    page.keyboard.press("Enter")
    found = page.locator("article.message.found")
    found.wait_for()
    message = found.get_attribute("data-id")
    assert found.locator(".content").inner_text().startswith("Tell me about the aardwolf")
    assert found.locator(".siblings .count").inner_text() == "1/2"
    page.reload()  # the version shown is the one found, as its arrow would have left it
    assert (
        page.locator("article.message.user .content")
        .first.inner_text()
        .startswith("Tell me about the aardwolf")
    )
    # A new chat's page has no conversation to look in: such an address is a new chat.
    page.goto(f"/#m-{message}")
    page.wait_for_load_state("networkidle")
    assert page.locator("article.message").count() == 0
    assert page.problems == []


def test_a_search_snippet_is_cut_before_its_match_and_never_within_a_character(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "snippets")
    # Wide characters without spaces, flags of two code units each; a letter whose lowercase
    # is longer than itself.
    say(page, "我们在" + "🇦🇺" * 25 + "看到了quokka [sim words=3 delay=1]")
    page.goto("/")
    say(page, "İ" * 60 + " then a quokka lives here [sim words=3 delay=1]")
    page.keyboard.press("Control+k")
    page.keyboard.type("quokka")
    dialog = page.locator("#search-dialog")
    dialog.locator("li[role=option]").nth(1).wait_for()
    shown = dialog.locator(".snippet").evaluate_all(
        "(all) => all.map((s) => [s.textContent, s.querySelector('mark')?.textContent])"
    )
    assert sorted(shown) == [
        ["…then a quokka lives here [sim words=3 delay=1]", "quokka"],
        ["…🇦🇺🇦🇺🇦🇺🇦🇺看到了quokka [sim words=3 delay=1]", "quokka"],
    ]


def test_the_dialog_marks_what_the_server_found_and_nothing_else(
    page: Any, live: LiveServer
) -> None:
    """A regular expression that ignores case also takes a long s for "s"; the server
    does not, and the dialog marks what the server found."""
    sign_up(page, live, "longess")
    say(page, "\u017ftar and star [sim words=3 delay=1]")
    page.keyboard.press("Control+k")
    page.keyboard.type("star")
    title = page.locator("#search-dialog .result-title").first
    title.locator("mark").first.wait_for()
    assert title.locator("mark").all_inner_texts() == ["star"]


def test_the_search_page_shows_rendered_snippets(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "searchpage")
    say(
        page,
        "A forest giraffe of the Congo, shy and striped, is what these notes are on: **the okapi** [sim repeat delay=1]",
    )
    page.goto("/search/?q=okapi")
    snippet = page.locator(".results .snippet").first.inner_text()
    assert "the okapi" in snippet and "**" not in snippet
    assert page.locator(".results .snippet mark").first.inner_text() == "okapi"
    assert page.locator(".results").evaluate("e => getComputedStyle(e).listStyleType") == "none"


# --- 13. The page's own dialogs -----------------------------------------------------------------
def test_deleting_asks_in_the_pages_own_dialog_which_holds_focus(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "dialogs")
    say(page, "Delete me maybe [sim words=5 delay=1]")
    url = page.url
    page.goto(url)  # opened, as from a link
    page.click("#delete")  # a browser confirm() would be a problem (tests/helpers.watch)
    dialog = page.get_by_role("dialog", name="Delete this conversation?")
    assert dialog.is_visible()
    # Its sentence follows its title as a paragraph follows a heading, no wider apart.
    title, text = (dialog.locator(s).bounding_box() for s in ("h2", "p"))
    assert text["y"] - (title["y"] + title["height"]) <= 21, (title, text)
    for _ in range(5):
        page.keyboard.press("Tab")
        assert page.evaluate("() => !!document.activeElement.closest('dialog')")
    page.keyboard.press("Escape")
    page.wait_for_function("() => document.activeElement.id === 'delete'")
    assert dialog.count() == 0
    assert page.url == url
    # Focus starts on Cancel: Enter alone does not delete.
    page.click("#delete")
    assert page.evaluate("() => document.activeElement.textContent") == "Cancel"
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.wait_for_url(live.url + "/")
    assert page.problems == []
    # Back does not bring the deleted conversation back from the browser's cache.
    page.go_back()
    assert page.url == url
    assert page.locator("h1").inner_text() == "Not found"
    assert page.locator("#prompt").count() == 0


def test_the_share_panel_closes(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "sharepanel")
    say(page, "Share me [sim words=5 delay=1]")
    page.click("#share")
    panel = page.locator("#share-panel")
    panel.wait_for()
    # In line with the messages below it, not wider.
    message = page.locator("article.message.assistant").bounding_box()
    box = panel.bounding_box()
    assert abs(box["x"] - message["x"]) <= 1 and abs(box["width"] - message["width"]) <= 1
    # On the narrowest phone its button stays within it.
    page.set_viewport_size({"width": 360, "height": 740})
    box, copy = panel.bounding_box(), page.locator("#share-copy").bounding_box()
    assert copy["x"] + copy["width"] <= box["x"] + box["width"] - 1, (copy, box)
    page.set_viewport_size({"width": 1280, "height": 800})
    page.keyboard.press("Escape")
    assert panel.is_hidden()
    assert page.evaluate("() => document.activeElement.id") == "share"
    page.click("#share")
    page.get_by_role("button", name="Close the share panel").click()
    assert panel.is_hidden()


# --- 14. A fresh site ------------------------------------------------------------------------
@pytest.fixture
def fresh_site(tmp_path: Path) -> Iterator[LiveServer]:
    """A site nobody has signed up to yet (its own SQLite database)."""
    server = LiveServer(tmp_path)
    server.start()
    yield server
    server.stop()


def test_back_to_chat_returns_to_the_conversation_open_and_logging_out_forgets_it(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "back-again")
    say(page, "Remember where I was [sim words=3 delay=1]")
    conversation = page.url
    page.fill("#prompt", "a draft for later")
    for path in (
        "/accounts/",
        "/search/?q=remember",
        "/shares/",
        "/settings/",
        "/usage/",
        "/keys/",
    ):
        page.goto(path)
        page.get_by_role("link", name="Back to chat").click()
        page.wait_for_url(conversation)
        assert page.input_value("#prompt") == "a draft for later", path
    # A new chat, and a temporary one (deleted when left), have nothing to return to.
    page.goto("/")
    page.goto("/accounts/")
    page.get_by_role("link", name="Back to chat").click()
    page.wait_for_url(f"{live.url}/")
    page.click("#temporary")
    say(page, "Not kept [sim words=3 delay=1]")
    page.goto("/usage/")
    page.get_by_role("link", name="Back to chat").click()
    page.wait_for_url(f"{live.url}/")
    # Logging out from the account page forgets the tab's conversation and its drafts.
    page.goto(conversation)
    page.fill("#prompt", "a draft for later")
    page.goto("/accounts/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")
    assert (
        page.evaluate("() => Object.keys(sessionStorage).filter(k => k.startsWith('webchat-'))")
        == []
    )
    # An account deleted (no logout form): the next person in the tab is not sent to its chat.
    sign_up(page, live, "leaver")
    say(page, "Gone soon [sim words=3 delay=1]")
    page.goto("/accounts/delete/")
    page.fill("#id_confirmation", "a long enough passphrase 42")
    page.click("main form button[type=submit]")
    page.get_by_text("Your account and everything in it are gone.").wait_for()
    page.goto("/accounts/signup/?next=/accounts/")  # straight to a page, not the chat
    page.fill("#id_username", "arriver")
    page.fill("#id_password1", "a long enough passphrase 42")
    page.fill("#id_password2", "a long enough passphrase 42")
    page.click("button[type=submit]")
    page.wait_for_url("**/accounts/")
    assert page.get_by_role("link", name="Back to chat").get_attribute("href") == "/"
    # Nothing of the last person's is left in the tab, not even where devtools would show it.
    assert (
        page.evaluate("() => Object.keys(sessionStorage).filter(k => k.startsWith('webchat-'))")
        == []
    )
    # Only a conversation's address on this site is followed back.
    page.evaluate(
        """() => sessionStorage.setItem(
            `webchat-chat:${document.body.dataset.user}`,
            '//elsewhere.example/c/00000000-0000-0000-0000-000000000000/')"""
    )
    page.reload()
    assert page.get_by_role("link", name="Back to chat").get_attribute("href") == "/"
    assert page.problems == []


def test_a_fresh_site_asks_for_its_administrator_first(
    browser: Any, fresh_site: LiveServer
) -> None:
    context = browser.new_context(base_url=fresh_site.url)
    page = context.new_page()
    watch(page)
    page.goto("/")
    assert "/accounts/login/" in page.url
    assert page.locator("input[type=password]").count() == 0  # no account to log in to yet
    page.get_by_role("link", name="Create the administrator account").click()
    assert page.locator("h1").inner_text() == "Create the administrator account"
    # The password rules are there before the first try.
    rules = page.locator(".helptext").all_inner_texts()
    assert any("at least 8 characters" in r for r in rules)
    page.fill("#id_username", "founder")
    page.fill("#id_password1", "a long enough passphrase 42")
    page.fill("#id_password2", "a long enough passphrase 42")
    page.click("button[type=submit]")
    page.wait_for_url(fresh_site.url + "/")
    assert page.locator(".account a", has_text="Admin").is_visible()
    # Where the site is set up is said where they start.
    page.locator(".welcome-admin a", has_text="Admin").click()
    page.wait_for_url("**/admin/")
    page.goto("/")
    # The next visitor sees the ordinary pages.
    other = browser.new_context(base_url=fresh_site.url).new_page()
    other.goto("/accounts/signup/")
    assert other.locator("h1").inner_text() == "Create your account"
    other.fill("#id_username", "visitor")
    other.fill("#id_password1", "a long enough passphrase 42")
    other.fill("#id_password2", "a long enough passphrase 42")
    other.click("button[type=submit]")
    other.wait_for_url(fresh_site.url + "/")
    assert other.locator("#welcome").is_visible() and other.locator(".welcome-admin").count() == 0
    assert page.problems == []
    context.close()


def test_create_an_account_from_a_share_comes_back_to_it(
    page: Any, browser: Any, live: LiveServer
) -> None:
    sign_up(page, live, "sharer14")
    say(page, "Worth sharing, with code [sim words=5 delay=1]")
    share_url = share_link(page)
    # On a phone the sentence with its two links keeps the line height of a sentence.
    reader = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True)
    phone = reader.new_page()
    phone.goto(share_url)
    gaps = phone.evaluate(LINE_GAPS, ".share-footer p")
    assert gaps and all(gap < 2 for gap in gaps), gaps
    reader.close()
    visitor = browser.new_context().new_page()
    watch(visitor)
    visitor.goto(share_url)
    visitor.get_by_role("link", name="create an account").click()
    visitor.fill("#id_username", "newcomer14")
    visitor.fill("#id_password1", "a long enough passphrase 42")
    visitor.fill("#id_password2", "a long enough passphrase 42")
    visitor.click("button[type=submit]")
    visitor.wait_for_url(share_url)
    assert visitor.get_by_role("button", name="Continue this conversation").is_visible()
    # The shared reply names its model as the chat does, the asker is not "You", and its
    # code has the same bar.
    assert visitor.locator("article.message.user .role").inner_text() == "User"
    assert visitor.locator("article.message.assistant .role").inner_text() == "Grok 4.1 Fast"
    assert visitor.locator(".code-bar .code-lang").inner_text() == "python"
    with visitor.expect_download() as download:
        visitor.get_by_role("button", name="Download python").click()
    assert download.value.suggested_filename == "snippet.py"
    assert visitor.problems == []


# --- 15. A desktop page that does not scroll -------------------------------------------------
def test_the_desktop_page_never_scrolls_and_the_account_links_are_in_view(
    page: Any, live: LiveServer
) -> None:
    page.set_viewport_size({"width": 1280, "height": 800})
    sign_up(page, live, "noscroll")
    for n in range(2):
        say(page, f"long {n} [sim words=200 delay=0]")
    assert page.evaluate("() => document.scrollingElement.scrollHeight") <= 800
    page.mouse.wheel(0, 400)
    assert page.evaluate("() => document.scrollingElement.scrollTop") == 0
    for name in ("Log out", "Usage", "Shared"):
        box = page.locator(".account").get_by_text(name).bounding_box()
        assert box["y"] + box["height"] <= 800, name


def sign_up_with_passwords_that_differ(page: Any) -> None:
    page.goto("/accounts/signup/")
    page.fill("#id_username", "mismatcher")
    page.fill("#id_password1", "a long enough passphrase 42")
    page.fill("#id_password2", "a different passphrase 42")
    page.click("button[type=submit]")


def test_a_signup_mistake_is_said_where_the_page_opens(page: Any, live: LiveServer) -> None:
    page.set_viewport_size({"width": 1280, "height": 720})
    sign_up_with_passwords_that_differ(page)
    summary = page.get_by_role("alert")
    assert "match" in summary.inner_text() and "Password confirmation" in summary.inner_text()
    box = summary.bounding_box()
    assert box["y"] + box["height"] <= 720
    # The cursor is in the first of the passwords to type again; the name is still there.
    assert page.evaluate("() => document.activeElement.id") == "id_password1"
    assert page.input_value("#id_username") == "mismatcher"


def test_a_wrong_password_leaves_the_cursor_in_the_password(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "mistyper")
    page.context.clear_cookies()
    page.goto("/accounts/login/")
    page.fill("#id_username", "mistyper")
    page.fill("#id_password", "not the passphrase")
    page.click("button[type=submit]")
    page.get_by_role("alert").wait_for()
    assert page.evaluate("() => document.activeElement.id") == "id_password"
    assert page.input_value("#id_username") == "mistyper"


def test_on_a_phone_a_signup_mistake_is_said_in_lines_of_text(phone: Any, live: LiveServer) -> None:
    sign_up_with_passwords_that_differ(phone)
    card = phone.locator(".auth-card").bounding_box()
    assert card["x"] >= 12 and card["x"] + card["width"] <= 390 - 12, card  # not on the edges
    phone.set_viewport_size({"width": 360, "height": 740})
    card = phone.locator(".auth-card").bounding_box()
    assert card["x"] >= 12 and card["x"] + card["width"] <= 360 - 12, card
    # Each problem a paragraph of ordinary lines: its link is part of the text, not a
    # button-high row of its own (the lines were 44 px apart).
    heights = phone.evaluate(
        """() => [...document.querySelectorAll("[role=alert] p a")].map(a =>
            a.getBoundingClientRect().height / parseFloat(getComputedStyle(a).lineHeight))"""
    )
    assert heights and all(h < 1 for h in heights), heights


def test_on_a_touch_screen_the_search_names_no_keys_and_a_result_closes_the_drawer(
    browser: Any, live: LiveServer
) -> None:
    context = browser.new_context(
        base_url=live.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    phone = context.new_page()
    sign_up(phone, live, "toucher")
    filler = " ".join(f"word{n}" for n in range(40))
    say(phone, f"{filler} and then the zebra finch sang [sim words=3 delay=1]")
    phone.click("#menu-button")
    assert phone.get_attribute("#search-q", "placeholder") == "Search"
    phone.locator("#search-q").press_sequentially("zebra")
    dialog = phone.locator("#search-dialog")
    dialog.locator("li[role=option]").first.wait_for()
    assert dialog.locator(".keys-hint").is_hidden()
    assert dialog.locator("#search-all").is_visible()
    # The words found are within the snippet's two lines, not cut off after them.
    snippet = dialog.locator(".snippet").first.bounding_box()
    found = dialog.locator(".snippet mark").first.bounding_box()
    assert found["y"] + found["height"] <= snippet["y"] + snippet["height"], (found, snippet)
    # A result in the conversation open behind the drawer: the drawer goes, the message shows.
    dialog.locator("li[role=option]").first.tap()
    phone.locator("article.message.found").wait_for()
    assert not phone.evaluate("document.body.classList.contains('drawer-open')")
    assert phone.locator("#chat").evaluate("e => !e.inert")
    context.close()


def test_a_shared_conversation_reads_its_day_as_the_other_pages_write_days(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "dater")
    say(page, "Dated [sim words=3 delay=1]")
    page.goto(share_link(page))
    day = page.locator(".share-header .meta time")
    # In the reader's time zone and language, as search and the shared links list write
    # theirs ("Dec 4, 2026"); the server's own words stay as its title.
    expected = page.evaluate(
        """(iso) => new Intl.DateTimeFormat(document.documentElement.lang || undefined,
                                           { dateStyle: "medium" }).format(new Date(iso))""",
        day.get_attribute("datetime"),
    )
    expect(day).to_have_text(expected)
    assert day.get_attribute("title")
    # On a small phone the day keeps to one line.
    page.set_viewport_size({"width": 360, "height": 740})
    lines = day.evaluate("t => new Set([...t.getClientRects()].map((r) => Math.round(r.top))).size")
    assert lines == 1
    assert page.problems == []
