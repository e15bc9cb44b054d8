"""The admin in Chromium, as an operator meets it on a laptop and on a phone."""

from typing import Any

import pytest

from tests.helpers import say, sign_up
from tests.live import LiveServer

pytestmark = pytest.mark.browser

# How far a page, and each change list's own box, is wider than what shows of it.
OVERFLOW = """() => {
  const page = document.documentElement.scrollWidth - document.documentElement.clientWidth;
  const lists = [...document.querySelectorAll('#changelist .results')]
    .map(r => r.scrollWidth - r.clientWidth);
  return [page, ...lists];
}"""

# The words of a change list's cells broken across lines ("Statu" / "s"), where no space or
# hyphen allows it.
BROKEN_WORDS = """() => {
  const broken = [];
  const cells = document.querySelectorAll('#result_list th, #result_list td');
  for (const cell of cells) {
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      for (const match of node.data.matchAll(/[^\\s-]+/g)) {
        const range = document.createRange();
        range.setStart(node, match.index);
        range.setEnd(node, match.index + match[0].length);
        const lines = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
        if (lines.size > 1) broken.push(match[0]);
      }
    }
  }
  return broken;
}"""


def test_the_admin_lists_fit_a_laptop_and_the_dashboard_a_phone(
    page: Any, browser: Any, live: LiveServer
) -> None:
    sign_up(page, live, "operator1")
    say(page, "hello [sim words=3]")  # a row in the ledger
    say(page, "and a failure [sim words=30 delay=1 fault=drop]")  # one with an error code
    # A file with a long name, as people's files have.
    name = "quarterly-report-of-the-regional-sales-team-with-all-appendices-final-v2.txt"
    page.set_input_files(
        "#file-input", files=[{"name": name, "mimeType": "text/plain", "buffer": b"numbers"}]
    )
    page.wait_for_selector("#attachments .chip[data-id]:not(.uploading)")
    say(page, "read this [sim words=3]")
    live.query(
        "UPDATE webchat_user SET is_staff = true, is_superuser = true WHERE username = %s",
        "operator1",
    )
    page.set_viewport_size({"width": 1280, "height": 800})
    for url in (
        "/admin/webchat/chatmodel/",
        "/admin/webchat/plan/",
        "/admin/webchat/usagerecord/",
        "/admin/webchat/user/",
        "/admin/conversations/message/",
        "/admin/conversations/attachment/",
        "/admin/api/apikey/",
    ):
        page.goto(url)
        assert all(o <= 0 for o in page.evaluate(OVERFLOW)), (url, page.evaluate(OVERFLOW))
        assert page.evaluate(BROKEN_WORDS) == [], url
    page.goto("/admin/webchat/chatmodel/")
    assert "3 / 15" in page.locator("#result_list").inner_text()  # grok-3's prices
    # A number field shows its number whole (a context window of 2,000,000).
    page.get_by_role("link", name="grok-4-1-fast", exact=True).click()
    field = page.locator("#id_context_window")
    assert field.input_value() == "2000000"
    assert field.evaluate("e => e.scrollWidth <= e.clientWidth")
    phone = browser.new_context(
        base_url=live.url, viewport={"width": 360, "height": 740}, is_mobile=True
    )
    phone.add_cookies(page.context.cookies())
    small = phone.new_page()
    # A list too wide for a phone scrolls in its own box, its words whole (not a letter a
    # line), the page itself not wider than the screen.
    for url in ("/admin/webchat/usagerecord/", "/admin/webchat/user/", "/admin/webchat/chatmodel/"):
        small.goto(url)
        assert small.evaluate(BROKEN_WORDS) == [], url
        assert small.evaluate(OVERFLOW)[0] <= 0, url
    # The dashboard is one click from the admin's home.
    small.goto("/admin/")
    small.get_by_role("link", name="Usage dashboard").click()
    small.wait_for_url("**/admin/webchat/usagerecord/dashboard/")
    assert small.evaluate(OVERFLOW)[0] <= 0  # its tables scroll by themselves
    # No table needs a scroll: each figure under or beside its name, the cost in view.
    for table in small.locator(".usage-dashboard table").all():
        assert table.evaluate("t => t.scrollWidth <= t.clientWidth")
    totals = small.locator("table.totals")
    cost = totals.locator("td").nth(4)
    assert cost.evaluate("td => getComputedStyle(td, '::before').content") == '"Cost"'
    box = cost.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    for cell in small.locator("table.stacked td").all():
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 360
    # A model's name in a chart's legend is not broken at its hyphens.
    for item in small.locator(".legend-item").all():
        assert item.evaluate("i => i.getClientRects().length") == 1
    # Its charts' words stay readable (they were 5 px), the latest days in view first.
    chart = small.locator(".usage-chart svg[role=img]").first
    sizes = chart.evaluate(
        "c => [...c.querySelectorAll('text')].map(t => t.getBoundingClientRect().height)"
    )
    assert min(sizes) >= 9, sizes
    latest = chart.locator("rect").last.bounding_box()
    assert latest["x"] >= 0 and latest["x"] + latest["width"] <= 360
    phone.close()
    assert page.problems == []
