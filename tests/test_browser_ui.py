"""The chat as a daily ChatGPT user drives it, in headless Chromium."""

import json
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers import FINISHED, say, sign_up, watch
from tests.live import LiveServer

pytestmark = pytest.mark.browser


def texts(page: Any, role: str) -> list[str]:
    return page.locator(f"article.message.{role} .content").all_inner_texts()


def test_edit_makes_a_branch_and_the_arrows_flip_between_them(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "brancher")
    say(page, "first question [sim repeat delay=1]")
    say(page, "second question [sim repeat delay=1]")
    page.locator("article.message.user").first.locator(".edit").click()
    page.fill("form.editor textarea", "first, edited [sim repeat delay=1]")
    page.click("form.editor button[type=submit]")
    page.wait_for_function(
        "() => document.querySelectorAll('article.message.user').length === 1 && "
        "document.querySelector('article.message.assistant[data-status=\"complete\"]')"
    )
    assert texts(page, "user") == ["first, edited [sim repeat delay=1]"]
    page.reload()
    first = page.locator("article.message.user").first
    assert first.locator(".siblings .count").inner_text() == "2/2"
    first.locator(".prev").click()
    page.wait_for_load_state("load")
    page.wait_for_selector("article.message.user .siblings .count >> text=1/2")
    # The thread below follows the branch: the old second question is back.
    assert texts(page, "user") == [
        "first question [sim repeat delay=1]",
        "second question [sim repeat delay=1]",
    ]
    page.locator("article.message.user").first.locator(".next").click()
    page.wait_for_selector("article.message.user .siblings .count >> text=2/2")
    assert texts(page, "user") == ["first, edited [sim repeat delay=1]"]
    assert page.problems == []


def test_regenerate_adds_a_sibling_reply(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "regenerator")
    say(page, "tell me [sim words=12 delay=1]")
    before = texts(page, "assistant")
    page.locator("article.message.assistant .regenerate").click()
    page.wait_for_function(
        "() => document.querySelector('article.message.assistant[data-status=\"complete\"]')"
    )
    page.reload()
    reply = page.locator("article.message.assistant")
    assert reply.locator(".siblings .count").inner_text() == "2/2"
    reply.locator(".prev").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=1/2")
    assert texts(page, "assistant") == before
    assert page.problems == []


def test_three_candidates_stream_side_by_side_and_one_is_picked(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "picker")
    page.click("#settings-button")
    page.keyboard.press("Escape")  # closes the panel, the keyboard back on its button
    assert page.locator("#settings").is_hidden()
    assert page.get_attribute("#settings-button", "aria-expanded") == "false"
    assert page.evaluate("() => document.activeElement.id") == "settings-button"
    page.click("#settings-button")
    page.fill("#candidates", "3")
    say(page, "three takes [sim words=15 delay=5]", replies=3)
    candidates = page.locator(".candidates article.message.assistant")
    assert candidates.count() == 3
    third = candidates.nth(2).locator(".content").inner_text()
    assert len(set(candidates.locator(".content").all_inner_texts())) == 3
    candidates.nth(2).locator(".pick").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=3/3")
    assert texts(page, "assistant") == [third]
    assert page.problems == []


def test_a_send_without_picking_goes_on_from_the_first_candidate_as_shown(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "unpicked")
    page.click("#settings-button")
    page.fill("#candidates", "2")
    say(page, "two takes [sim words=6 delay=1]", replies=2)
    first = page.locator(".candidates article.message.assistant").first.get_attribute("data-id")
    page.fill("#prompt", "and then? [sim echo]")
    page.press("#prompt", "Enter")
    page.wait_for_function(
        "() => !document.querySelector('.candidates') && "
        "document.querySelectorAll('article.message.assistant[data-status=complete]').length === 2"
    )
    replies = page.locator("article.message.assistant")
    assert replies.first.get_attribute("data-id") == first
    assert replies.first.locator(".siblings .count").inner_text() == "1/2"
    # The model read the first candidate, and was asked for one reply again.
    assert "I received 3 messages" in texts(page, "assistant")[-1]
    assert texts(page, "assistant")[-1].endswith("n=1.")
    page.reload()
    assert page.locator("article.message.assistant").first.get_attribute("data-id") == first
    assert page.problems == []


