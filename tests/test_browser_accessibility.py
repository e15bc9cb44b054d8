"""An axe-core scan (vendored, tests/vendor/) of the pages people use: no serious or
critical violation of WCAG 2.1 A/AA, in the light and the dark theme, on a desktop and a
phone screen."""

import hashlib
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import say, share_link, sign_up, watch
from tests.live import LiveServer

pytestmark = pytest.mark.browser


AXE = Path(__file__).parent / "vendor" / "axe-core-4.14.1.min.js"
AXE_SHA256 = "29348999450cdf2849a8e70b7912fc2da85a849da39c0d0d5394f51d4a9ed95c"
RUN = """async () => {
  const result = await axe.run(document, {
    runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] },
  });
  return result.violations
    .filter((v) => v.impact === "serious" || v.impact === "critical")
    .map((v) => `${v.id}: ${v.help} — ${v.nodes.slice(0, 3).map((n) => n.target.join(" ")).join(" | ")}`);
}"""


def violations(page: Any) -> list[str]:
    # Evaluated through the DevTools protocol, so the page's CSP (script-src 'self') does
    # not stop it, and nothing in the app has to allow it.
    source = AXE.read_text()
    assert hashlib.sha256(source.encode()).hexdigest() == AXE_SHA256
    page.evaluate(source)
    return page.evaluate(RUN)


def scan(page: Any, paths: list[str]) -> list[str]:
    """Each violation as "page (theme) rule: help — where"."""
    found = []
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("load")
        for theme in ("light", "dark"):
            page.evaluate(
                f"() => {{ localStorage.setItem('theme', '{theme}'); window.webchatApplyTheme(); }}"
            )
            found += [f"{path} ({theme}) {v}" for v in violations(page)]
    page.evaluate("() => localStorage.removeItem('theme')")
    return found


def test_the_pages_people_use_pass_an_axe_scan(page: Any, browser: Any, live: LiveServer) -> None:
    sign_up(page, live, "axeuser")
    say(page, "Some code and a table please [sim words=30 delay=0]")
    page.locator("article.message.assistant .regenerate").click()
    page.wait_for_function("() => !document.querySelector('[data-status=\"streaming\"]')")
    chat = page.url
    share = share_link(page)
    pages = [chat, "/", share, "/accounts/", "/usage/", "/shares/", "/keys/", "/settings/"]
    pages += ["/search/?q=code"]
    found = scan(page, pages)
    assert found == [], "\n".join(found)
    # The open dialogs and menus, too.
    page.goto(chat)
    page.keyboard.press("Control+k")
    page.keyboard.type("code")
    page.locator("#search-results li[role=option]").first.wait_for()
    assert violations(page) == []
    page.keyboard.press("Escape")
    page.click("#delete")
    assert violations(page) == []

    visitor = browser.new_context(base_url=live.url).new_page()
    watch(visitor)
    found = scan(visitor, ["/accounts/login/", "/accounts/signup/", share])
    assert found == [], "\n".join(found)


def test_the_phone_layout_passes_an_axe_scan(phone: Any, live: LiveServer) -> None:
    sign_up(phone, live, "axephone")
    say(phone, "Hello there [sim words=20 delay=0]")
    found = scan(phone, [phone.url])
    assert found == [], "\n".join(found)
    phone.click("#menu-button")
    assert violations(phone) == []
    phone.keyboard.press("Escape")
    phone.click("#actions-button")
    assert violations(phone) == []
