"""The thread as a ChatGPT user expects it, in headless Chromium: versions that show at
once and flip in place, where the view sits and follows, Send that becomes Stop, thinking
timed, the editor, continuing a reply, code blocks, tables, directions, feedback."""

import re
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers import FINISHED, edit, eventually, say, sign_up
from tests.live import LiveServer

pytestmark = pytest.mark.browser

STREAMING = 'article.message.assistant[data-status="streaming"]'
# How far the thread is from its bottom, in pixels.
DISTANCE = "() => { const s = document.getElementById('scroller'); return s.scrollHeight - s.scrollTop - s.clientHeight; }"


def texts(page: Any, role: str) -> list[str]:
    return page.locator(f"article.message.{role} .content").all_inner_texts()


def mark_page(page: Any) -> None:
    """A flag on this page's window: gone if the page is loaded again."""
    page.evaluate("() => { window.samePage = true; }")


def same_page(page: Any) -> bool:
    return page.evaluate("() => window.samePage === true")


def focus_is_somewhere(page: Any) -> bool:
    return page.evaluate("() => document.activeElement !== document.body")


# --- 1. Versions ------------------------------------------------------------------------------
def test_a_regenerated_reply_shows_its_arrows_at_once_and_flips_in_place(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "versions")
    say(page, "first question [sim words=8 delay=1]")
    first_reply = texts(page, "assistant")[0]
    say(page, "second question [sim words=8 delay=1]")
    mark_page(page)
    # Regenerating the early reply: the arrows show while the new version is written.
    page.locator("article.message.assistant").first.locator(".regenerate").click()
    page.wait_for_selector(f"{STREAMING} .siblings .count >> text=2/2")
    assert focus_is_somewhere(page)
    # Arrows a pointer hits without aiming (they were 23 by 25 px); the reply may have
    # ended by now.
    for arrow in page.locator("article.message.assistant").first.locator(".siblings button").all():
        box = arrow.bounding_box()
        assert box["width"] >= 32 and box["height"] >= 32, box
        assert arrow.evaluate("b => parseFloat(getComputedStyle(b).fontSize)") >= 16
    page.wait_for_function(FINISHED)
    assert len(texts(page, "user")) == 1
    # The way back to the old version, and the thread below it, without a page load.
    page.locator("article.message.assistant .prev").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=1/2")
    assert texts(page, "assistant")[0] == first_reply
    assert len(texts(page, "user")) == 2 and "second question" in texts(page, "user")[1]
    assert page.evaluate("() => document.activeElement.matches('.siblings .next')")
    page.locator("article.message.assistant").first.locator(".next").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    assert len(texts(page, "user")) == 1
    assert same_page(page)
    assert page.problems == []


def test_flipping_an_early_message_s_versions_keeps_it_where_it_is_on_screen(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "flipper")
    say(page, "first question [sim words=8 delay=1]")
    first = page.locator("article.message.assistant").first
    first.locator(".regenerate").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    page.wait_for_function(FINISHED)
    for i in range(3):  # the new version's own thread, taller than the view
        say(page, f"more {i} [sim words=150 delay=0]")
    # Back at the old version, whose short thread fits the view; then forward again.
    first.locator(".prev").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=1/2")
    for arrow in (".next", ".prev", ".next"):
        before = first.bounding_box()["y"]
        first.locator(arrow).click()
        count = "2/2" if arrow == ".next" else "1/2"
        page.wait_for_selector(f"article.message.assistant .siblings .count >> text={count}")
        page.wait_for_timeout(300)  # the thread's new height laid out, any scroll done
        # The message stays where it was under the pointer, its arrows (one focused) in view.
        assert abs(first.bounding_box()["y"] - before) < 2, (before, first.bounding_box())
        assert page.evaluate(
            "() => { const b = document.activeElement; const r = b.getBoundingClientRect();"
            " return b.matches('.siblings button') && r.top >= 0 && r.bottom <= innerHeight; }"
        )
    assert page.problems == []


