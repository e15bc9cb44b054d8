"""The Keys page in Chromium: a key made by the browser's own form works for a program,
is shown once, and revoked from the page it stops working. On a phone too."""

from typing import Any

import httpx
import pytest

from tests.helpers import sign_up
from tests.live import LiveServer

pytestmark = pytest.mark.browser


# The element is wholly within the window, as scrolled.
IN_VIEW = (
    "e => { const r = e.getBoundingClientRect(); return r.top >= 0 && r.bottom <= innerHeight; }"
)
# The page was opened at the new key's section (the form it was sent from is #create).
AT_THE_KEY = "() => location.hash === '#new'"


def _models(live: LiveServer, key: str) -> httpx.Response:
    return httpx.get(f"{live.url}/v1/models", headers={"Authorization": f"Bearer {key}"})


@pytest.mark.services
def test_a_key_made_in_the_browser_calls_the_api_until_revoked(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "keymaker")
    page.click("#sidebar a[href='/keys/']")
    page.fill("#id_name", "my script")
    page.check("input[name=allowed_models][value=grok-3]")
    page.fill("#id_tokens_per_month", "50000")
    page.click("form[action='/keys/#create'] button[type=submit]")
    key = page.locator("#new-key").inner_text()
    assert key.startswith("wc-") and len(key) == 59
    # The page opens at the key, shown this once, not at the form below it.
    assert page.evaluate(AT_THE_KEY) and page.locator("#new-key").evaluate(IN_VIEW)
    # A Copy button on it, and an example with the key and a model the key may use.
    assert page.locator(".new-key .code-bar .copy-code").count() == 2
    example = page.locator(".new-key code.language-sh").inner_text()
    assert f"export WEBCHAT_API_KEY={key}" in example and '"model": "grok-3"' in example
    row = page.locator("tr.key-row", has_text="my script")
    assert "Active" in row.inner_text() and key not in row.inner_text()
    # A program uses it: the models the key may use, and a completion.
    assert [m["id"] for m in _models(live, key).json()["data"]] == ["grok-3"]
    answer = httpx.post(
        f"{live.url}/v1/chat/completions",
        headers={"Authorization": f"Bearer {key}"},
        json={"model": "grok-3", "messages": [{"role": "user", "content": "[sim words=4] hi"}]},
    )
    assert answer.status_code == 200, answer.text
    # Shown once: not after a reload.
    page.reload()
    assert page.locator("#new-key").count() == 0
    assert "1 call (" in page.locator("tr.key-row", has_text="my script").inner_text()
    # Revoked from the page, after its own confirmation.
    page.accept_confirm = True
    page.locator("tr.key-row", has_text="my script").locator("button", has_text="Revoke").click()
    dialog = page.locator("dialog[open]")
    if dialog.count():
        dialog.locator("button", has_text="Revoke").click()
    page.wait_for_selector("text=Key “my script” revoked.")
    assert "Revoked" in page.locator("tr.key-row", has_text="my script").inner_text()
    assert _models(live, key).status_code == 401
    # The usage page names the key.
    page.goto("/usage/")
    assert "Key “my script”" in page.locator("table.per-key").inner_text()
    assert page.problems == []


def test_the_keys_page_refuses_a_day_gone_by_and_fits_a_phone(phone: Any, live: LiveServer) -> None:
    sign_up(phone, live, "phonekeys")
    phone.goto("/keys/")
    phone.fill("#id_name", "yesterday")
    phone.fill("#id_expires", "2001-01-01")
    phone.click("form[action='/keys/#create'] button[type=submit]")
    assert "Choose a day from today on." in phone.locator(".form-error").first.inner_text()
    phone.fill("#id_expires", "")
    phone.click("form[action='/keys/#create'] button[type=submit]")
    assert phone.locator("#new-key").inner_text().startswith("wc-")
    assert phone.evaluate(AT_THE_KEY) and phone.locator("#new-key").evaluate(IN_VIEW)
    overflow = phone.evaluate(
        "document.documentElement.scrollWidth - document.documentElement.clientWidth"
    )
    assert overflow <= 0
    # On a small phone a model's long name wraps beside its box, which keeps its size.
    phone.set_viewport_size({"width": 360, "height": 780})
    boxes = phone.locator("#id_allowed_models input").evaluate_all(
        "inputs => inputs.map(i => Math.round(i.getBoundingClientRect().width))"
    )
    assert len(set(boxes)) == 1, boxes
    # The refused form answers 400, which Chromium logs; nothing else went wrong.
    assert [p for p in phone.problems if "status of 400" not in p] == []
