"""Pinning, folders and archiving from the sidebar's menus in Chromium: each change posted
by the page itself, the list redrawn in place, the archived brought back by its form."""

import re
import uuid
from typing import Any

import pytest

from tests.helpers import say, sign_up
from tests.live import LiveServer

pytestmark = pytest.mark.browser


def menu(page: Any, title: str, action: str) -> None:
    item = page.locator(".conversation-list li", has_text=title).first
    item.hover()
    item.locator(".item-menu").click()
    page.get_by_role("menuitem", name=action).click()


@pytest.mark.services
def test_pin_file_rename_archive_and_bring_back_from_the_sidebar(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "filer")
    for words in ("Budget for May", "Lunch ideas"):
        page.goto("/")
        say(page, words)
    on_screen = page.url

    menu(page, "Budget for May", "Pin")
    pinned = page.locator(".conversation-list ul[data-group=pinned]")
    pinned.locator("text=Budget for May").wait_for()
    assert page.url == on_screen  # nothing left the page

    menu(page, "Lunch ideas", "Move to folder…")
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("Folder").fill("Food")
    dialog.get_by_role("button", name="Move").click()
    folder = page.locator("details.folder", has_text="Food")
    folder.locator("text=Lunch ideas").wait_for()
    # The page still marks the conversation on screen, in its folder.
    assert folder.locator('a[aria-current="page"]').inner_text() == "Lunch ideas"

    folder.locator(".folder-menu").click()
    page.get_by_role("menuitem", name="Rename folder").click()
    page.get_by_role("dialog").get_by_label("Name").fill("Meals")
    page.keyboard.press("Enter")
    page.locator("details.folder summary", has_text="Meals").wait_for()
    # The folders one has are there to press, not only to remember: one press moves.
    menu(page, "Budget for May", "Move to folder…")
    page.get_by_role("dialog").get_by_role("button", name="Meals").click()
    meals = page.locator("details.folder", has_text="Meals")
    meals.locator("text=Budget for May").wait_for()
    assert page.get_by_role("dialog").count() == 0

    menu(page, "Budget for May", "Archive")
    page.locator(".archived-link", has_text="Archived (1)").wait_for()
    assert page.locator(".conversation-list a", has_text="Budget for May").count() == 0
    # The keyboard's place is the next item's menu, not back at the top of the page.
    assert page.evaluate("() => document.activeElement.classList.contains('item-menu')")
    page.click(".archived-link")
    # Each with its day, in the reader's words ("Dec 4, 2026"), once the page's script ran.
    page.wait_for_function("() => document.querySelector('.results .result-date time').title")
    day = page.locator(".results .result-date time").inner_text()
    assert re.fullmatch(r"[A-Z][a-z]{2} \d{1,2}, \d{4}", day), day
    page.click("button:text-is('Unarchive')")
    page.wait_for_selector("text=Nothing here.")
    page.goto("/")
    page.locator("details.folder >> text=Budget for May").wait_for()

    page.locator("details.folder .folder-menu").click()
    page.get_by_role("menuitem", name="Delete folder").click()
    page.get_by_role("dialog").get_by_role("button", name="Delete folder").click()
    page.wait_for_selector("details.folder", state="detached")
    page.locator("ul[data-group=day] >> text=Lunch ideas").wait_for()
    assert page.problems == []


def test_a_conversation_deleted_from_a_folder_leaves_its_count_right(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "folder-clearer")
    for words in ("Quarterly report", "Team offsite"):
        page.goto("/")
        say(page, words)
        menu(page, words, "Move to folder…")
        page.get_by_role("dialog").get_by_label("Folder").fill("Work")
        page.keyboard.press("Enter")
        page.locator("details.folder", has_text=words).wait_for()
    page.goto("/")
    count = page.locator("details.folder summary .count")
    assert count.inner_text() == "2"
    for left, words in ((1, "Quarterly report"), (0, "Team offsite")):
        menu(page, words, "Delete")
        page.get_by_role("dialog").get_by_role("button", name="Delete").click()
        page.locator(".conversation-list a", has_text=words).wait_for(state="detached")
        assert count.inner_text() == str(left)
        assert page.evaluate("() => document.activeElement !== document.body")
    assert page.locator("details.folder").inner_text().endswith("No conversations in it yet.")
    # The line sits where the folder's titles would start.
    start = "el => el.getBoundingClientRect().left + parseFloat(getComputedStyle(el).paddingLeft)"
    assert page.locator("details.folder li.empty").evaluate(start) == page.locator(
        "details.folder summary"
    ).evaluate(start)
    assert page.problems == []


def test_a_conversation_written_in_moves_to_the_top_of_today(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "gardener")
    page.goto("/")
    say(page, "Old plans for the garden")
    old = page.url.rstrip("/").rsplit("/", 1)[-1]
    page.goto("/")
    say(page, "Newer thoughts on tea")
    live.query(
        "UPDATE conversations_conversation SET updated = %s WHERE id = %s",
        "2026-01-05 10:00:00",
        uuid.UUID(old),
    )
    page.goto(f"/c/{old}/")
    days = page.locator(".conversation-list h2[data-day]")
    assert days.all_text_contents()[0] == "Today" and len(days.all_text_contents()) == 2
    say(page, "And the roses?")
    # Without a reload: at the top of "Today", its old day gone with it.
    top = page.locator(".conversation-list ul[data-group=day]").first.locator("li a").first
    assert top.inner_text() == "Old plans for the garden"
    assert days.all_text_contents() == ["Today"]
    page.reload()
    assert top.inner_text() == "Old plans for the garden"  # as the server lists it