def test_settings_reach_the_model(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "tuner")
    page.click("#settings-button")
    page.fill("#system", "Answer like a pirate.")
    page.fill("#temperature", "0.3")
    page.fill("#max-tokens", "300")
    say(page, "what do you see? [sim echo]")
    reply = texts(page, "assistant")[-1]
    assert "System: Answer like a pirate." in reply
    assert "temperature=0.3 max_tokens=300 n=1" in reply
    # The system prompt and temperature stay with the conversation.
    page.reload()
    assert page.input_value("#system") == "Answer like a pirate."
    assert page.input_value("#temperature") == "0.3"


def test_max_tokens_lowered_for_another_model_says_so(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "capped")
    page.select_option("#model", "grok-4")
    page.click("#settings-button")
    page.fill("#max-tokens", "12000")
    page.select_option("#model", "grok-3")  # writes at most 8,192
    assert page.input_value("#max-tokens") == "8192"
    note = page.locator("#max-tokens-note")
    assert note.is_visible() and "12,000" in note.inner_text() and "8,192" in note.inner_text()
    page.fill("#max-tokens", "500")
    assert note.is_hidden()
    assert page.problems == []


def test_a_setting_out_of_range_opens_the_panel_and_sends_nothing(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "overheated")
    say(page, "first [sim words=2]")
    page.click("#settings-button")
    page.fill("#temperature", "3")
    page.click("#settings-button")  # closed again: the problem is out of sight
    page.fill("#prompt", "too hot [sim echo]")
    page.press("#prompt", "Enter")
    assert page.is_visible("#temperature")
    assert page.evaluate("document.querySelector('#temperature').validity.rangeOverflow")
    assert page.input_value("#prompt") == "too hot [sim echo]"
    page.locator("article.message.assistant .regenerate").click()
    page.wait_for_timeout(300)
    assert page.locator("article.message").count() == 2  # neither sent nor regenerated
    page.fill("#temperature", "0.35")  # any value in range, not only tenths
    page.press("#prompt", "Enter")
    page.wait_for_selector("article.message.assistant >> text=temperature=0.35")
    assert page.problems == []


def test_a_regenerated_reply_follows_the_settings_as_they_are_now(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "retuner")
    page.click("#settings-button")
    page.fill("#temperature", "0.3")
    say(page, "what now? [sim echo]")
    assert "temperature=0.3 " in texts(page, "assistant")[-1]
    if not page.is_visible("#temperature"):  # the panel closes on a send
        page.click("#settings-button")
    page.fill("#temperature", "1.1")
    page.fill("#max-tokens", "200")
    page.locator("article.message.assistant .regenerate").click()
    page.wait_for_selector(
        "article.message.assistant[data-status=complete] .siblings .count >> text=2/2"
    )
    assert "temperature=1.1 max_tokens=200 n=1" in texts(page, "assistant")[-1]
    # A field cleared is the model's default again, not the reply's old value.
    if not page.is_visible("#temperature"):
        page.click("#settings-button")
    page.fill("#temperature", "")
    page.locator("article.message.assistant .regenerate").click()
    page.wait_for_selector(
        "article.message.assistant[data-status=complete] .siblings .count >> text=3/3"
    )
    last = texts(page, "assistant")[-1]
    assert "max_tokens=200" in last and "temperature=1.1" not in last
    assert page.problems == []


