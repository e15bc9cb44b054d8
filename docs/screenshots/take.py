"""Screenshots for the README: `make screenshots` (needs Debian's chromium), or some of
them: `python docs/screenshots/take.py math context`."""

import io
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent.parent))

from PIL import Image, ImageDraw  # noqa: E402
from playwright.sync_api import sync_playwright  # noqa: E402

from tests.live import CHROMIUM, CHROMIUM_ARGS, LiveServer  # noqa: E402
from tests.samples import pdf  # noqa: E402


def main() -> None:
    server = LiveServer(Path(tempfile.mkdtemp()))
    server.start()
    try:
        session = server.sign_up("ada")
        cookies = [{"name": "sessionid", "value": session, "url": server.url}]
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(
                base_url=server.url, viewport={"width": 1280, "height": 820}
            ).new_page()
            page.context.add_cookies(cookies)
            only = sys.argv[1:]
            if only:
                for name in only:
                    if name == "context":
                        context(page, server)
                    elif name == "languages":
                        languages(browser, server)
                    else:
                        {"math": math, "attachments": attachments}[name](page)
                return
            page.goto("/")
            for prompt in (
                "How do I greet someone in Python? Show me the code. [sim words=45 delay=2]",
                "And what should I measure first? [sim words=70 delay=2]",
            ):
                page.fill("#prompt", prompt)
                page.press("#prompt", "Enter")
                page.wait_for_function(
                    "() => !document.querySelector('[data-status=\"streaming\"]') && "
                    "document.querySelectorAll('article.message.assistant').length > 0"
                )
                time.sleep(0.3)
            page.locator("article.message.assistant").last.locator(".regenerate").click()
            time.sleep(2)  # the new version is written, its arrows already there
            page.locator("article.message.assistant").last.hover()
            page.screenshot(path=str(HERE / "light.png"))
            page.evaluate("() => { localStorage.setItem('theme', 'dark'); }")
            page.reload()
            page.screenshot(path=str(HERE / "dark.png"))
            page.fill("#prompt", "Tell me a longer story, slowly. [sim words=300 delay=60]")
            page.press("#prompt", "Enter")
            time.sleep(3)
            page.screenshot(path=str(HERE / "streaming.png"))
            page.keyboard.press("Escape")
            time.sleep(0.5)
            page.keyboard.press("Control+k")
            page.keyboard.type("measure")
            page.locator("#search-results li[role=option]").first.wait_for()
            time.sleep(0.3)
            page.screenshot(path=str(HERE / "search.png"))
            page.keyboard.press("Escape")
            page.evaluate("() => { localStorage.removeItem('theme'); }")
            page.goto("/")
            page.select_option("#model", "grok-3-mini")
            page.fill("#prompt", "Why is the sky blue? [sim words=40 delay=120]")
            page.press("#prompt", "Enter")
            page.wait_for_function(
                "() => /Thinking… [2-9]/.test(document.querySelector('details.reasoning summary')"
                "?.textContent || '')"
            )
            page.click("details.reasoning summary")
            page.screenshot(path=str(HERE / "thinking.png"))
            phone = browser.new_context(
                base_url=server.url, viewport={"width": 390, "height": 844}, is_mobile=True
            ).new_page()
            phone.context.add_cookies(cookies)
            phone.goto(page.url)
            phone.wait_for_function("() => !document.querySelector('[data-status=\"streaming\"]')")
            phone.screenshot(path=str(HERE / "phone.png"))
            phone.click("#menu-button")
            time.sleep(0.4)
            phone.screenshot(path=str(HERE / "phone-drawer.png"))
            attachments(page)
            math(page)
            context(page, server)
            languages(browser, server)
            browser.close()
    finally:
        server.stop()


def chart() -> bytes:
    """A bar chart, as a person might ask about one."""
    image = Image.new("RGB", (640, 400), "white")
    draw = ImageDraw.Draw(image)
    draw.line([(60, 30), (60, 350), (610, 350)], fill="#444", width=2)
    for i, (height, color) in enumerate(
        [(120, "#1a62d6"), (200, "#1a62d6"), (170, "#1a62d6"), (280, "#e5533d")]
    ):
        left = 100 + i * 125
        draw.rectangle([left, 350 - height, left + 80, 349], fill=color)
        draw.text((left + 25, 360), f"Q{i + 1}", fill="#222")
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def attachments(page: Any) -> None:
    page.goto("/")
    page.select_option("#model", "grok-2-vision")
    files = [
        {"name": "sales-by-quarter.png", "mimeType": "image/png", "buffer": chart()},
        {
            "name": "notes.md",
            "mimeType": "text/markdown",
            "buffer": b"# Q4\nThe spike is the launch.",
        },
    ]
    page.set_input_files("#file-input", files=files)
    page.wait_for_function(
        "() => document.querySelectorAll('#attachments .chip[data-id]').length === 2"
    )
    page.fill("#prompt", "Why does Q4 stand out in this chart? [sim words=60 delay=2]")
    page.press("#prompt", "Enter")
    page.wait_for_function(
        "() => !document.querySelector('[data-status=\"streaming\"]') && "
        "document.querySelectorAll('article.message.assistant').length > 0"
    )
    page.set_input_files(
        "#file-input",
        files=[{"name": "report.pdf", "mimeType": "application/pdf", "buffer": pdf()}],
    )
    page.wait_for_function(
        "() => document.querySelectorAll('#attachments .chip[data-id]').length === 1"
    )
    page.fill("#prompt", "And how does it compare with this report?")
    time.sleep(0.3)
    page.screenshot(path=str(HERE / "attachments.png"))