def test_editing_or_flipping_an_early_message_reached_without_the_wheel_stays_in_view(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "scrollbar")
    say(page, "first question [sim words=8 delay=1]")
    for i in range(3):
        say(page, f"more {i} [sim words=150 delay=0]")
    first = page.locator("article.message.assistant").first
    first.locator(".regenerate").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    page.wait_for_function(FINISHED)
    in_view = """e => { const r = e.getBoundingClientRect();
        return r.bottom > 0 && r.top < innerHeight; }"""
    # The top reached as the scrollbar or the keyboard reaches it: no wheel, no touch.
    to_top = "() => { document.getElementById('scroller').scrollTop = 0; }"
    for arrow, count in ((".prev", "1/2"), (".next", "2/2"), (".prev", "1/2")):
        page.evaluate(to_top)
        page.wait_for_timeout(100)
        first.locator(arrow).click()
        page.wait_for_selector(f"article.message.assistant .siblings .count >> text={count}")
        page.wait_for_timeout(300)  # the new thread laid out
        assert first.evaluate(in_view), arrow
    page.evaluate(to_top)
    page.wait_for_timeout(100)
    page.locator("article.message.user .edit").first.click()
    editor = page.locator("article.message.user textarea")
    page.wait_for_timeout(300)
    assert editor.evaluate(in_view) and editor.evaluate("e => e === document.activeElement")
    assert page.problems == []


def test_back_to_an_edited_question_its_reply_is_the_one_last_turned_to(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "version-picker")
    say(page, "question [sim words=6 delay=1]")
    page.locator("article.message.assistant .regenerate").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    page.wait_for_function(FINISHED)
    page.locator("article.message.assistant .prev").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=1/2")
    chosen = texts(page, "assistant")[0]
    mark_page(page)
    edit(page, "question, edited [sim words=6 delay=1]")
    page.locator("article.message.user .prev").click()
    page.wait_for_selector("article.message.user .siblings .count >> text=1/2")
    assert texts(page, "user") == ["question [sim words=6 delay=1]"]
    assert page.locator("article.message.assistant .siblings .count").inner_text() == "1/2"
    assert texts(page, "assistant") == [chosen]
    assert same_page(page)  # the edit's arrows showed, and flipped, without a page load
    page.reload()
    assert texts(page, "assistant") == [chosen]
    assert page.problems == []


@pytest.mark.services
def test_picking_a_candidate_swaps_the_thread_in_place(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "candidates")
    page.click("#settings-button")
    page.fill("#candidates", "2")
    say(page, "two takes [sim words=10 delay=1]", replies=2)
    assert page.locator(".candidates article.message.assistant .copy").count() == 2
    mark_page(page)
    second = page.locator(".candidates article.message.assistant").nth(1)
    chosen = second.locator(".content").inner_text()
    second.locator(".pick").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    assert texts(page, "assistant") == [chosen]
    assert same_page(page)


# --- 2, 3. Where the view sits -------------------------------------------------------------------
def test_a_conversation_opens_at_its_latest_message(browser: Any, live: LiveServer) -> None:
    context = browser.new_context(base_url=live.url, viewport={"width": 1000, "height": 600})
    page = context.new_page()
    sign_up(page, live, "longread")
    for n in range(3):
        say(page, f"part {n} [sim words=150 delay=0]")
    page.reload()
    page.wait_for_selector("article.message.assistant")
    assert page.evaluate("() => document.getElementById('scroller').scrollTop") > 500
    assert page.evaluate(DISTANCE) < 10
    assert page.locator("article.message.assistant").last.locator(".actions").is_visible()
    assert page.evaluate("() => document.scrollingElement.scrollTop") == 0
    context.close()