def test_rename_search_export_and_delete(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "organiser")
    say(
        page,
        "Plans for the **aardvark** `trip`, with quokkas and the otters, please [sim repeat delay=1]",
    )
    # Named at once as the server names it: the words a reader sees, not the Markdown,
    # cut after a whole word (and not after its comma).
    title = "Plans for the aardvark trip, with quokkas and the otters…"
    assert page.locator("#title").inner_text() == title
    page.reload()
    assert page.locator("#title").inner_text() == title
    page.click("#rename")
    page.fill("#rename-input", "Aardvark trip")
    # The title shows at once; the export below waits for the server to have it.
    with page.expect_response(lambda r: r.url.endswith("/rename/")):
        page.press("#rename-input", "Enter")
    page.wait_for_selector("#title >> text=Aardvark trip")
    assert page.locator(".conversation-list a", has_text="Aardvark trip").count() == 1
    conversation_url = page.url

    markdown = page.request.get(page.get_attribute("#export-md", "href"))
    assert markdown.ok and "# Aardvark trip" in markdown.text() and "## You" in markdown.text()
    exported = json.loads(page.request.get(page.get_attribute("#export-json", "href")).text())
    assert [m["role"] for m in exported["messages"]] == ["user", "assistant"]

    page.goto("/")
    page.locator("#search-q").press_sequentially("aardvark")
    page.wait_for_selector("#search-results li[role=option] >> text=Aardvark trip")
    page.keyboard.press("Enter")
    page.wait_for_url(f"{conversation_url}#m-*")  # at the message found

    page.click("#delete")
    page.get_by_role("dialog").get_by_role("button", name="Delete").click()
    page.wait_for_url(live.url + "/")
    # The new chat it leaves for says what became of it, once.
    assert page.get_by_role("status").filter(has_text="was deleted").inner_text() == (
        "“Aardvark trip” was deleted."
    )
    assert page.locator(".conversation-list a", has_text="Aardvark trip").count() == 0
    page.reload()
    assert page.get_by_text("was deleted").count() == 0
    assert page.goto(conversation_url).status == 404
    assert page.problems == [] or all("404" in p for p in page.problems)


def test_keyboard_enter_shift_enter_and_escape(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "typist")
    page.fill("#prompt", "line one")
    page.press("#prompt", "Shift+Enter")
    page.keyboard.type("line two [sim words=400 delay=30]")
    assert page.locator("article.message").count() == 0
    assert page.input_value("#prompt") == "line one\nline two [sim words=400 delay=30]"
    page.press("#prompt", "Enter")
    page.wait_for_selector('article.message.assistant[data-status="streaming"]')
    page.wait_for_function(
        "() => document.querySelector('article.message.assistant .content').textContent.length > 10"
    )
    page.keyboard.press("Escape")
    page.wait_for_selector('article.message.assistant[data-status="stopped"]')
    assert (
        page.locator("article.message.user .content").inner_text()
        == "line one\nline two [sim words=400 delay=30]"
    )


# The widths of the lines an element's text is laid out in, top to bottom.
LINE_WIDTHS = """e => {
  const range = document.createRange();
  range.selectNodeContents(e);
  const lines = new Map();
  for (const rect of range.getClientRects()) {
    const top = Math.round(rect.top / 4);
    lines.set(top, (lines.get(top) || 0) + rect.width);
  }
  return [...lines.values()];
}"""


def test_the_keys_hint_under_the_box_wraps_into_even_lines(page: Any, live: LiveServer) -> None:
    """Not a last line of a word or two ("for shortcuts." alone), in English or Spanish."""
    sign_up(page, live, "hint-reader")
    for language in ("en", "es"):
        page.set_extra_http_headers({"Accept-Language": language})
        for width in (1280, 1100, 900):
            page.set_viewport_size({"width": width, "height": 800})
            page.reload()
            hint = page.locator("#composer-hint")
            expect(hint).to_contain_text(
                {"en": "Enter to send", "es": "Intro para enviar"}[language]
            )
            lines = hint.evaluate(LINE_WIDTHS)
            assert min(lines) > max(lines) / 2, (language, width, lines)