MATH = r"""The **Gaussian integral**, solved with a trick of Poisson's:

$$\int_{-\infty}^{\infty} e^{-x^2}\,dx = \sqrt{\pi}$$

Square it, \(I^2 = \iint e^{-(x^2+y^2)}\,dx\,dy\), and switch to polar coordinates:

\[I^2 = \int_0^{2\pi}\!\int_0^{\infty} e^{-r^2}\, r\,dr\,d\theta = \pi\]

- [x] a rotation keeps areas: $\det R_\theta = \cos^2\theta + \sin^2\theta = 1$
- [ ] the same for $\sum_{n=1}^{\infty} \frac{1}{n^2} = \frac{\pi^2}{6}$ next time"""


def math(page: Any) -> None:
    page.goto("/")
    page.fill("#prompt", f"[sim repeat delay=2] {MATH}")
    page.press("#prompt", "Enter")
    page.wait_for_function(
        "() => !document.querySelector('[data-status=\"streaming\"]') && "
        "document.querySelectorAll('article.message.assistant math').length > 3"
    )
    time.sleep(0.3)
    page.screenshot(path=str(HERE / "math.png"))


def context(page: Any, server: LiveServer) -> None:
    """A long conversation on a model of a small window: the marker and the gauge."""
    page.goto("/settings/")
    page.select_option("#id_default_model", "grok-3")
    page.fill("#id_default_max_tokens", "200")
    page.click("#defaults button[type=submit]")
    server.query("UPDATE webchat_chatmodel SET context_window = 900 WHERE slug = 'grok-3'")
    page.goto("/")
    for i, topic in enumerate(["tides", "eclipses", "seasons", "auroras", "comets", "meteors"]):
        page.fill("#prompt", f"Tell me about {topic}. [sim words=60 delay=1 context=1200]")
        page.press("#prompt", "Enter")
        page.wait_for_function(
            "n => document.querySelectorAll('article.message.assistant').length === n && "
            "!document.querySelector('[data-status=\"streaming\"]')",
            arg=i + 1,
        )
    page.fill("#prompt", "And which of them can I see tonight?")
    page.locator("#thread .context-marker").wait_for()
    page.locator("#thread .context-marker").scroll_into_view_if_needed()
    time.sleep(0.3)
    page.screenshot(path=str(HERE / "context.png"))


def languages(browser: Any, server: LiveServer) -> None:
    """The interface in Chinese, and in Arabic right to left (on a phone too)."""
    for locale, name, prompt in (
        ("zh-CN", "zh", "用三句话解释光合作用。 [sim words=50 delay=2]"),
        ("ar-EG", "ar", "اشرح لي التمثيل الضوئي في ثلاث جمل. [sim words=50 delay=2]"),
    ):
        session = server.sign_up(f"reader-{name}")
        cookies = [{"name": "sessionid", "value": session, "url": server.url}]
        for suffix, size in (("", {"width": 1280, "height": 820}), ("-phone", None)):
            if suffix and name != "ar":
                continue
            phone = {"viewport": {"width": 390, "height": 844}, "is_mobile": True}
            options = {"viewport": size} if size else phone
            page = browser.new_context(base_url=server.url, locale=locale, **options).new_page()
            page.context.add_cookies(cookies)
            page.goto("/")
            if not suffix:
                page.fill("#prompt", prompt)
                page.press("#prompt", "Enter")
                page.wait_for_function(
                    "() => !document.querySelector('[data-status=\"streaming\"]') && "
                    "document.querySelectorAll('article.message.assistant').length > 0"
                )
            else:  # the conversation, then its drawer (it comes from the right)
                page.click("#menu-button")
                page.locator(".conversation-list a").first.click()
                page.wait_for_url("**/c/**")
                page.click("#menu-button")
            time.sleep(0.5)
            page.screenshot(path=str(HERE / f"{name}{suffix}.png"))
            page.context.close()


if __name__ == "__main__":
    main()
