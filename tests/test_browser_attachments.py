"""Attachments as a person uses them in headless Chromium: picked, pasted and dropped;
thumbnails and progress; the warning for a model that cannot read images; the image in the
thread after a reload, on the share page and on a phone, shown by its preview."""

import base64
import re
import uuid
from typing import Any
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import expect

from tests import samples
from tests.helpers import eventually, share_link, sign_up, watch
from tests.live import LiveServer

pytestmark = pytest.mark.browser

FINISHED = (
    "n => document.querySelectorAll('article.message.assistant').length >= (n || 1) && "
    "!document.querySelector('article.message.assistant[data-status=\"streaming\"]')"
)
# Every image in the thread has loaded (its pixels arrived through the access checks).
IMAGES_LOADED = (
    "() => [...document.querySelectorAll('.attachments img')].length > 0 && "
    "[...document.querySelectorAll('.attachments img')].every(i => i.complete && i.naturalWidth > 0)"
)


def pick(page: Any, name: str, data: bytes, mime: str, selector: str = "#file-input") -> None:
    page.set_input_files(selector, files=[{"name": name, "mimeType": mime, "buffer": data}])


def transfer(page: Any, name: str, data: bytes, mime: str) -> Any:
    """A DataTransfer holding one file, made in the page (as a paste or a drop carries it)."""
    return page.evaluate_handle(
        """([name, b64, mime]) => {
            const bytes = Uint8Array.from(atob(b64), c => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], name, { type: mime }));
            return transfer;
        }""",
        [name, base64.b64encode(data).decode(), mime],
    )


def chips_done(page: Any, count: int) -> None:
    page.wait_for_function(
        "n => document.querySelectorAll('#attachments .chip[data-id]').length === n && "
        "!document.querySelector('#attachments .chip.uploading')",
        arg=count,
    )


def send_image(page: Any, name: str, data: bytes, mime: str, selector: str = "#file-input") -> None:
    """A message of one image sent to a model that reads images: its reply ended, the image
    shown in the thread."""
    page.select_option("#model", "grok-2-vision")
    pick(page, name, data, mime, selector)
    chips_done(page, 1)
    page.fill("#prompt", "What is this? [sim words=3 delay=1]")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    page.wait_for_function(IMAGES_LOADED)


def pick_held(page: Any, name: str, data: bytes, mime: str) -> Any:
    """A file picked with its upload held (a slow network): the held request, to
    `continue_()`; later uploads are held too, until `page.unroute("**/attachments/")`."""
    held: list[Any] = []
    page.route("**/attachments/", lambda route: held.append(route))
    pick(page, name, data, mime)
    while not held:
        page.wait_for_timeout(20)
    return held[0]


def test_files_picked_pasted_and_dropped_are_uploaded_shown_and_sent(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "attacher")
    page.select_option("#model", "grok-2-vision")
    # Held uploads: the chip shows its thumbnail and a progress bar until the server answers.
    held: list[Any] = []
    page.route("**/attachments/", lambda route: held.append(route))
    pick(page, "holiday.jpg", samples.photo(800, 600), "image/jpeg")
    chip = page.locator("#attachments .chip").first
    chip.locator("progress").wait_for()
    assert chip.get_attribute("class") == "chip uploading"
    assert chip.locator("img.thumb").get_attribute("src").startswith("blob:")
    assert chip.locator(".chip-name").inner_text() == "holiday.jpg"
    page.wait_for_function("() => document.querySelectorAll('#attachments .chip').length === 1")
    while not held:
        page.wait_for_timeout(20)
    held.pop().continue_()
    page.unroute("**/attachments/")
    chips_done(page, 1)
    # Pasted: a screenshot from the clipboard.
    pasted = transfer(page, "screenshot.png", samples.image("PNG", 300, 200), "image/png")
    page.evaluate(
        """transfer => document.getElementById('prompt').dispatchEvent(new ClipboardEvent(
            'paste', { clipboardData: transfer, bubbles: true, cancelable: true }))""",
        pasted,
    )
    chips_done(page, 2)
    # Uploaded, its chip names it as it is kept: a screenshot stays a PNG.
    assert page.locator("#attachments .chip-name").nth(1).inner_text() == "screenshot.png"
    # Dropped: the drop zone shows while a file is dragged over the chat, then a text file.
    notes = transfer(page, "notes.md", b"# Notes\nBring a towel.", "text/markdown")
    page.dispatch_event("#thread", "dragenter", {"dataTransfer": notes})
    assert page.locator("#drop-zone").is_visible()
    page.dispatch_event("#thread", "drop", {"dataTransfer": notes})
    assert page.locator("#drop-zone").is_hidden()
    chips_done(page, 3)
    assert page.locator("#attachments .chip .chip-size").all_inner_texts()[2] == "22 bytes"

    page.fill("#prompt", "What are these? [sim words=4 delay=1]")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    assert page.locator("#attachments").is_hidden()
    sent = page.locator("article.message.user").last
    assert sent.locator(".attachments img").count() == 2
    assert sent.locator(".attachment.file .file-name").inner_text() == "notes.md"
    reply = page.locator("article.message.assistant .content").last.inner_text()
    assert reply.startswith("I see 2 images: JPEG 800x600"), reply
    assert "PNG 300x200" in reply  # a screenshot is kept as PNG
    page.wait_for_function(IMAGES_LOADED)

    # After a reload the thread shows them again; a click shows an image whole.
    page.reload()
    page.wait_for_function(IMAGES_LOADED)
    assert page.locator("article.message.user .attachments img").count() == 2
    page.locator("article.message.user .attachments a.image").first.click()
    viewer = page.locator("dialog.image-viewer[open] img:not(.preview)")  # the whole image
    viewer.wait_for()
    assert viewer.evaluate("i => i.naturalWidth") == 800
    assert (
        page.locator("dialog.image-viewer .viewer-caption").inner_text().startswith("holiday.jpg")
    )
    # The image in the middle of its caption's strip; Download whole on one line.
    centres = page.evaluate(
        """() => [...document.querySelectorAll('dialog.image-viewer img, .viewer-caption')]
             .map(e => { const r = e.getBoundingClientRect(); return r.left + r.width / 2; })"""
    )
    assert abs(centres[0] - centres[1]) < 2, centres
    download = page.locator(".viewer-caption a")
    assert download.evaluate("a => a.getClientRects().length") == 1
    page.keyboard.press("Escape")
    page.locator("dialog.image-viewer").wait_for(state="detached")
    assert not page.problems, page.problems


