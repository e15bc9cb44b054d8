"""The account pages' forms, posted from Chromium itself (its Origin and Referer): changing
a password (the other tabs reconnect, another browser is logged out), setting an email,
and resetting a forgotten password with the link from the mail."""

import re
import time
import uuid
from typing import Any

import pytest
from playwright.sync_api import expect

from tests.helpers import say, sign_up, watch
from tests.live import LiveServer

pytestmark = pytest.mark.browser

PASSWORD = "a long enough passphrase 42"
NEW = "a brand new passphrase 43"


def name() -> str:
    return "p" + uuid.uuid4().hex[:8]


def set_email(page: Any, email: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/")
    page.fill("#id_email", email)
    page.fill("#id_password", password)
    page.get_by_role("button", name="Save email").click()
    page.wait_for_selector("text=Saved.")
    # A confirmation that looks like one, as the other forms' do.
    saved = page.get_by_role("status").filter(has_text="Saved.")
    assert saved.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"


def mailed(live: LiveServer, pattern: str) -> str:
    """The link of the last mail that has one like `pattern`, from the server's log (the
    console mail backend writes the mails there)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        links = re.findall(pattern, live.log.read_text())
        if links:
            return links[-1]
        time.sleep(0.1)
    raise AssertionError(f"no mail with {pattern} in the log")


def log_in(page: Any, person: str, password: str = PASSWORD) -> None:
    page.goto("/accounts/login/")
    page.fill("#id_username", person)
    page.fill("#id_password", password)
    page.click("button[type=submit]")
    page.wait_for_url("**/")


def another_tab(page: Any, path: str) -> Any:
    """A second tab of the same browser (its cookies shared), on `path`, watched."""
    tab = page.context.new_page()
    watch(tab)
    tab.goto(path)
    return tab


@pytest.mark.services
def test_a_password_change_keeps_this_browser_and_logs_out_another(
    page: Any, browser: Any, live: LiveServer
) -> None:
    person = name()
    sign_up(page, live, person)
    say(page, "hello")
    chat_url = page.url
    other = browser.new_context(base_url=live.url).new_page()
    watch(other)
    log_in(other, person)
    other.goto(chat_url)
    # This browser: a second tab on the chat, and the password change in the first.
    tab = page.context.new_page()
    watch(tab)
    tab.goto(chat_url)
    tab.wait_for_selector("#composer")
    page.goto("/accounts/password/")
    page.fill("#id_old_password", PASSWORD)
    page.fill("#id_new_password1", NEW)
    page.fill("#id_new_password2", NEW)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url("**/accounts/password/done/")
    assert "Password changed" in page.content()
    # The other browser's socket was closed: its page goes to the login page, which says why.
    other.wait_for_url("**/accounts/login/**", timeout=10_000)
    assert "Your session has ended" in other.locator(".banner.notice").inner_text()
    # The tab of this browser reconnected and still chats.
    time.sleep(1)
    assert "/accounts/login/" not in tab.url
    say(tab, "still here?")
    assert page.problems == [] and tab.problems == []


@pytest.mark.services
def test_a_new_chat_sent_after_logging_out_elsewhere_goes_to_the_login_and_keeps_the_text(
    page: Any, live: LiveServer
) -> None:
    person = name()
    sign_up(page, live, person)
    tab = another_tab(page, "/")
    tab.wait_for_selector("#composer")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")
    tab.fill("#prompt", "typed before I knew")
    tab.press("#prompt", "Enter")
    # Not a conversation without an id and a socket retried forever: the login page.
    tab.wait_for_url("**/accounts/login/**", timeout=10_000)
    tab.fill("#id_username", person)
    tab.fill("#id_password", PASSWORD)
    tab.click("button[type=submit]")
    tab.wait_for_url(f"{live.url}/")
    assert tab.input_value("#prompt") == "typed before I knew"
    assert tab.locator("article.message").count() == 0
    # Chromium notes the one refused request; nothing else went wrong.
    assert page.problems == []
    assert [p for p in tab.problems if "status of 401" not in p] == []


def test_a_page_opened_before_logging_in_again_elsewhere_says_to_reload_and_keeps_the_text(
    page: Any, live: LiveServer
) -> None:
    """A login renews the CSRF token: a page opened before it, in another tab, is refused in
    words (it might be another person's), not with Django's 403 page. The chat keeps what was
    typed and sends once reloaded; a form's page is gone back to and sent again; a login page
    left open goes where it was going, this browser being in already."""
    person = name()
    sign_up(page, live, person)
    chat = another_tab(page, "/")
    chat.wait_for_selector("#composer")
    account = another_tab(page, "/accounts/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/**")
    login = another_tab(page, "/accounts/login/?next=/accounts/")
    log_in(page, person)
    chat.fill("#prompt", "Sent from the older tab")
    chat.press("#prompt", "Enter")
    expect(chat.locator("#error")).to_contain_text(
        "This page is out of date: you have logged in or out since it was opened"
    )
    expect(chat.locator("#prompt")).to_have_value("Sent from the older tab")
    chat.reload()
    say(chat, "Sent from the older tab")
    expect(chat.locator("article.message.user .content")).to_have_text("Sent from the older tab")
    account.fill("#id_email", "older@example.com")
    account.fill("#id_password", PASSWORD)
    account.get_by_role("button", name="Save email").click()
    expect(account.get_by_role("alert")).to_have_text(
        "This page was out of date: you have logged in or out since it was opened, in another "
        "tab perhaps. Go back to it and send it again."
    )
    account.get_by_role("link", name="Back to the page").click()
    account.wait_for_url(f"{live.url}/accounts/")
    set_email(account, "older@example.com")
    login.fill("#id_username", person)
    login.fill("#id_password", PASSWORD)
    login.click("button[type=submit]")
    login.wait_for_url(f"{live.url}/accounts/")
    assert page.problems == [] and login.problems == []
    for tab in (chat, account):
        assert [p for p in tab.problems if "status of 403" not in p] == []


def test_a_first_message_sent_after_the_site_s_cookies_were_cleared_says_so(
    page: Any, live: LiveServer
) -> None:
    """Its conversation refused by the CSRF check, the page says what the server said, and
    the message stays in the box."""
    sign_up(page, live, name())
    page.context.clear_cookies()
    page.fill("#prompt", "Keep me")
    page.press("#prompt", "Enter")
    expect(page.locator("#error")).to_contain_text(
        "Your browser did not send this site's cookies (blocked or cleared)"
    )
    expect(page.locator("#prompt")).to_have_value("Keep me")
    assert [p for p in page.problems if "status of 403" not in p] == []


def test_logging_out_says_so_once(page: Any, live: LiveServer) -> None:
    sign_up(page, live, name())
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")
    expect(page.get_by_role("status").filter(has_text="You have logged out.")).to_be_visible()
    page.reload()
    expect(page.get_by_text("You have logged out.")).to_have_count(0)
    assert page.problems == []


def test_a_forgotten_password_is_reset_with_the_mailed_link(page: Any, live: LiveServer) -> None:
    person = name()
    sign_up(page, live, person)
    set_email(page, f"{person}@example.org")
    page.goto("/accounts/")
    page.get_by_role("button", name="Log out").click()
    page.wait_for_url("**/accounts/login/")
    page.get_by_role("link", name="Forgot your password?").click()
    page.fill("#id_email", f"{person}@example.org")
    page.get_by_role("button", name="Send me a link").click()
    page.wait_for_url("**/accounts/password/reset/sent/")
    page.goto(mailed(live, r"(/accounts/password/reset/[\w-]+/[\w-]+/)"))
    page.fill("#id_new_password1", NEW)
    page.fill("#id_new_password2", NEW)
    page.get_by_role("button", name="Set password").click()
    page.wait_for_url("**/accounts/password/reset/done/")
    log_in(page, person, NEW)
    assert page.problems == []


def test_a_tab_past_the_cap_says_so_and_keeps_what_is_typed(page: Any, live: LiveServer) -> None:
    sign_up(page, live, name())
    say(page, "hello")
    url = page.url
    tabs = []
    for _ in range(7):  # with the first page, 8: the cap of one conversation
        tab = page.context.new_page()
        tab.goto(url)
        tab.wait_for_selector("#composer")
        tabs.append(tab)
    extra = page.context.new_page()
    watch(extra)
    extra.goto(url)
    banner = extra.locator("#error")
    # On a busy machine the refusal can come as a lost connection first (the browser late
    # to answer the close): the page tries again and is refused again, this time in words.
    expect(banner).to_contain_text("Too many tabs", timeout=15000)
    assert banner.is_visible() and banner.bounding_box()["y"] < 844  # not below the fold
    extra.fill("#prompt", "will this be lost?")
    extra.press("#prompt", "Enter")
    assert extra.input_value("#prompt") == "will this be lost?"
    assert extra.locator("#send").is_disabled()
    # The account page is one click from the chat.
    page.get_by_role("link", name=re.compile("^p")).first.click()
    page.wait_for_url("**/accounts/")


def test_a_missing_page_is_the_sites_own(page: Any) -> None:
    response = page.goto("/s/no-such-link/")
    assert response.status == 404
    assert "Not found" in page.inner_text("h1")
    assert page.get_by_role("link", name="Back to webchat").is_visible()


def test_where_addresses_are_confirmed_a_signup_and_a_new_address_wait_for_their_links(
    browser: Any, tmp_path_factory: pytest.TempPathFactory
) -> None:
    """Both links' buttons posted from Chromium, on a server with SIGNUP_VERIFY_EMAIL."""
    from tests.conftest import serving

    # The settings as deployed, their password hasher included (other live servers hash
    # passwords faster: tests/live_settings.py).
    with serving(
        tmp_path_factory.mktemp("verify"),
        SIGNUP_VERIFY_EMAIL="1",
        DJANGO_SETTINGS_MODULE="webchat.settings",
    ) as live:
        context = browser.new_context(base_url=live.url)
        page = context.new_page()
        watch(page)
        person = name()
        page.goto("/accounts/signup/")
        page.fill("#id_username", person)
        page.fill("#id_email", f"{person}@example.org")
        page.fill("#id_password1", PASSWORD)
        page.fill("#id_password2", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Check your email")
        page.goto(mailed(live, r"(/accounts/verify/[\w-]+/[\w-]+/)"))
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_selector("text=Your account is open")
        log_in(page, person)

        page.goto("/accounts/")
        page.fill("#id_email", f"{person}@example.net")
        page.fill("#id_password", PASSWORD)
        page.get_by_role("button", name="Save email").click()
        page.wait_for_selector(f"text=We sent a link to {person}@example.net")
        assert page.input_value("#id_email") == f"{person}@example.org"  # until it is opened
        page.goto(mailed(live, r"(/accounts/email/[\w:.-]+/)"))
        page.get_by_role("button", name="Confirm").click()
        page.wait_for_selector(f"text=is now {person}@example.net")
        page.get_by_role("link", name="Back to your account").click()
        assert page.input_value("#id_email") == f"{person}@example.net"
        assert page.problems == []
        context.close()