def test_scrolling_up_while_a_reply_streams_is_respected_and_a_button_brings_you_back(
    browser: Any, live: LiveServer
) -> None:
    context = browser.new_context(base_url=live.url, viewport={"width": 1000, "height": 600})
    page = context.new_page()
    sign_up(page, live, "scroller")
    say(page, "warm up [sim words=150 delay=0]")
    page.fill("#prompt", "a long one [sim words=3000 delay=15]")
    page.press("#prompt", "Enter")
    page.wait_for_selector(STREAMING)
    page.wait_for_function(
        "() => { const s = document.getElementById('scroller'); "
        "return s.scrollHeight > s.clientHeight + 300; }"
    )
    # Following the reply: at the bottom once the frame a word arrived in is drawn (the
    # follow runs as the page is laid out for it, so a read in between sees the new line).
    page.wait_for_function(f"() => ({DISTANCE})() < 10")
    # A small scroll up: the view stays where the person put it while the reply grows.
    page.mouse.move(500, 300)
    page.mouse.wheel(0, -80)
    page.wait_for_function(f"() => ({DISTANCE})() > 60")
    page.wait_for_selector("#jump", state="visible")
    held = page.evaluate("() => document.getElementById('scroller').scrollTop")
    page.wait_for_timeout(700)
    assert abs(page.evaluate("() => document.getElementById('scroller').scrollTop") - held) < 2
    assert page.locator(STREAMING).count() == 1
    # The button goes back down and the view follows again.
    page.click("#jump")
    page.wait_for_function(f"() => ({DISTANCE})() < 10")
    page.wait_for_selector("#jump", state="hidden")
    page.click("#stop")
    page.wait_for_function(FINISHED)
    # Sending while scrolled far up brings the new message into view.
    page.evaluate("() => { document.getElementById('scroller').scrollTop = 0; }")
    page.fill("#prompt", "and now? [sim words=5 delay=1]")
    page.press("#prompt", "Enter")
    page.wait_for_function("() => document.querySelectorAll('article.message.user').length === 3")
    page.wait_for_function(FINISHED)
    page.wait_for_function(f"() => ({DISTANCE})() < 10")
    assert page.locator("article.message.user").last.is_visible()
    context.close()


def test_a_tall_message_in_a_short_thread_is_followed_by_its_reply(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "tallmessage")
    say(page, "short [sim words=3 delay=1]")
    page.fill("#prompt", "\n".join(f"line {n}" for n in range(8)) + " [sim words=300 delay=10]")
    page.press("#prompt", "Enter")
    page.wait_for_selector(STREAMING)
    page.wait_for_function(
        "() => { const s = document.getElementById('scroller'); "
        "return s.scrollHeight > s.clientHeight + 200; }"
    )
    page.wait_for_function(f"() => ({DISTANCE})() < 10")
    assert page.locator("#jump").is_hidden()
    page.click("#stop")


def test_a_reply_streaming_after_a_reload_offers_no_actions_until_it_ends(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "reloadactions")
    page.fill("#prompt", "long [sim words=200 delay=20]")
    page.press("#prompt", "Enter")
    page.wait_for_selector(STREAMING)
    page.reload()
    page.wait_for_selector(STREAMING)
    assert page.locator(f"{STREAMING} .actions").count() == 0
    page.click("#stop")
    page.wait_for_function(FINISHED)
    assert page.locator("article.message.assistant .regenerate").is_visible()


# --- 4. Send becomes Stop ---------------------------------------------------------------------
def test_send_becomes_stop_while_a_reply_streams(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "sendstop")
    page.fill("#prompt", "go on [sim words=300 delay=20]")
    send_box = page.locator("#send").bounding_box()
    page.press("#prompt", "Enter")
    page.wait_for_selector(STREAMING)
    assert page.locator("#send").is_hidden()
    stop_box = page.locator("#stop").bounding_box()
    assert abs(stop_box["x"] + stop_box["width"] - send_box["x"] - send_box["width"]) < 2
    # Enter while it streams sends nothing; the text waits, the status and Stop flash, and
    # a word says why until the reply ends.
    page.fill("#prompt", "next question")
    page.press("#prompt", "Enter")
    expect(page.locator("#error")).to_have_text(
        "Wait for the reply being written, or stop it first."
    )
    assert page.locator("article.message.user").count() == 1
    for flashed in ("#stop", "#status"):
        assert "again" in page.get_attribute(flashed, "class"), flashed
    page.click("#stop")
    page.wait_for_selector('article.message.assistant[data-status="stopped"]')
    assert page.locator("#send").is_visible() and page.locator("#stop").is_hidden()
    assert "again" not in page.get_attribute("#status", "class")
    assert page.input_value("#prompt") == "next question"
    assert focus_is_somewhere(page)
    assert page.locator("#error").is_hidden()
    # Enter now sends what waited.
    page.press("#prompt", "Enter")
    expect(page.locator("article.message.user")).to_have_count(2)
    expect(page.locator("article.message.user").last).to_contain_text("next question")