def test_a_model_that_cannot_read_images_is_named_before_sending(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "novision")
    page.select_option("#model", "grok-3")
    pick(page, "chart.png", samples.image("PNG", 120, 80), "image/png")
    chips_done(page, 1)
    warning = page.locator("#vision-warning")
    assert warning.is_visible() and "Grok 3 cannot read images" in warning.inner_text()
    page.fill("#prompt", "What does this chart say?")
    page.press("#prompt", "Enter")
    page.click("#send")
    # Refused here, said once (the warning, again), and nothing went to the server; the
    # model picker, where it is mended, has the focus.
    assert warning.is_visible() and page.locator("#error").is_hidden()
    expect(warning).to_have_class(re.compile(r"\bagain\b"))
    expect(page.locator("#model")).to_be_focused()
    # Nothing was sent, nothing lost.
    assert page.locator("article.message.user").count() == 0
    assert page.input_value("#prompt") == "What does this chart say?"
    assert page.locator("#attachments .chip").count() == 1
    page.select_option("#model", "grok-2-vision")
    assert warning.is_hidden()
    page.fill("#prompt", "What does this chart say? [sim words=3 delay=1]")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    assert (
        page.locator("article.message.assistant .content").inner_text().startswith("I see 1 image")
    )
    assert not page.problems, page.problems


def test_a_removed_or_refused_file_is_not_kept(page: Any, live: LiveServer) -> None:
    sign_up(page, live, "remover")
    before = live.query("SELECT COUNT(*) FROM conversations_attachment")[0][0]
    pick(page, "draft.txt", b"first draft", "text/plain")
    chips_done(page, 1)
    assert live.query("SELECT COUNT(*) FROM conversations_attachment")[0][0] == before + 1
    page.click("#attachments .chip-remove")
    assert page.locator("#attachments").is_hidden()
    eventually(lambda: live.query("SELECT COUNT(*) FROM conversations_attachment")[0][0], before)
    pick(page, "empty.png", b"", "image/png")
    page.wait_for_function(
        "() => document.getElementById('error').textContent.includes('is empty')"
    )
    assert page.locator("#attachments .chip").count() == 0
    pick(page, "fake.jpg", samples.jpeg_with_script(), "image/jpeg")
    page.wait_for_function("() => document.getElementById('error').textContent.includes('hidden')")
    assert page.locator("#attachments .chip").count() == 0
    # Refused while the message waited for it: said, and the message kept, not sent.
    pick(page, "notes.txt", b"kept", "text/plain")
    chips_done(page, 1)
    upload = pick_held(page, "fake2.jpg", samples.jpeg_with_script(), "image/jpeg")
    page.fill("#prompt", "with my notes [sim echo]")
    page.press("#prompt", "Enter")
    upload.continue_()
    page.unroute("**/attachments/")
    page.wait_for_function(
        "() => document.getElementById('error').textContent.includes('was not sent')"
    )
    assert page.input_value("#prompt") == "with my notes [sim echo]"
    assert page.locator("article.message.user").count() == 0
    page.press("#prompt", "Enter")  # again: sent with the file that was taken
    page.wait_for_selector("article.message.user .attachments a[title='notes.txt']")
    # The only problems are the three refusals the browser logs as failed requests.
    assert all("400" in p for p in page.problems), page.problems