def test_on_a_touch_screen_return_starts_a_new_line_and_send_sends(
    browser: Any, live: LiveServer
) -> None:
    """A phone's keyboard has no Shift: its Return sent the first line alone, and a message
    of two lines could not be written. There Return starts a line; the Send button sends
    (the question's editor too)."""
    context = browser.new_context(
        base_url=live.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    phone = context.new_page()
    watch(phone)
    try:
        sign_up(phone, live, "thumbs")
        phone.fill("#prompt", "line one")
        phone.press("#prompt", "Enter")
        phone.keyboard.type("line two [sim repeat delay=1]")
        assert phone.locator("article.message").count() == 0
        phone.tap("#send")
        phone.wait_for_selector('article.message.assistant[data-status="complete"]')
        question = phone.locator("article.message.user .content")
        assert question.inner_text() == "line one\nline two [sim repeat delay=1]"
        phone.locator("article.message.user .edit").tap()
        phone.press("form.editor textarea", "End")
        phone.press("form.editor textarea", "Enter")
        expect(phone.locator("form.editor textarea")).to_be_visible()
        assert phone.input_value("form.editor textarea").endswith("]\n")
        assert phone.problems == []
    finally:
        context.close()


def test_theme_switch_is_remembered(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "themer")
    theme = lambda: page.evaluate("() => document.documentElement.dataset.theme || 'system'")  # noqa: E731
    background = lambda: page.evaluate("() => getComputedStyle(document.body).backgroundColor")  # noqa: E731
    white, night = "rgb(255, 255, 255)", "rgb(22, 24, 28)"
    assert theme() == "system" and background() == white  # the system's, light
    assert page.inner_text("#theme") == "Theme: system (light)"
    page.click("#theme")  # every press changes what is seen: first to the other palette
    assert theme() == "dark" and background() == night
    page.reload()
    assert theme() == "dark" and page.get_attribute("#theme", "aria-label").startswith(
        "Theme: dark"
    )
    page.click("#theme")  # a choice against the system: next, the system's palette, chosen
    assert theme() == "light" and background() == white
    assert page.inner_text("#theme") == "Theme: light"
    page.emulate_media(color_scheme="dark")  # a light chosen holds when the system goes dark
    page.wait_for_timeout(100)
    assert theme() == "light" and background() == white
    page.click("#theme")  # against the system now: the system's palette, chosen
    assert theme() == "dark" and background() == night
    page.click("#theme")  # the system's own choice: following the system again
    assert theme() == "system" and background() == night
    assert page.inner_text("#theme") == "Theme: system (dark)"
    page.emulate_media(color_scheme="light")  # followed (theme.js listens for the change)
    page.wait_for_function("() => document.documentElement.dataset.scheme === 'light'")
    assert background() == white and page.inner_text("#theme") == "Theme: system (light)"


# The select at least as wide as a copy of it holding only its selected option, on its own:
# the width the browser gives that name whole, with its padding and arrow.
MODEL_NAME_IS_WHOLE = """select => {
    const alone = select.cloneNode(false);
    alone.append(select.selectedOptions[0].cloneNode(true));
    alone.style.position = "absolute";
    select.after(alone);
    const needed = alone.getBoundingClientRect().width;
    alone.remove();
    return select.getBoundingClientRect().width >= needed;
}"""


def test_it_fits_a_phone(phone: Any, live: LiveServer) -> None:
    sign_up(phone, live, "pocket")
    say(phone, "A longer reply on a small screen [sim words=80 delay=1]")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    assert phone.locator("#send").is_visible() and phone.locator("#prompt").is_visible()
    # The model's whole name beside the context's gauge and the allowance, at 360 px too.
    expect(phone.locator("#context-gauge")).to_be_visible()
    for width in (390, 360):
        phone.set_viewport_size({"width": width, "height": 844})
        assert phone.locator("#model").evaluate(MODEL_NAME_IS_WHOLE), width
        allowance = phone.locator("#allowance")
        assert allowance.evaluate("el => el.scrollHeight <= el.clientHeight"), width
        assert allowance.evaluate("el => el.scrollWidth <= el.clientWidth"), width
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= width
    phone.set_viewport_size({"width": 390, "height": 844})
    # The settings panel's fields stay inside it.
    phone.click("#settings-button")
    panel = phone.locator("#settings").bounding_box()
    for field in ("#system", "#temperature", "#max-tokens", "#candidates"):
        box = phone.locator(field).bounding_box()
        assert box["x"] >= panel["x"] and box["x"] + box["width"] <= panel["x"] + panel["width"]
        # Its name above it, the field the panel's width: its placeholder is read whole.
        assert box["width"] > panel["width"] * 0.8
        label = phone.locator(f"label[for='{field[1:]}']").bounding_box()
        assert label["y"] + label["height"] <= box["y"]


def test_on_a_phone_the_status_shows_in_the_allowances_place_while_a_reply_is_written(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "watcher")
    say(phone, "hello [sim words=2]")
    status, allowance = phone.locator("#status"), phone.locator("#allowance")
    assert not status.is_visible() and allowance.is_visible()
    # Whole, wrapped if need be: a number cut short would read as another number.
    assert allowance.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert allowance.evaluate("el => el.scrollHeight <= el.clientHeight")
    phone.fill("#prompt", "a slow one [sim words=30 delay=100]")
    phone.press("#prompt", "Enter")
    expect(status).to_have_text("Grok is writing…")
    expect(status).to_be_visible()
    assert not allowance.is_visible()
    box = status.bounding_box()
    assert box["x"] + box["width"] <= 390
    assert status.evaluate("el => el.scrollWidth <= el.clientWidth")  # the words whole
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    expect(phone.locator('article.message.assistant[data-status="complete"]')).to_have_count(2)
    expect(status).to_be_hidden()
    expect(allowance).to_be_visible()
    # The longest status, a message waiting for its file, wraps inside a 360 px screen.
    phone.set_viewport_size({"width": 360, "height": 740})
    held: list[Any] = []
    phone.route("**/attachments/", lambda route: held.append(route))
    phone.set_input_files(
        "#file-input", files=[{"name": "n.txt", "mimeType": "text/plain", "buffer": b"notes"}]
    )
    while not held:
        phone.wait_for_timeout(20)
    phone.fill("#prompt", "with my notes [sim words=2]")
    phone.press("#prompt", "Enter")
    expect(status).to_have_text("Sending once the files are uploaded…")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 360
    assert status.evaluate("el => el.scrollHeight <= el.clientHeight")
    assert phone.locator("#model").evaluate(MODEL_NAME_IS_WHOLE)  # the status wraps first
    held.pop().continue_()
    expect(phone.locator('article.message.assistant[data-status="complete"]')).to_have_count(3)
    # Spanish's longer status, for a whole reply: wrapped, the model's name whole.
    phone.context.set_extra_http_headers({"Accept-Language": "es"})
    phone.reload()
    phone.fill("#prompt", "a slow one [sim words=30 delay=100]")
    phone.locator("#send").click()
    expect(status).to_have_text("Grok está escribiendo…")
    assert phone.locator("#model").evaluate(MODEL_NAME_IS_WHOLE)
    assert status.evaluate("el => el.scrollWidth <= el.clientWidth")
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 360
    expect(phone.locator('article.message.assistant[data-status="complete"]')).to_have_count(4)


def test_on_a_phone_a_reply_tapped_says_its_time_and_tokens(phone: Any, live: LiveServer) -> None:
    """No hover on a touch screen: the reply's title (its tokens and cost) shows when its
    text is tapped, with its time; as written and after a reload."""
    sign_up(phone, live, "counter")
    say(phone, "count my tokens [sim words=12 delay=1]")
    for _ in range(2):
        reply = phone.locator("article.message.assistant").last
        usage, time = reply.locator(".usage"), reply.locator(".time")
        expect(usage).to_be_hidden()
        reply.locator(".content").click()
        expect(usage).to_be_visible()
        expect(usage).to_contain_text("completion tokens")
        expect(time).to_be_visible()
        box, within = usage.bounding_box(), reply.bounding_box()
        assert box["x"] + box["width"] <= within["x"] + within["width"] + 1
        phone.reload()


def test_one_tap_on_edit_opens_the_editor_on_a_phone(phone: Any, live: LiveServer) -> None:
    """A short message's buttons stay where they are when it takes focus (its time shows
    in room kept for it), so the tap that focuses them lands on them."""
    sign_up(phone, live, "tapper")
    say(phone, "Hi")
    phone.locator("article.message.user .edit").click()
    phone.wait_for_selector("form.editor textarea", timeout=3000)


def test_a_reply_s_arrows_stay_under_the_finger_that_focuses_them_on_a_touch_phone(
    browser: Any, live: LiveServer
) -> None:
    """A tap's press focuses the button before its release clicks it: what a reply shows
    once it has focus (its time, its tokens) must move nothing under the finger, or the
    release lands beside the button and the tap does nothing."""
    context = browser.new_context(
        base_url=live.url, viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    phone = context.new_page()
    watch(phone)
    sign_up(phone, live, "arrow-tapper")
    say(phone, "one question about tea [sim words=300 delay=1]")  # a thread taller than the screen
    say(phone, "and coffee?")
    phone.locator("article.message.assistant").last.locator(".regenerate").tap()
    count = phone.locator("article.message.assistant").last.locator(".siblings .count")
    expect(count).to_have_text("2/2")
    phone.wait_for_function(FINISHED)
    previous = phone.locator("article.message.assistant").last.locator(".prev")
    where = previous.bounding_box()
    previous.focus()  # what the press does
    phone.evaluate("() => new Promise(requestAnimationFrame)")
    assert previous.bounding_box() == where
    previous.tap()
    expect(count).to_have_text("1/2")
    assert phone.problems == []
    context.close()


def test_every_control_has_an_accessible_name(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "reader")
    say(page, "hello [sim words=5 delay=1]")
    unnamed = page.evaluate(
        """() => [...document.querySelectorAll('button, a, input, textarea, select, summary')]
            .filter(el => el.offsetParent !== null)
            .filter(el => !(el.getAttribute('aria-label') || el.textContent.trim() ||
                            (el.id && document.querySelector(`label[for="${el.id}"]`))))
            .map(el => el.outerHTML.slice(0, 80))"""
    )
    assert unnamed == []
    assert page.get_attribute("#thread", "aria-live") == "polite"


def test_a_reasoning_model_shows_its_thinking_folded(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "thinker")
    page.select_option("#model", "grok-3-mini")
    say(page, "why is the sky blue? [sim words=20 delay=2]")
    thinking = page.locator("article.message.assistant details.reasoning")
    assert thinking.count() == 1 and not thinking.get_attribute("open")
    thinking.locator("summary").click()
    assert len(thinking.locator(".reasoning-text").inner_text().split()) >= 10
    page.reload()
    assert page.locator("article.message.assistant details.reasoning").count() == 1


def test_the_system_theme_is_followed_until_one_is_chosen(browser: Any, live: LiveServer) -> None:
    context = browser.new_context(base_url=live.url, color_scheme="dark")
    page = context.new_page()
    sign_up(page, live, "nightowl")
    say(page, "some code please [sim words=10 delay=1]")
    scheme = lambda: page.evaluate("() => document.documentElement.dataset.scheme")  # noqa: E731
    code_bg = lambda: page.evaluate(  # noqa: E731
        "() => getComputedStyle(document.querySelector('.markdown pre')).backgroundColor"
    )
    assert scheme() == "dark" and code_bg() == "rgb(39, 40, 34)"  # monokai, on the system's dark
    page.click("#theme")  # system → light, against the system
    assert scheme() == "light" and code_bg() != "rgb(39, 40, 34)"
    page.emulate_media(color_scheme="light")
    page.click("#theme")  # light, the system's now → following the system
    assert scheme() == "light" and code_bg() != "rgb(39, 40, 34)"
    page.click("#theme")  # system → dark, against the system again
    assert scheme() == "dark" and code_bg() == "rgb(39, 40, 34)"
    context.close()


def test_a_too_long_message_is_refused_and_kept_in_the_composer(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "longwinded")
    text = "word " * 20_001  # 100,005 characters: over the 100,000 limit
    page.fill("#prompt", text)
    page.press("#prompt", "Enter")
    page.wait_for_selector("text=This message is too long (100,005 characters")
    assert page.input_value("#prompt") == text
    assert page.locator("article.message.user").count() == 0
    assert page.problems == []