def test_a_draft_survives_a_reload_until_it_is_sent(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "drafter")
    say(page, "hello [sim words=3 delay=1]")
    page.fill("#prompt", "half a thought")
    page.reload()
    assert page.input_value("#prompt") == "half a thought"
    page.keyboard.type(" [sim words=3 delay=1]")
    page.keyboard.press("Enter")
    # Taken by the server (its ack): until then the draft is kept, as the message may be lost.
    page.wait_for_function(
        "() => document.querySelectorAll('article.message.user:not([data-client-id])').length === 2"
    )
    page.reload()
    assert page.input_value("#prompt") == ""
    # Logging out leaves nothing for whoever uses the tab next.
    page.fill("#prompt", "private words")
    page.get_by_role("button", name="Log out").click()
    sign_up(page, live, "drafter2")
    assert page.input_value("#prompt") == ""


def test_a_refused_new_version_puts_the_thread_back(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "refused")
    page.select_option("#model", "grok-3-mini")
    say(page, "keep me [sim words=6 delay=1]")
    before = texts(page, "assistant")
    live.query("UPDATE webchat_chatmodel SET enabled = %s WHERE slug = %s", False, "grok-3-mini")
    try:
        page.locator("article.message.assistant .regenerate").click()
        page.wait_for_selector("#error:not([hidden])")
        assert "not available" in page.inner_text("#error")
        assert texts(page, "assistant") == before
        assert page.locator("article.message.assistant .regenerate").is_visible()
    finally:
        live.query("UPDATE webchat_chatmodel SET enabled = %s WHERE slug = %s", True, "grok-3-mini")


# --- 5. Thinking ---------------------------------------------------------------------------
def test_a_reasoning_model_shows_a_timer_while_it_thinks_then_how_long_it_thought(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "timer")
    page.select_option("#model", "grok-3-mini")
    page.fill("#prompt", "why is the sky blue? [sim words=10 delay=90]")
    page.press("#prompt", "Enter")
    summary = page.locator("article.message.assistant details.reasoning summary")
    summary.wait_for()
    page.wait_for_function(
        "() => /^Thinking… [1-9]\\d* s$/.test(document.querySelector('details.reasoning summary').textContent)"
    )
    page.wait_for_function(FINISHED)
    assert re.fullmatch(r"Thought for [1-9]\d* s", summary.inner_text())
    details = page.locator("article.message.assistant details.reasoning")
    assert details.get_attribute("open") is None
    summary.click()
    assert details.locator(".reasoning-text").is_visible()
    page.reload()
    assert re.fullmatch(
        r"Thought for [1-9]\d* s",
        page.locator("article.message.assistant details.reasoning summary").inner_text(),
    )


# --- 6. The editor and focus ------------------------------------------------------------------
def test_the_editor_is_full_width_and_keys_work_as_in_the_composer(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "editorkeys")
    say(page, "short [sim repeat delay=1]")
    user = page.locator("article.message.user")
    user.locator(".edit").click()
    editor = page.locator("form.editor")
    thread_width = page.locator("#thread article.message.assistant").bounding_box()["width"]
    assert editor.bounding_box()["width"] > thread_width * 0.9
    assert editor.get_by_role("button", name="Cancel").is_visible()
    assert editor.get_by_role("button", name="Send").is_visible()
    # Esc cancels, and focus goes back to Edit.
    page.keyboard.press("Escape")
    assert editor.count() == 0
    assert page.evaluate("() => document.activeElement.matches('article.message.user .edit')")
    # Shift+Enter is a new line; Enter sends.
    user.locator(".edit").click()
    page.fill("form.editor textarea", "line one")
    page.keyboard.press("Shift+Enter")
    page.keyboard.type("line two [sim repeat delay=1]")
    assert page.locator("form.editor").count() == 1
    page.keyboard.press("Enter")
    page.wait_for_function(FINISHED)
    assert texts(page, "user") == ["line one\nline two [sim repeat delay=1]"]
    assert focus_is_somewhere(page)
    # After Regenerate (its button leaves the page) focus is not dropped either.
    page.locator("article.message.assistant .regenerate").click()
    assert focus_is_somewhere(page)
    page.wait_for_function(FINISHED)
    assert page.problems == []