def test_a_file_of_no_kind_read_is_refused_before_it_goes_up(page: Any, live: LiveServer) -> None:
    """An archive or a program is refused by the page from its first bytes: nothing is
    uploaded, no conversation is made for it. What the server reads (an image, a PDF,
    UTF-16 text) still goes up, whatever type the browser guessed for it."""
    sign_up(page, live, "archivist")
    posts: list[str] = []
    page.on("request", lambda r: r.method == "POST" and posts.append(r.url))
    zipped = b"PK\x03\x04\x14\x00\x00\x00\x08\x00" + bytes(2000)
    for name, data, mime in (
        ("minutes.zip", zipped, "application/zip"),
        ("scan.tiff", samples.image("TIFF"), "image/tiff"),  # an image the server reads not
    ):
        pick(page, name, data, mime)
        page.wait_for_function(
            "name => document.getElementById('error').textContent.includes("
            "`“${name}” is not an image, a PDF`)",
            arg=name,
        )
    assert page.locator("#attachments .chip").count() == 0
    assert posts == [] and page.url == f"{live.url}/"
    unknown = "application/octet-stream"
    for number, fmt in enumerate(("PNG", "JPEG", "WEBP", "BMP", "GIF", "AVIF"), start=1):
        pick(page, f"picture-{number}", samples.image(fmt), unknown)
        chips_done(page, number)
    pick(page, "report", samples.pdf(), unknown)
    pick(page, "notes-utf16", "Notes in UTF-16".encode("utf-16"), unknown)
    chips_done(page, 8)
    assert page.is_hidden("#error")
    assert len([url for url in posts if url.endswith("/attachments/")]) == 8
    assert page.problems == []


def test_an_image_shows_on_a_phone_and_on_the_share_page(
    phone: Any, browser: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "camera-user")
    # On a phone the camera has its own button; it takes a photo as a file.
    assert phone.locator("#camera").is_visible()
    photo = samples.photo(1200, 900, turned=True)
    send_image(phone, "camera.jpg", photo, "image/jpeg", "#camera-input")
    tile = phone.locator("article.message.user .attachments img")
    shown = tile.bounding_box()
    assert shown["width"] <= 390 and shown["height"] > shown["width"]  # turned upright
    # The tile is the image's small preview; the whole image is a tap away.
    assert tile.get_attribute("src").endswith("/preview/")
    assert tile.get_attribute("loading") == "lazy"  # in a long thread, only what is seen
    assert tile.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [576, 768]
    assert phone.evaluate("() => document.documentElement.scrollWidth") <= 390
    link = share_link(phone)
    reader = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True).new_page()
    reader.goto(link)
    reader.wait_for_function(IMAGES_LOADED)
    # The title a heading of a phone's size, the messages in line with it.
    title = reader.locator(".share-header h1")
    assert title.evaluate("h => parseFloat(getComputedStyle(h).fontSize)") <= 24
    message = reader.locator("article.message.assistant").first.bounding_box()
    assert message["x"] == title.bounding_box()["x"]
    source = reader.locator(".attachments img").get_attribute("src")
    assert source.startswith("/s/") and source.endswith("/preview/")
    # The viewer shows the preview at once, the whole image in its place once it has come.
    held: list[Any] = []
    reader.route(re.compile(r".*/attachments/[0-9a-f-]+/$"), lambda route: held.append(route))
    reader.locator(".attachments a.image").click()
    shown = reader.locator("dialog.image-viewer[open] img.preview")
    reader.wait_for_function(
        "() => document.querySelector('dialog.image-viewer[open] img.preview')?.naturalWidth > 0"
    )
    assert shown.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [576, 768]
    before = shown.bounding_box()
    while not held:
        reader.wait_for_timeout(20)
    held.pop().continue_()
    whole = reader.locator("dialog.image-viewer[open] img:not(.preview)")
    whole.wait_for()
    assert whole.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [900, 1200]
    after = whole.bounding_box()  # in the preview's place: nothing moves
    assert all(abs(after[k] - before[k]) < 1 for k in before), (before, after)
    reader.context.close()
    assert not phone.problems, phone.problems


def test_a_long_screenshot_is_kept_readable_shown_across_and_closed_by_back_on_a_phone(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "longshot")
    send_image(phone, "chat.png", samples.image("PNG", 1170, 6000), "image/png")
    address = phone.url
    phone.locator("article.message.user .attachments a.image").click()
    viewer = phone.locator("dialog.image-viewer[open]")
    whole = viewer.locator("img:not(.preview)")
    whole.wait_for()
    # Kept at 1024 across (not 399 by 2048), shown as wide as the phone, and scrolled.
    assert whole.evaluate("i => [i.naturalWidth, i.naturalHeight]") == [1024, 5251]
    box = whole.bounding_box()
    assert 370 <= box["width"] <= 376 and box["height"] > 1800
    assert viewer.evaluate("d => d.scrollHeight > d.clientHeight")
    viewer.evaluate("d => d.scrollTo(0, d.scrollHeight)")
    caption = viewer.locator(".viewer-caption").bounding_box()
    assert caption["y"] + caption["height"] <= 844  # in sight at the end of the image
    # The phone's Back closes the image, not the conversation.
    phone.go_back()
    viewer.wait_for(state="detached")
    assert phone.url == address and phone.locator("article.message.assistant").count() == 1
    # Closed by its ✕, it leaves no step behind: Back then leaves the page as before.
    phone.locator("article.message.user .attachments a.image").click()
    viewer.locator(".viewer-close").click()
    viewer.wait_for(state="detached")
    phone.wait_for_function("() => !history.state?.viewer")
    assert not phone.problems, phone.problems


