"""A person's defaults, saved prompts with `/`, and temporary chats, in Chromium: every
form here is posted by the browser itself."""

import time
import uuid
from typing import Any

import pytest

from tests.helpers import say, sign_up
from tests.live import LiveServer

pytestmark = pytest.mark.browser


def test_defaults_set_in_settings_start_a_new_conversation(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "defaulter")
    page.click("#sidebar a[href='/settings/']")
    page.select_option("#id_default_model", "grok-3-mini")
    page.fill("#id_custom_instructions", "Answer like a pirate.")
    page.fill("#id_default_temperature", "0.3")
    page.fill("#id_default_max_tokens", "500")
    page.click("#defaults button[type=submit]")
    page.wait_for_selector("#defaults .saved")
    page.click("text=← Back to chat")
    assert page.input_value("#model") == "grok-3-mini"
    assert page.input_value("#system") == "Answer like a pirate."
    assert page.input_value("#max-tokens") == "500"
    say(page, "ahoy [sim echo]")
    echo = page.locator("article.message.assistant .content").last.inner_text()
    assert "System: Answer like a pirate." in echo and "temperature=0.3" in echo
    assert page.problems == []


def test_a_saved_prompt_goes_in_with_slash(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "prompter")
    page.goto("/settings/")
    for name, text in [
        ("Summarize", "Summarize this in three bullets:"),
        ("Translate", "Translate to French:"),
    ]:
        page.fill("#id_new-name", name)
        page.fill("#id_new-text", text)
        page.click("#prompts form[action='/settings/prompts/'] button[type=submit]")
        page.wait_for_selector(f"details.saved-prompt summary >> text=/{name}")
    # Changed in place, then one deleted (after the page's own confirmation).
    translate = page.locator("details.saved-prompt", has_text="/Translate")
    translate.locator("summary").click()
    translate.locator("textarea").fill("Translate to Spanish:")
    translate.locator("button[type=submit]", has_text="Save prompt").click()
    page.wait_for_selector("text=Prompt saved.")
    page.goto("/")
    prompt = page.locator("#prompt")
    prompt.type("Please /tr")
    menu = page.locator("#prompt-menu")
    menu.wait_for()
    assert menu.locator("[role=option]").all_inner_texts() == ["/Translate Translate to Spanish:"]
    prompt.press("Enter")  # chooses; does not send
    assert prompt.input_value() == "Please Translate to Spanish:"
    assert menu.is_hidden() and page.locator("article.message").count() == 0
    prompt.fill("")
    prompt.type("/")
    assert menu.locator("[role=option]").count() == 2
    prompt.press("ArrowDown")
    assert menu.locator("[aria-selected=true]").inner_text().startswith("/Translate")
    prompt.press("Escape")
    assert menu.is_hidden() and prompt.input_value() == "/"
    prompt.type("sum")
    prompt.press("Tab")
    assert prompt.input_value() == "Summarize this in three bullets:"
    # Deleting from the settings page.
    page.goto("/settings/")
    page.accept_confirm = True
    summarize = page.locator("details.saved-prompt", has_text="/Summarize")
    summarize.locator("summary").click()
    summarize.locator("button", has_text="Delete").click()
    dialog = page.locator("dialog[open]")
    if dialog.count():
        dialog.locator("button", has_text="Delete").click()
    page.wait_for_selector("text=Prompt deleted.")
    assert page.locator("details.saved-prompt").count() == 1
    assert page.problems == []


def test_a_temporary_chat_is_not_listed_and_is_deleted_when_left(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "ephemeral")
    page.click("#temporary")
    assert page.get_attribute("#temporary", "aria-pressed") == "true"
    assert page.locator("#temporary-note").is_visible()
    say(page, "nobody keeps this [sim words=5 delay=1]")
    conversation = page.url.rstrip("/").rsplit("/", 1)[1]
    cid = uuid.UUID(conversation)
    assert page.locator(f"#sidebar a[href='/c/{conversation}/']").count() == 0
    assert live.query("SELECT temporary FROM conversations_conversation WHERE id = %s", cid)[0][0]
    page.reload()  # a reload is not leaving: it is still there, and still temporary
    page.locator("#temporary-note").wait_for()
    page.wait_for_timeout(4_000)  # past the grace its leaving had (2.5 s in tests/live_settings.py)
    assert live.query("SELECT 1 FROM conversations_conversation WHERE id = %s", cid)
    assert page.locator("#share").is_hidden()  # its link would die with it
    page.goto("/")  # leaving the page deletes it
    deadline = time.monotonic() + 15
    while live.query("SELECT 1 FROM conversations_conversation WHERE id = %s", cid):
        assert time.monotonic() < deadline, "the temporary chat was not deleted"
        time.sleep(0.1)
    # The ledger keeps what it cost.
    spent = live.query("SELECT count(*) FROM webchat_usagerecord WHERE conversation = %s", cid)
    assert spent[0][0] == 1
    assert page.locator("#temporary").get_attribute("aria-pressed") == "false"
    assert page.problems == []


def test_the_preferences_page_fits_a_small_phone(phone: Any, live: LiveServer) -> None:
    phone.set_viewport_size({"width": 360, "height": 740})
    sign_up(phone, live, "smallprefs")
    phone.goto("/settings/")
    # The import's file box, its label and its note wrap to the screen: no sideways scroll.
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 360
    box = phone.locator("#import-file").bounding_box()
    assert box["x"] + box["width"] <= 360
    assert phone.problems == []