def test_an_edit_being_written_survives_a_reload_and_back_and_forward(
    page: Any, live: LiveServer
) -> None:
    """As the composer's draft does: the editor opens again with its words. Given up or sent,
    it is not opened again."""
    sign_up(page, live, "editdraft")
    say(page, "first words [sim repeat delay=1]")
    say(page, "a long reply [sim words=400 delay=1]")  # the first message above the fold
    address = page.url
    page.locator("article.message.user .edit").first.click()
    page.fill("form.editor textarea", "better words, half written")
    page.reload()
    assert page.locator("form.editor textarea").input_value() == "better words, half written"
    page.wait_for_timeout(300)  # the page's own scrolling done
    box = page.locator("form.editor textarea").bounding_box()
    assert box["y"] >= 0 and box["y"] + box["height"] <= 720, box  # in view, not at the end
    page.goto("/")
    page.go_back()
    page.wait_for_url(address)
    area = page.locator("form.editor textarea")
    assert area.input_value() == "better words, half written"
    assert page.evaluate("() => document.activeElement.matches('form.editor textarea')")
    page.keyboard.press("Escape")
    page.reload()
    page.locator("article.message.user .edit").first.wait_for()
    assert page.locator("form.editor").count() == 0
    # Sent: the next visit opens no editor either.
    page.locator("article.message.user .edit").first.click()
    page.fill("form.editor textarea", "sent words [sim repeat delay=1]")
    page.keyboard.press("Enter")
    page.wait_for_function(FINISHED)
    page.reload()
    page.locator("article.message.user .edit").first.wait_for()
    assert page.locator("form.editor").count() == 0
    assert texts(page, "user") == ["sent words [sim repeat delay=1]"]
    assert page.problems == []


def test_on_a_phone_a_long_message_is_edited_in_a_box_that_holds_it(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "longeditor")
    long = " ".join(f"Line {n} of a long question." for n in range(30))
    say(phone, long + " [sim words=3 delay=1]")
    phone.locator("article.message.user .edit").click()
    area = phone.locator("form.editor textarea")
    expect(area).to_be_focused()
    # Half the screen (it was three lines), its start under the header, not behind it.
    assert area.evaluate("a => a.clientHeight") >= 844 * 0.45
    header = phone.locator(".chat-header").bounding_box()
    role = phone.locator("article.message.user .role").bounding_box()
    assert role["y"] >= header["y"] + header["height"], (role, header)
    # It grows as it is written, to that half.
    area.evaluate("a => { a.value = 'short'; a.dispatchEvent(new Event('input')); }")
    assert area.evaluate("a => a.clientHeight") < 844 * 0.25


# --- 7. Continue, and another model ----------------------------------------------------------
def test_a_reply_cut_by_max_tokens_can_be_continued(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "continuer")
    page.click("#settings-button")
    page.fill("#max-tokens", "6")
    say(page, "tell me a long story [sim words=40 delay=1]")
    cut = texts(page, "assistant")[0]
    reply = page.locator("article.message.assistant")
    assert "Cut short" in reply.locator(".note").inner_text()
    reply.get_by_role("button", name="Continue generating").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    page.wait_for_function(FINISHED)
    longer = texts(page, "assistant")[0]
    assert longer.startswith(cut.strip()) and len(longer) > len(cut)
    # The cut version is kept, one arrow back.
    page.locator("article.message.assistant .prev").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=1/2")
    assert texts(page, "assistant")[0] == cut
    assert page.problems == []