def test_a_portrait_photo_fits_the_screen_and_each_viewer_takes_one_step_of_history(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "portrait")
    send_image(page, "portrait.jpg", samples.photo(1536, 2048), "image/jpeg")
    steps = page.evaluate("() => history.length")
    tile = page.locator("article.message.user .attachments a.image")
    viewer = page.locator("dialog.image-viewer[open]")
    tile.click()
    whole = viewer.locator("img:not(.preview)")
    whole.wait_for()
    # A photo taller than wide is not a long image: it fits the screen, not scrolled.
    box = whole.bounding_box()
    assert box["height"] <= 0.86 * 720 + 1 and box["width"] < box["height"]
    assert viewer.evaluate("d => !d.classList.contains('long')")
    # Closed, then opened again at once: the first one's step of history goes, and only
    # then does the second take its own, which the first one's going does not close.
    page.keyboard.press("Escape")
    tile.click()
    page.wait_for_function("() => history.state?.viewer")
    page.wait_for_timeout(200)
    assert viewer.is_visible()
    assert page.evaluate("() => history.length") == steps + 1
    # Turned to another size while open, it fits that.
    page.set_viewport_size({"width": 600, "height": 900})
    page.wait_for_function(
        "() => document.querySelector('dialog.image-viewer img').getBoundingClientRect().width <= 576"
    )
    page.go_back()
    viewer.wait_for(state="detached")
    assert page.evaluate("() => history.state") is None
    # A double click on the tile opens it, and its second click (on the backdrop: the tile
    # is beside the image) does not close it again.
    page.set_viewport_size({"width": 1280, "height": 720})
    tile.dblclick()
    page.wait_for_timeout(300)
    assert viewer.is_visible()
    # Reloaded while open: its step goes with it, and Back leaves the conversation.
    address = page.url
    page.wait_for_function("() => history.state?.viewer")
    page.reload()
    page.wait_for_function("() => history.state === null")
    assert viewer.count() == 0
    page.go_back()
    page.wait_for_url(lambda url: url != address)
    assert not page.problems, page.problems


def test_on_a_phone_the_tray_of_files_says_how_many_it_holds(phone: Any, live: LiveServer) -> None:
    sign_up(phone, live, "tray-counter")
    phone.set_input_files(
        "#file-input",
        files=[
            {"name": f"notes-{n}.txt", "mimeType": "text/plain", "buffer": b"some notes"}
            for n in range(4)
        ],
    )
    chips_done(phone, 4)
    tray = phone.locator("#attachments")

    def said() -> str:
        return tray.evaluate("t => getComputedStyle(t, '::before').content")

    # One row that scrolls sideways, most of it out of view: its start says how many.
    assert tray.evaluate("t => t.scrollWidth > t.clientWidth")
    assert said() == '"4 files"'
    for left in (3, 2, 1):
        phone.locator("#attachments .chip-remove").first.click()
        chips_done(phone, left)
    assert said() == "none"  # one file is in view whole
    # Sent, the file's link in the message is a finger's size.
    phone.fill("#prompt", "Read this [sim words=3 delay=1]")
    phone.click("#send")
    link = phone.locator("article.message.user a.attachment.file")
    link.wait_for()
    assert link.bounding_box()["height"] >= 44
    assert phone.problems == []


def listed_entry(page: Any) -> Any:
    """The sidebar's entry of the conversation on screen (by its address)."""
    made = page.url.rstrip("/").rsplit("/", 1)[-1]
    return page.locator(f'#sidebar li[data-id="{made}"]')


def test_new_chat_on_a_chat_with_a_file_not_sent_yet_keeps_it(phone: Any, live: LiveServer) -> None:
    sign_up(phone, live, "keeper-of-files")
    pick(phone, "plan.txt", b"the plan", "text/plain")
    chips_done(phone, 1)
    phone.fill("#prompt", "What do you make of this plan?")
    blank = phone.url
    assert "/c/" in blank  # a conversation was made for the file
    listed = listed_entry(phone)
    assert listed.count() == 0  # not listed before its first message, as after a reload
    # Nor pinned, moved or archived from its menu (which holds those on a phone) till then.
    phone.click("#actions-button")
    list_actions = phone.locator("#pin, #move, #archive")
    expect(list_actions).to_have_count(3)
    for i in range(3):
        expect(list_actions.nth(i)).to_be_hidden()
    phone.click("#actions-button")
    # It is the new chat: "New chat" stays on it, with the file and the words.
    phone.click("#menu-button")
    phone.locator("#sidebar .new-chat").click()
    phone.wait_for_function("() => !document.body.classList.contains('drawer-open')")
    assert phone.url == blank
    assert phone.input_value("#prompt") == "What do you make of this plan?"
    assert phone.locator("#attachments .chip[data-id]").count() == 1
    assert phone.evaluate("() => document.activeElement.id") == "prompt"
    # Once sent, it is a conversation like any other: "New chat" leaves it.
    phone.press("#prompt", "Enter")
    phone.wait_for_function(FINISHED, arg=1)
    expect(listed).to_have_count(1)
    phone.click("#actions-button")
    for i in range(3):
        expect(list_actions.nth(i)).to_be_visible()
    phone.click("#actions-button")
    phone.click("#menu-button")
    phone.locator("#sidebar .new-chat").click()
    phone.wait_for_url(f"{live.url}/")
    assert phone.problems == []


