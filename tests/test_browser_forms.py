"""Every form and fetch POST of the UI, made by Chromium itself.

Django's test client sends no Origin or Referer; Chromium does, and the CSRF check reads
them. A POST that passes with the test client can answer 403 to every real person (it did:
"Continue this conversation" under `Referrer-Policy: no-referrer`). The POSTs covered in
other browser tests: /c/ (the first send), rename, delete (test_browser_ui), switch (the
arrows and "Continue from this one"), share create and revoke (test_browser_xss).
"""

from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from playwright.sync_api import expect

from tests.helpers import say, share_link, sign_up, watch
from tests.live import LiveServer

pytestmark = pytest.mark.browser

PASSWORD = "a long enough passphrase 42"


def test_continue_this_conversation_from_a_share_page(
    page: Any, live: LiveServer, browser: Any
) -> None:
    sign_up(page, live, "forkowner")
    say(page, "A shared question [sim repeat delay=1]")
    link = share_link(page)

    reader = browser.new_context(base_url=live.url).new_page()
    sign_up(reader, live, "forkreader")
    response = reader.goto(link)
    assert response.status == 200
    with reader.expect_navigation() as navigation:
        reader.click("text=Continue this conversation")
    assert navigation.value.status == 200, "the fork POST must pass the CSRF check"
    # The token still never leaves in a Referer to another site.
    assert response.headers["referrer-policy"] == "same-origin"
    reader.wait_for_url("**/c/*/")
    assert reader.locator("article.message.user .content").all_inner_texts() == [
        "A shared question [sim repeat delay=1]"
    ]
    # The copy is the reader's own: it takes a new message.
    say(reader, "and a follow-up [sim repeat delay=1]")
    assert reader.locator("article.message.assistant").count() == 2
    reader.context.close()


def test_log_out_and_log_in_again(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "returner")
    with page.expect_navigation() as navigation:
        page.click("text=Log out")
    assert navigation.value.status == 200
    assert "/accounts/login/" in page.url
    page.fill("#id_username", "returner")
    page.fill("#id_password", PASSWORD)
    with page.expect_navigation() as navigation:
        page.click("button[type=submit]")
    assert navigation.value.status == 200
    page.wait_for_url(live.url + "/")
    assert page.locator("#prompt").is_visible()


def test_a_new_chat_shows_no_header_actions_until_it_exists(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "headerless")
    for control in ("#rename", "#delete", "#share", ".header-actions"):
        assert page.locator(control).is_hidden(), f"{control} must not show on a new chat"
    say(page, "now it exists [sim words=3 delay=1]")
    for control in ("#rename", "#delete", "#share"):
        assert page.locator(control).is_visible(), f"{control} once the chat exists"
    assert page.problems == []


def test_a_double_click_on_send_makes_one_conversation(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "doubleclicker")
    page.fill("#prompt", "Only once [sim words=3 delay=1]")
    page.dblclick("#send")
    page.wait_for_selector('article.message.assistant[data-status="complete"]')
    page.reload()
    assert page.locator(".conversation-list a", has_text="Only once").count() == 1
    assert page.locator("article.message.user").count() == 1


def test_the_usage_and_shared_links_pages_fit_a_phone(phone: Any, live: LiveServer) -> None:
    sign_up(phone, live, "phoneuser")
    say(phone, "Something to share [sim words=5 delay=1]")
    share_link(phone)
    for url in ("/usage/", "/shares/"):
        phone.goto(url)
        assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390, url
        # A list's rows are cards: nothing of them needs a sideways swipe.
        for table in phone.locator("table.stack").all():
            assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1"), url
    assert phone.get_by_role("button", name="Revoke").is_visible()


def test_a_shared_link_is_copied_whole_from_the_list(page: Any, live: LiveServer) -> None:
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live.url)
    sign_up(page, live, "copier")
    say(page, "Something to share [sim words=5 delay=1]")
    link = share_link(page)
    page.goto("/shares/")
    # The row stays within the page, however its link's token falls (it has no place to
    # break unless it holds a "-").
    column = page.locator("main.page").bounding_box()
    revoke = page.get_by_role("button", name="Revoke").bounding_box()
    assert revoke["x"] + revoke["width"] <= column["x"] + column["width"] + 1
    page.get_by_role("button", name="Copy link").click()
    expect(page.get_by_role("button", name="Copied")).to_be_visible()
    assert page.evaluate("() => navigator.clipboard.readText()") == link
    assert link.startswith(live.url + "/s/")


def _shown_in(time: Any, zone: ZoneInfo) -> None:
    """A <time> the page's script rewrote: the moment's hour and day in `zone`, and in full,
    the zone named, as its title."""
    time.page.wait_for_function("time => time.title", arg=time.element_handle())
    there = datetime.fromisoformat(time.get_attribute("datetime")).astimezone(zone)
    title = time.get_attribute("title")
    assert title.startswith(f"{there:%A, %B} {there.day}, {there.year}"), title
    assert title.endswith(f":{there.minute:02d}:{there.second:02d} {there:%p} {there.tzname()}")
    words = time.inner_text()
    assert f"{there.hour % 12 or 12}:{there.minute:02d}" in words, words
    assert f"{there:%b} {there.day}, {there.year}" in words and "UTC" not in words, words


def test_times_read_in_the_reader_s_own_time_zone_and_a_key_s_last_day_in_any(
    browser: Any, live: LiveServer
) -> None:
    zone = ZoneInfo("Pacific/Honolulu")  # ten hours behind the server: another day at times
    context = browser.new_context(base_url=live.url, timezone_id=str(zone), locale="en-US")
    page = context.new_page()
    watch(page)
    sign_up(page, live, "honolulu")
    say(page, "Something to share [sim words=5 delay=1]")
    share_link(page)
    page.goto("/shares/")
    _shown_in(page.locator("td time"), zone)
    # The usage page's renewals: the server's midnight, as the reader's clock has it.
    page.goto("/usage/")
    renewals = page.locator("table.usage td time")
    assert renewals.count() == 2
    for index in range(2):
        _shown_in(renewals.nth(index), zone)
    assert "Days and months start at midnight (UTC)." in page.inner_text("main")
    # The browser told the server its zone: the server's own words are in it too (the
    # refusals of a send and the composer's allowance are written there).
    assert {"name": "tz", "value": str(zone)}.items() <= next(
        c for c in context.cookies() if c["name"] == "tz"
    ).items()
    assert "HST</time>" in page.request.get("/usage/").text()
    # A key's last use is a moment; its last day is the day chosen, in every zone.
    page.goto("/keys/")
    page.fill("#id_name", "island")
    page.fill("#id_expires", "2030-06-15")
    page.click("form[action='/keys/#create'] button[type=submit]")
    key = page.locator("#new-key").inner_text()
    models = httpx.get(f"{live.url}/v1/models", headers={"Authorization": f"Bearer {key}"})
    assert models.status_code == 200
    page.goto("/keys/")
    row = page.locator("tr.key-row", has_text="island")
    used, expires = row.locator("time").nth(0), row.locator("time").nth(1)
    _shown_in(used, zone)
    # In the narrow column its day and its time each hold together on their line.
    parts = used.locator(".nowrap")
    assert parts.count() == 2
    assert [parts.nth(i).evaluate("s => s.getClientRects().length") for i in (0, 1)] == [1, 1]
    expect(expires).to_have_text("Jun 15, 2030")
    assert expires.get_attribute("title") == "Saturday, June 15, 2030"
    assert expires.get_attribute("datetime") == "2030-06-15"
    assert page.problems == []
    context.close()