def test_a_reply_can_be_regenerated_with_another_model(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "othermodel")
    page.select_option("#model", "grok-3")
    say(page, "hello [sim words=6 delay=1]")
    assert page.locator("article.message.assistant .role").inner_text() == "Grok 3"
    button = page.locator("article.message.assistant .regenerate-with")
    assert button.get_attribute("title") == "Regenerate with another model"  # on hovering
    button.click()
    menu = page.get_by_role("menu")
    assert menu.inner_text().startswith("Regenerate with\n")  # what a pick does, said
    menu.get_by_role("menuitem", name="Grok 4", exact=True).click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    page.wait_for_function(FINISHED)
    assert page.locator("article.message.assistant .role").inner_text() == "Grok 4"
    # The model picked on this page stays the next message's.
    assert page.input_value("#model") == "grok-3"
    # Without a pick, the next message goes to the model of the reply on screen, as a
    # reload shows it; flipping back to the first version brings its model back.
    page.reload()
    assert page.locator("article.message.assistant .role").inner_text() == "Grok 4"
    assert page.input_value("#model") == "grok-4"
    page.locator("article.message.assistant .prev").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=1/2")
    assert page.input_value("#model") == "grok-3"
    # Picked again, it stays through the versions.
    page.select_option("#model", "grok-4")
    page.locator("article.message.assistant .next").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=2/2")
    page.locator("article.message.assistant .prev").click()
    page.wait_for_selector("article.message.assistant .siblings .count >> text=1/2")
    assert page.input_value("#model") == "grok-4"
    assert page.problems == []


# --- 8. Code, times, tables, directions ------------------------------------------------------
def test_code_blocks_carry_their_language_and_a_download(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "coder")
    say(page, "some code please [sim words=5 delay=1]")
    bar = page.locator("article.message.assistant .code-bar")
    assert bar.locator(".code-lang").inner_text() == "python"
    with page.expect_download() as download:
        bar.get_by_role("button", name="Download python").click()
    assert download.value.suggested_filename == "snippet.py"
    assert "def greet" in Path(download.value.path()).read_text()
    # A message shows its time when the pointer is on it.
    page.mouse.move(5, 400)  # the sidebar
    page.focus("#prompt")
    time = page.locator("article.message.assistant time.time")
    assert re.fullmatch(r"[1-9]\d?:\d{2}(\s?[AP]M)?", time.inner_text())  # no leading zero
    assert page.evaluate("e => getComputedStyle(e).opacity", time.element_handle()) == "0"
    page.locator("article.message.assistant").hover()
    page.wait_for_function("e => getComputedStyle(e).opacity === '1'", arg=time.element_handle())


def test_table_alignment_and_text_direction_are_kept(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "tables")
    table = "| item | price |\n|:---|---:|\n| tea | 3.50 |\n\n"
    arabic = "مرحبا بالعالم، هذه فقرة باللغة العربية.\n\n"
    english = "An English paragraph, long enough to be still streaming when the page is read."
    page.fill("#prompt", table + arabic + english + " [sim repeat delay=100]")
    page.press("#prompt", "Enter")
    # Read in one go: while streaming, the reply is rendered again every frame.
    look = """() => {
      const reply = document.querySelector("article.message.assistant");
      return [
        getComputedStyle(reply.querySelector("td:nth-child(2)")).textAlign,
        [...reply.querySelectorAll(".content p")].map((p) => getComputedStyle(p).direction),
      ];
    }"""
    # While streaming (the browser's rendering), then after (the server's): the same.
    page.wait_for_selector(f"{STREAMING} table ~ p")
    align, directions = page.evaluate(look)
    assert align == "right" and directions[0] == "rtl"
    page.wait_for_function(FINISHED)
    assert page.evaluate(look) == ["right", ["rtl", "ltr"]]
    assert page.evaluate("() => getComputedStyle(document.body).direction") == "ltr"
    # The person's own message: each paragraph in its own direction too (the Arabic line
    # ends at the right edge).
    edges = page.evaluate(
        """() => {
          const content = document.querySelector("article.message.user .content");
          const text = content.firstChild;
          const range = document.createRange();
          const at = text.data.indexOf("مرحبا");
          range.setStart(text, at);
          range.setEnd(text, at + 5);
          return [range.getBoundingClientRect().right, content.getBoundingClientRect().right];
        }"""
    )
    assert abs(edges[0] - edges[1]) < 20, edges
    assert page.problems == []  # no style attribute refused by the CSP on the way