def test_a_chat_made_for_a_file_and_renamed_is_listed_by_its_name_once_sent(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "namer-of-files")
    pick(page, "plan.txt", b"the plan", "text/plain")
    chips_done(page, 1)
    page.click("#rename")
    page.fill("#rename-input", "The plan")
    page.press("#rename-input", "Enter")
    expect(page.locator("#title")).to_have_text("The plan")
    listed = listed_entry(page).locator("a")
    page.fill("#prompt", "What do you make of it?")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    expect(listed).to_have_text("The plan")
    page.reload()
    expect(listed).to_have_text("The plan")
    assert page.problems == []


def chat_made_for_a_file(page: Any, live: LiveServer, name: str) -> uuid.UUID:
    """A new person's chat made by attaching a file, nothing sent yet: its id."""
    sign_up(page, live, name)
    pick(page, "plan.txt", b"the plan", "text/plain")
    chips_done(page, 1)
    return uuid.UUID(page.url.rstrip("/").rsplit("/", 1)[-1])


def temporary_of(live: LiveServer, conversation: uuid.UUID) -> list[tuple[Any, ...]]:
    rows = live.query(
        "SELECT temporary FROM conversations_conversation WHERE id = %s", conversation
    )
    return [tuple(row) for row in rows]


def test_a_chat_made_for_a_file_can_still_be_made_temporary_and_has_nothing_to_export(
    page: Any, live: LiveServer
) -> None:
    made = chat_made_for_a_file(page, live, "temporary-with-files")
    assert page.locator("#export-md").is_hidden() and page.locator("#export-json").is_hidden()
    toggle = page.locator("#temporary")
    expect(toggle).to_have_attribute("aria-pressed", "false")
    toggle.click()
    expect(toggle).to_have_attribute("aria-pressed", "true")
    expect(page.locator("#temporary-note")).to_be_visible()
    page.fill("#prompt", "What do you make of it? [sim words=3 delay=1]")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    expect(toggle).to_have_count(0)  # decided with the first message
    assert temporary_of(live, made) == [(True,)]
    assert listed_entry(page).count() == 0
    assert page.locator("#export-md").is_visible()  # something to export now
    page.goto("/usage/")  # leaving deletes it, its file with it
    gone = "SELECT 1 FROM conversations_conversation WHERE id = %s"
    eventually(lambda: list(live.query(gone, made)), [], seconds=15)
    assert page.problems == []


def test_a_file_chat_another_tab_sent_to_first_stays_kept_whatever_this_tab_chose(
    page: Any, live: LiveServer
) -> None:
    made = chat_made_for_a_file(page, live, "two-tabs-with-files")
    page.locator("#temporary").click()
    expect(page.locator("#temporary-note")).to_be_visible()
    other = page.context.new_page()
    watch(other)
    other.goto(page.url)
    other.fill("#prompt", "Sent from the other tab [sim words=3 delay=1]")
    other.press("#prompt", "Enter")
    other.wait_for_function(FINISHED, arg=1)
    # This tab sees that message come, and with it what the chat is: kept.
    expect(page.locator("#temporary")).to_have_count(0)
    expect(page.locator("#temporary-note")).to_be_hidden()
    expect(listed_entry(page)).to_have_count(1)
    page.fill("#prompt", "And from this one [sim words=3 delay=1]")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=2)
    assert temporary_of(live, made) == [(False,)]
    page.goto("/usage/")  # leaving a kept chat deletes nothing
    page.wait_for_timeout(500)
    assert live.query("SELECT 1 FROM conversations_conversation WHERE id = %s", made)
    assert page.problems == [] and other.problems == []


def test_a_tab_open_on_a_file_chat_another_made_temporary_is_told_with_its_first_message(
    page: Any, live: LiveServer
) -> None:
    made = chat_made_for_a_file(page, live, "told-by-another-tab")
    other = page.context.new_page()
    watch(other)
    other.goto(page.url)
    expect(other.locator("#temporary")).to_have_attribute("aria-pressed", "false")
    page.locator("#temporary").click()
    page.fill("#prompt", "Between us [sim words=3 delay=1]")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    # The other tab sees that message come, and with it what the chat is.
    expect(other.locator("#temporary-note")).to_be_visible()
    expect(other.locator("#temporary")).to_have_count(0)
    assert listed_entry(other).count() == 0
    # What it sends then goes on in the temporary chat, and nobody lists it.
    other.fill("#prompt", "And this [sim words=3 delay=1]")
    other.press("#prompt", "Enter")
    other.wait_for_function(FINISHED, arg=2)
    assert listed_entry(other).count() == 0
    assert temporary_of(live, made) == [(True,)]
    assert page.problems == [] and other.problems == []


