"""Bytes and requests of a first load (empty cache) of `/` and of a conversation page.

Measured in Chromium on the app as `make run` serves it (whitenoise, compressed static
files): every response's transferred size, headers included.

    python bench/page_weight.py
"""

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from tests.live import CHROMIUM, CHROMIUM_ARGS, LiveServer  # noqa: E402


def first_load(browser, url: str, cookies: list) -> tuple[int, int, list[tuple[str, int]]]:
    context = browser.new_context()
    context.add_cookies(cookies)
    page = context.new_page()
    loaded: list[tuple[str, int]] = []

    def finished(request) -> None:
        sizes = request.sizes()
        loaded.append((request.url, sizes["responseBodySize"] + sizes["responseHeadersSize"]))

    page.on("requestfinished", finished)
    page.goto(url, wait_until="networkidle")
    context.close()
    return sum(size for _, size in loaded), len(loaded), loaded


def main() -> None:
    server = LiveServer(Path(tempfile.mkdtemp()))
    server.start()
    try:
        session = server.sign_up("weigher")
        conversation = server.new_conversation(session)
        cookies = [{"name": "sessionid", "value": session, "url": server.url}]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            # A conversation with some text to show.
            page = browser.new_context().new_page()
            page.context.add_cookies(cookies)
            page.goto(f"{server.url}/c/{conversation}/")
            page.fill("#prompt", "A first question with some code [sim words=200 delay=1]")
            page.press("#prompt", "Enter")
            page.wait_for_selector('article.message.assistant[data-status="complete"]')
            page.context.close()
            print("first load, empty cache (bytes transferred, headers included)")
            for label, url in (
                ("/", f"{server.url}/"),
                ("conversation page", f"{server.url}/c/{conversation}/"),
            ):
                total, count, loaded = first_load(browser, url, cookies)
                print(f"  {label:18} {total / 1024:7.1f} KB in {count} requests")
                for name, size in sorted(loaded, key=lambda item: -item[1]):
                    print(f"      {size / 1024:7.1f} KB  {name.replace(server.url, '')}")
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
