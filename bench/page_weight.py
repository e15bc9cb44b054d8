"""Bytes and requests of a first load (empty cache) of `/` and of a conversation page,
and of a conversation of photos on a phone.

Measured in Chromium on the app as `make run` serves it (whitenoise, compressed static
files): every response's transferred size, headers included. The photos are 12-megapixel
camera JPEGs of a made-up scene (a fractal under a gradient, with a sensor's grain), four
sent in one message, shown on a 390-pixel phone.

    python bench/page_weight.py
"""

import io
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from PIL import Image  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.live import CHROMIUM, CHROMIUM_ARGS, LiveServer  # noqa: E402


def first_load(
    browser, url: str, cookies: list, device: dict | None = None
) -> tuple[int, int, list[tuple[str, int]]]:
    context = browser.new_context(**(device or {}))
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


def camera_photo(seed: int) -> bytes:
    size = (4032, 3024)
    scene = Image.effect_mandelbrot(size, (-2.2 + seed * 0.1, -1.2, 1.0, 1.2), 60)
    light = Image.linear_gradient("L").rotate(90 * seed).resize(size)
    grain = Image.effect_noise(size, 18)
    photo = Image.merge("RGB", (scene, light, Image.blend(scene, grain, 0.3)))
    out = io.BytesIO()
    photo.save(out, "JPEG", quality=92)
    return out.getvalue()


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
            # A conversation of photos.
            photos = server.new_conversation(session)
            folder = Path(tempfile.mkdtemp())
            paths = []
            for seed in range(4):
                paths.append(folder / f"IMG_{seed}.jpg")
                paths[-1].write_bytes(camera_photo(seed))
            page.goto(f"{server.url}/c/{photos}/")
            page.select_option("#model", "grok-2-vision")
            page.set_input_files("#file-input", files=[str(path) for path in paths])
            page.wait_for_function(
                "() => document.querySelectorAll('#attachments .chip[data-id]').length === 4"
            )
            page.fill("#prompt", "What are these? [sim words=20 delay=1]")
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
            phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
            total, count, loaded = first_load(browser, f"{server.url}/c/{photos}/", cookies, phone)
            images = [size for name, size in loaded if "/attachments/" in name]
            print(f"  {'4 photos, phone':18} {total / 1024:7.1f} KB in {count} requests")
            print(f"      {sum(images) / 1024:7.1f} KB  the {len(images)} images shown")
            browser.close()
    finally:
        server.stop()


if __name__ == "__main__":
    main()