def test_a_chat_made_for_a_file_left_and_come_back_to_is_listed_once_sent(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "returner-of-files")
    pick(page, "plan.txt", b"the plan", "text/plain")
    chips_done(page, 1)
    made = page.url
    page.goto("/usage/")
    page.goto(made)
    chips_done(page, 1)  # the file waits where it was attached
    listed = listed_entry(page)
    assert listed.count() == 0
    page.fill("#prompt", "About the plan")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    expect(listed).to_have_count(1)
    assert page.problems == []


def test_new_chat_goes_back_to_a_chat_made_for_a_file_left_unsent(
    page: Any, live: LiveServer
) -> None:
    """Left for another conversation, a chat made for a file is still the new chat: "New
    chat" goes back to it, with its file and words, until it is sent."""
    sign_up(page, live, "leaver-of-files")
    page.fill("#prompt", "An earlier question")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    earlier = page.url
    page.locator("#sidebar .new-chat").click()
    page.wait_for_url(f"{live.url}/")
    pick(page, "plan.txt", b"the plan", "text/plain")
    chips_done(page, 1)
    page.fill("#prompt", "What do you make of this plan?")
    blank = page.url
    # On the new-chat page itself, "New chat" stays there.
    page.goto("/")
    with page.expect_navigation():
        page.locator("#sidebar .new-chat").click()
    assert page.url == f"{live.url}/" and page.locator("#attachments .chip").count() == 0
    page.locator(f'#sidebar a[href="{urlsplit(earlier).path}"]').click()
    page.wait_for_url(earlier)
    # It checks that the server still has it, and shows it is at work meanwhile.
    held: list[Any] = []
    page.route(
        blank,
        lambda route: held.append(route) if route.request.method == "HEAD" else route.continue_(),
    )
    page.locator("#sidebar .new-chat").click()
    while not held:
        page.wait_for_timeout(20)
    expect(page.locator("#sidebar .new-chat")).to_have_attribute("aria-busy", "true")
    # No answer in five seconds: a new chat, the unsent one still remembered.
    page.wait_for_url(f"{live.url}/", timeout=10_000)
    page.goto(earlier)
    page.locator("#sidebar .new-chat").click()
    while len(held) < 2:
        page.wait_for_timeout(20)
    held.pop().continue_()
    page.wait_for_url(blank)
    page.unroute(blank)
    chips_done(page, 1)
    assert page.input_value("#prompt") == "What do you make of this plan?"
    # Sent, it is a conversation like any other: "New chat" from elsewhere is a new one.
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    page.goto(earlier)
    page.locator("#sidebar .new-chat").click()
    page.wait_for_url(f"{live.url}/")
    assert page.locator("#attachments .chip").count() == 0
    assert page.problems == []


def send_while_its_chat_is_made(page: Any, live: LiveServer, text: str) -> Any:
    """A first message sent with its conversation's making held (a slow network): the held
    request, to `continue_()`."""
    held: list[Any] = []
    page.route(f"{live.url}/c/", lambda route: held.append(route))
    page.fill("#prompt", text)
    page.locator("#send").click()  # Enter would be a new line on a phone
    while not held:
        page.wait_for_timeout(20)
    return held[0]


def test_new_chat_right_after_enter_waits_for_the_message_to_be_sent(
    page: Any, live: LiveServer
) -> None:
    """On a slow network "New chat" can come before the first message has reached the
    server (its conversation still being made): it waits for it, then opens a new chat."""
    sign_up(page, live, "hasty-sender")
    creating = send_while_its_chat_is_made(page, live, "Do not lose me")
    page.locator("#sidebar .new-chat").click()
    expect(page.locator("#sidebar .new-chat")).to_have_attribute("aria-busy", "true")
    creating.continue_()
    sent = page.locator("#sidebar .conversation-list a", has_text="Do not lose me")
    expect(sent).to_have_count(1)
    page.wait_for_url(f"{live.url}/")
    expect(page.locator("#prompt")).to_have_value("")
    sent.click()
    expect(page.locator("article.message.user")).to_have_text(re.compile("Do not lose me"))
    assert page.problems == []


STILL = "Your message is still on its way. Press New chat again once it has been sent."