# --- 9. Feedback --------------------------------------------------------------------------
def test_thumbs_and_a_comment_are_stored(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "rater")
    say(page, "rate me [sim words=6 delay=1]")
    reply = page.locator("article.message.assistant")
    reply.get_by_role("button", name="Bad reply").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Comment").fill("It missed the point.")
    dialog.get_by_role("button", name="Send feedback").click()
    page.wait_for_function(
        "() => document.querySelector('.feedback[data-rating=down]').getAttribute('aria-pressed') === 'true'"
    )
    message_id = reply.get_attribute("data-id")
    rows = lambda: live.query(  # noqa: E731
        "SELECT rating, comment FROM conversations_feedback f "
        "JOIN conversations_message m ON m.id = f.message_id WHERE m.id = %s",
        message_id.replace("-", "") if "sqlite" in live.database_url else message_id,
    )
    page.wait_for_function("() => !document.querySelector('dialog[open]')")
    eventually(rows, [("down", "It missed the point.")])
    page.reload()
    assert page.get_attribute(".feedback[data-rating=down]", "aria-pressed") == "true"
    # Changing one's mind: up, no comment; then pressing it again takes it back.
    page.get_by_role("button", name="Good reply").click()
    page.get_by_role("dialog").get_by_role("button", name="Cancel").click()
    eventually(rows, [("up", "")])
    page.get_by_role("button", name="Good reply").click()
    page.wait_for_function(
        "() => document.querySelector('.feedback[data-rating=up]').getAttribute('aria-pressed') === 'false'"
    )
    eventually(rows, [])
    assert page.problems == []


@pytest.mark.services
def test_a_message_answers_the_branch_its_page_shows_whatever_another_tab_did(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "twotabs")
    say(page, "first question [sim words=3 delay=1]")
    say(page, "second question [sim words=3 delay=1]")
    edit(page, "edited question [sim words=3 delay=1]", last=True)
    # Another tab opens on the edited branch; then the first flips back to the original.
    other = page.context.new_page()
    other.goto(page.url)
    other.wait_for_selector("article.message.user >> text=edited question")
    page.locator("article.message.user .prev").last.click()
    page.wait_for_selector("article.message.user .siblings .count >> text=1/2")
    # The other tab's next message answers the branch it shows, not the one last chosen.
    other.fill("#prompt", "what came before? [sim echo]")
    other.click("#send")
    other.wait_for_selector('article.message.assistant[data-status="complete"] >> nth=2')
    echo = other.locator("article.message.assistant .content").last.inner_text()
    assert "edited question" in echo and "second question" not in echo
    other.reload()
    assert texts(other, "user")[1:] == [
        "edited question [sim words=3 delay=1]",
        "what came before? [sim echo]",
    ]
    assert page.problems == []
    other.close()


def test_versions_stay_put_while_a_reply_is_written(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "holdversions")
    say(page, "a question [sim words=3 delay=1]")
    edit(page, "another question [sim words=3 delay=1]")
    back = page.locator("article.message.user .prev")
    assert back.is_enabled()
    page.fill("#prompt", "a long one [sim words=300 delay=30]")
    page.click("#send")
    page.wait_for_selector('article.message.assistant[data-status="streaming"]')
    # Flipping now would take the streaming reply and its Stop off the page.
    assert back.first.is_disabled()
    page.keyboard.press("Escape")
    page.wait_for_selector('article.message.assistant[data-status="stopped"]')
    assert back.first.is_enabled()
    assert page.locator("article.message.user .next").first.is_disabled()  # the last version
    assert page.problems == []
