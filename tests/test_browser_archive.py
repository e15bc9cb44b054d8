"""A person's data in Chromium, through the pages' own forms: a ChatGPT export imported,
everything downloaded, the account deleted, a new account signed up, the archive imported:
the same conversations and branches come back."""

import io
import json
import zipfile
from pathlib import Path
from typing import Any

import pytest

from tests import chatgpt_export
from tests.helpers import say, sign_up
from tests.live import LiveServer

pytestmark = pytest.mark.browser

PASSWORD = "a long enough passphrase 42"


def download_all(page: Any) -> bytes:
    page.goto("/settings/")
    with page.expect_download() as download:
        page.click("text=Download all conversations")
    return Path(download.value.path()).read_bytes()


def seen(data: bytes) -> list[dict[str, Any]]:
    """An archive's conversations as a reader knows them, whatever their ids."""
    with zipfile.ZipFile(io.BytesIO(data)) as made:
        conversations = json.loads(made.read("conversations.json"))
        shown = []
        for c in conversations:
            by_id = {m["id"]: m for m in c["messages"]}
            tree = sorted(
                (
                    m["role"],
                    m["content"],
                    by_id[m["parent"]]["content"] if m["parent"] else None,
                    m["created"],
                    tuple(made.getinfo(a["path"]).file_size > 0 for a in m["attachments"]),
                )
                for m in c["messages"]
            )
            leaf = by_id[c["current_leaf"]]["content"] if c["current_leaf"] else None
            shown.append((c["title"], c["created"], leaf, tree))
        return sorted(shown)


def import_file(page: Any, name: str, data: bytes) -> None:
    """Chosen with the page's own button (in the page's language, not the browser's)."""
    page.goto("/settings/")
    assert page.locator(".import-form .file-chosen").inner_text() == "No file chosen"
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Choose a file").click()
    chooser.value.set_files(files=[{"name": name, "mimeType": "application/zip", "buffer": data}])
    assert page.locator(".import-form .file-chosen").inner_text() == name
    page.click(".import-form button[type=submit]")


@pytest.mark.services
def test_export_delete_sign_up_import_gives_the_same_conversations(
    page: Any, live: LiveServer
) -> None:
    sign_up(page, live, "mover")
    import_file(page, "chatgpt-export.zip", chatgpt_export.as_zip())
    page.wait_for_selector("text=Imported 2 conversations.")
    page.goto("/")
    say(page, "hello from webchat")
    before = download_all(page)
    assert len(seen(before)) == 3

    # Whoever signed up first on this server administers it, and the only administrator
    # may not leave (tested in test_accounts): this person is an ordinary one.
    live.query(
        "UPDATE webchat_user SET is_superuser = %s, is_staff = %s WHERE username = %s",
        False,
        False,
        "mover",
    )
    page.goto("/accounts/")
    page.click("text=Delete your account")
    page.fill("#id_confirmation", "wrong")
    page.click("button[type=submit]")
    page.wait_for_selector("text=That is not your password.")
    page.fill("#id_confirmation", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("text=Account deleted")
    page.goto("/")
    assert "/accounts/login/" in page.url

    sign_up(page, live, "mover")
    import_file(page, "webchat-mover.zip", before)
    page.wait_for_selector("text=Imported 3 conversations.")
    after = download_all(page)
    assert seen(after) == seen(before)
    # The same file again adds nothing twice, and says so.
    import_file(page, "webchat-mover.zip", before)
    page.wait_for_selector("text=Nothing was added")
    assert (
        "all 3 conversations of the file were here already" in page.locator(".saved").inner_text()
    )
    assert seen(download_all(page)) == seen(before)

    # The branches are there to walk: the edited first question shows its arrows.
    page.goto("/")
    page.click("#sidebar a:text-is('Sauces')")
    page.wait_for_selector("text=And in code?")
    question = page.locator("article.message.user", has_text="What is a béchamel?")
    assert "2/2" in question.inner_text()
    # The wrong password's page answered 400, as a refused form does.
    assert [p for p in page.problems if "status of 400" not in p] == []


def test_a_bad_file_is_refused_with_a_sentence_and_the_pages_fit_a_phone(
    phone: Any, live: LiveServer
) -> None:
    sign_up(phone, live, "tinyscreen")
    import_file(phone, "conversations.json", b'{"not": "an export"}')
    alert = phone.locator(".form-error[role=alert]")
    alert.wait_for()
    assert "not a ChatGPT export" in alert.inner_text()
    for url in ("/settings/", "/accounts/delete/"):
        phone.goto(url)
        overflow = phone.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, url
    # The link to download everything is part of its sentence: the lines keep their height.
    link = phone.get_by_role("link", name="download them all")
    heights = link.evaluate("a => [...a.getClientRects()].map((line) => line.height)")
    assert max(heights) < 30, heights  # lines of 24.8 px
    assert [p for p in phone.problems if "status of 400" not in p] == []