def test_new_chat_says_why_it_stays_on_a_chat_whose_message_is_still_on_its_way(
    page: Any, live: LiveServer
) -> None:
    """A message the server is slow to take: "New chat" waits ten seconds, then stays and
    says why, until the message is taken. A conversation's making that hangs shows the
    message sending, outlasts the server's own 20 s wait for its database, and gives up at
    45 s, the message back in the box to send again."""
    sign_up(page, live, "stalled-sender")
    page.fill("#prompt", "[sim words=2] first")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    held: list[Any] = []
    sockets: list[Any] = []

    def hold(socket: Any) -> None:  # the first page's socket: the server's frames held
        server = socket.connect_to_server()
        if not sockets:
            server.on_message(lambda frame: held.append(frame))
        sockets.append(socket)

    page.clock.install()
    page.route_web_socket(re.compile(".*"), hold)
    page.reload()
    while not sockets:
        page.wait_for_timeout(20)
    page.fill("#prompt", "Slow but sent [sim words=2]")
    page.press("#prompt", "Enter")
    while not any("ack" in str(frame) for frame in held):
        page.wait_for_timeout(20)
    new_chat, error = page.locator("#sidebar .new-chat"), page.locator("#error")
    new_chat.click()
    expect(new_chat).to_have_attribute("aria-busy", "true")
    page.clock.run_for(11_000)
    expect(error).to_have_text(STILL)
    # News, not an error: not in the errors' red.
    expect(error).to_have_class(re.compile(r"\bnotice\b"))
    expect(error).to_have_attribute("role", "status")
    colour = "e => getComputedStyle(e).color"
    news = error.evaluate(colour)
    expect(new_chat).not_to_have_attribute("aria-busy", "true")
    chat = page.url
    for frame in held:  # taken after all: said only while it was true
        sockets[0].send(frame)
    page.clock.run_for(1_000)
    expect(error).to_be_hidden()
    assert page.url == chat
    page.goto("/")
    send_while_its_chat_is_made(page, live, "Still on its way")
    expect(page.locator("#status")).to_have_text("Sending…")
    new_chat.click()
    page.clock.run_for(26_000)
    expect(error).to_have_text(STILL)
    page.clock.run_for(20_000)
    expect(error).to_contain_text("The server is not answering")
    expect(error).not_to_have_class(re.compile(r"\bnotice\b"))
    expect(error).to_have_attribute("role", "alert")
    assert error.evaluate(colour) != news
    expect(page.locator("#status")).to_have_text("")
    expect(page.locator("#prompt")).to_have_value("Still on its way")
    page.unroute(f"{live.url}/c/")
    page.press("#prompt", "Enter")  # sent again, once the server answers
    page.wait_for_function(FINISHED, arg=1)
    expect(page.locator("article.message.user .content")).to_have_text("Still on its way")
    assert page.problems == []


def test_on_a_phone_new_chat_waiting_for_a_message_closes_the_drawer_to_show_it(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "stalled-thumb")
    phone.clock.install()
    phone.reload()
    creating = send_while_its_chat_is_made(phone, live, "On a train")
    phone.click("#menu-button")
    phone.locator("#sidebar .new-chat").click()
    # At once, not after the ten seconds' wait: the message is seen sending.
    expect(phone.locator("body")).not_to_have_class(re.compile("drawer-open"), timeout=2_000)
    expect(phone.locator("#status")).to_have_text("Sending…")
    expect(phone.locator("#status")).to_be_in_viewport()
    phone.clock.run_for(11_000)
    expect(phone.locator("#error")).to_have_text(STILL)
    expect(phone.locator("#error")).to_be_in_viewport()
    creating.continue_()
    phone.wait_for_function(FINISHED, arg=1)
    assert phone.problems == []


def test_still_on_its_way_stays_said_when_the_chat_s_socket_opens_before_the_message_is_taken(
    page: Any, live: LiveServer
) -> None:
    """The new conversation's socket opening clears a lost connection's words, not those of a
    message the server has yet to take."""
    sign_up(page, live, "slow-ack-sender")
    page.clock.install()
    page.reload()
    held: list[Any] = []
    sockets: list[Any] = []

    def hold(socket: Any) -> None:  # the server's frames held until released
        socket.connect_to_server().on_message(lambda frame: held.append(frame))
        sockets.append(socket)

    page.route_web_socket(re.compile(".*"), hold)
    creating = send_while_its_chat_is_made(page, live, "Taken late [sim words=2]")
    page.locator("#sidebar .new-chat").click()
    page.clock.run_for(11_000)
    error = page.locator("#error")
    expect(error).to_have_text(STILL)
    creating.continue_()
    while not any("ack" in str(frame) for frame in held):  # open, the message sent
        page.wait_for_timeout(20)
    page.clock.run_for(1_000)
    expect(error).to_have_text(STILL)
    for frame in held:
        sockets[0].send(frame)
    page.clock.run_for(1_000)
    expect(error).to_be_hidden()
    assert page.problems == []


def test_words_typed_while_a_first_message_is_on_its_way_stay_in_the_box(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "quick-typist")
    creating = send_while_its_chat_is_made(page, live, "The question")
    page.locator("#prompt").press_sequentially(" and a second thought")
    creating.continue_()
    page.wait_for_function(FINISHED, arg=1)
    expect(page.locator("article.message.user .content")).to_have_text("The question")
    expect(page.locator("#prompt")).to_have_value("and a second thought")
    page.reload()  # kept as the draft too
    expect(page.locator("#prompt")).to_have_value("and a second thought")
    assert page.problems == []


def test_new_chat_stays_on_a_chat_whose_message_was_refused_meanwhile(
    page: Any, live: LiveServer
) -> None:
    """ "New chat" waits for a message on its way; refused meanwhile (past the plan's rate),
    the message is back in the box with its reason, and the chat stays for it."""
    sign_up(page, live, "refused-sender")
    page.fill("#prompt", "[sim repeat] first message")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    chat = page.url
    live.query("UPDATE webchat_plan SET requests_per_minute = 1")
    # The server's frames held until "New chat" is pressed.
    held: list[Any] = []
    sockets: list[Any] = []

    def hold(socket: Any) -> None:
        sockets.append(socket)
        socket.connect_to_server().on_message(lambda frame: held.append(frame))

    page.route_web_socket(re.compile(".*"), hold)
    page.reload()
    while not sockets:  # the socket is open
        page.wait_for_timeout(20)
    page.fill("#prompt", "Do not lose me either")
    page.press("#prompt", "Enter")
    while not any("rate_limited" in str(frame) for frame in held):
        page.wait_for_timeout(20)
    page.locator("#sidebar .new-chat").click()
    expect(page.locator("#sidebar .new-chat")).to_have_attribute("aria-busy", "true")
    for frame in held:
        sockets[0].send(frame)
    expect(page.locator("#prompt")).to_have_value("Do not lose me either")
    expect(page.locator("#error")).to_be_visible()
    expect(page.locator("#sidebar .new-chat")).not_to_have_attribute("aria-busy", "true")
    assert page.url == chat
    assert page.problems == []


def test_new_chat_stays_on_a_chat_whose_message_waited_for_a_file_that_was_refused(
    page: Any, live: LiveServer
) -> None:
    """ "New chat" pressed while a message waits for its file's upload: the file refused,
    the message is not sent, and the chat stays to say so, its words in the box."""
    sign_up(page, live, "refused-file-sender")
    page.fill("#prompt", "[sim words=2] first message")
    page.press("#prompt", "Enter")
    page.wait_for_function(FINISHED, arg=1)
    chat = page.url
    upload = pick_held(page, "fake.jpg", samples.jpeg_with_script(), "image/jpeg")
    page.fill("#prompt", "Look at this")
    page.press("#prompt", "Enter")
    expect(page.locator("#status")).to_have_text("Sending once the files are uploaded…")
    new_chat = page.locator("#sidebar .new-chat")
    new_chat.click()
    expect(new_chat).to_have_attribute("aria-busy", "true")
    upload.continue_()  # the server refuses it
    expect(new_chat).not_to_have_attribute("aria-busy", "true")
    page.wait_for_timeout(500)  # time to leave, were it leaving
    assert page.url == chat
    expect(page.locator("#error")).to_contain_text("Your message was not sent")
    expect(page.locator("#prompt")).to_have_value("Look at this")
    assert all("400" in problem for problem in page.problems), page.problems


def test_files_alone_go_in_the_order_attached_after_their_uploads_and_survive_a_reload(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "order-keeper")
    page.select_option("#model", "grok-2-vision")
    # Picked together: more than the server reads of one person's at once.
    files = [
        {"name": "big.jpg", "mimeType": "image/jpeg", "buffer": samples.photo(1600, 1200)},
        {"name": "small.txt", "mimeType": "text/plain", "buffer": b"tiny"},
        {"name": "third.csv", "mimeType": "text/csv", "buffer": b"a,b\n1,2\n"},
        {"name": "fourth.md", "mimeType": "text/markdown", "buffer": b"# four"},
    ]
    page.set_input_files("#file-input", files=files)
    chips_done(page, 4)
    # A reload keeps what was attached and not yet sent, as it keeps the draft.
    page.reload()
    chips_done(page, 4)
    picked = ["big.jpg", "small.txt", "third.csv", "fourth.md"]
    assert page.locator("#attachments .chip-name").all_inner_texts() == picked
    # A third file still uploading when Enter is pressed: the message waits for it.
    upload = pick_held(page, "late.png", samples.image("PNG", 50, 40), "image/png")
    page.press("#prompt", "Enter")  # no words at all: files alone
    assert page.locator("#status").inner_text() == "Sending once the files are uploaded…"
    assert page.locator("article.message.user").count() == 0
    upload.continue_()
    page.unroute("**/attachments/")
    page.wait_for_function(FINISHED, arg=1)
    names = "article.message.user .attachments a"
    order = [*picked, "late.png"]
    assert [a.get_attribute("title") for a in page.locator(names).all()] == order
    assert page.locator("#title").inner_text() == " ".join(order)
    page.reload()
    page.wait_for_function(IMAGES_LOADED)
    assert [a.get_attribute("title") for a in page.locator(names).all()] == order
    assert page.locator("#attachments").is_hidden()
    assert not page.problems, page.problems
