"""Attachments: uploads checked by content, sent through the socket to the simulator as the
upstream sees them, read back only by those allowed, and gone with what holds them."""

import base64
import hashlib
import io
import json
import os
import random
from pathlib import Path
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.core.management import call_command
from django.test import Client
from PIL import Image

from conversations import files
from conversations.models import Attachment, Conversation, Message, Share
from tests import samples
from tests.helpers import logged_in, open_socket
from webchat.models import User
from webchat.simulator import Simulator


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def upload(client: Client, conversation: Conversation, name: str, data: bytes) -> Any:
    return client.post(
        f"/c/{conversation.id}/attachments/",
        {"file": _named(name, data)},
        HTTP_ACCEPT="application/json",
    )


def _named(name: str, data: bytes) -> io.BytesIO:
    stream = io.BytesIO(data)
    stream.name = name
    return stream


def uploaded(client: Client, conversation: Conversation, name: str, data: bytes) -> dict:
    response = upload(client, conversation, name, data)
    assert response.status_code == 201, response.content
    return response.json()


def stored_bytes(attachment_id: str) -> bytes:
    with Attachment.objects.get(pk=attachment_id).file.open("rb") as f:
        return f.read()


# --- Uploads ----------------------------------------------------------------------------------
@pytest.mark.django_db
def test_a_photo_is_re_encoded_upright_with_no_metadata(alice: User, conversation: Conversation):
    client = logged_in(alice)
    body = uploaded(client, conversation, "IMG_0001.JPG", samples.photo(640, 480, turned=True))
    assert body["kind"] == "image" and body["name"] == "IMG_0001.JPG"
    assert body["url"] == f"/c/{conversation.id}/attachments/{body['id']}/"
    data = stored_bytes(body["id"])
    assert body["size"] == len(data)
    image = Image.open(io.BytesIO(data))
    assert image.format == "JPEG"
    # Turned as its EXIF said (640x480 → 480x640), and the EXIF itself is gone.
    assert (image.width, image.height) == (480, 640) == (body["width"], body["height"])
    assert not image.getexif() and b"Camera maker" not in data and b"Exif" not in data


@pytest.mark.django_db
def test_a_large_image_is_scaled_down_and_transparency_stays_png(
    alice: User, conversation: Conversation, settings: Any
):
    settings.ATTACHMENT_IMAGE_MAX_SIDE = 256
    client = logged_in(alice)
    big = uploaded(client, conversation, "wide.jpg", samples.photo(1200, 600, gps=False))
    assert (big["width"], big["height"]) == (256, 128)
    # A phone's long screenshot keeps half the side across, so that its text stays readable.
    long = uploaded(client, conversation, "chat.png", samples.image("PNG", 300, 1500))
    assert (long["width"], long["height"]) == (128, 640)
    endless = uploaded(client, conversation, "log.png", samples.image("PNG", 300, 6000))
    assert (endless["width"], endless["height"]) == (51, 1024)  # at most four times along
    alpha = uploaded(client, conversation, "logo.png", samples.image("PNG", mode="RGBA"))
    assert alpha["content_type"] == "image/png" and alpha["name"] == "logo.png"
    assert Image.open(io.BytesIO(stored_bytes(alpha["id"]))).mode == "RGBA"


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "data", "stored_as"),
    [
        ("pic.webp", samples.image("WEBP"), "pic.jpg"),
        ("pic.avif", samples.image("AVIF"), "pic.jpg"),
        ("photo.jpeg", samples.image("JPEG"), "photo.jpeg"),
        # A photo saved as PNG: far larger as PNG than as JPEG.
        ("holiday.png", samples.photo_as_png(), "holiday.jpg"),
        # Drawn losslessly and small as PNG (a screenshot, a chart): a PNG, kept sharp.
        ("screenshot.png", samples.image("PNG"), "screenshot.png"),
        ("anim.gif", samples.animated_gif(), "anim.png"),
        ("pic.bmp", samples.image("BMP"), "pic.png"),
        ("scan", samples.image("PNG"), "scan.png"),
        # The name lies: the content decides.
        ("notes.txt", samples.image("PNG"), "notes.png"),
    ],
)
def test_other_image_formats_are_converted_and_named_as_stored(
    alice: User, conversation: Conversation, name: str, data: bytes, stored_as: str
):
    body = uploaded(logged_in(alice), conversation, name, data)
    as_png = stored_as.endswith(".png")
    assert body["kind"] == "image"
    assert body["content_type"] == ("image/png" if as_png else "image/jpeg")
    assert Image.open(io.BytesIO(stored_bytes(body["id"]))).format == ("PNG" if as_png else "JPEG")
    # Downloaded or exported, it opens as what it is.
    assert body["name"] == stored_as


@pytest.mark.django_db
def test_text_files_and_pdfs_are_read_as_text(alice: User, conversation: Conversation):
    client = logged_in(alice)
    code = uploaded(client, conversation, "hello.py", b"\xef\xbb\xbfprint('hi')\r\n")
    assert code["kind"] == "text" and code["content_type"] == "text/plain; charset=utf-8"
    assert Attachment.objects.get(pk=code["id"]).text == "print('hi')\n"
    # What a spreadsheet saves: Windows-1252, or UTF-16 with its byte order mark.
    for encoded in ("naïve café;€5\r\n".encode("cp1252"), "naïve café;€5\n".encode("utf-16")):
        sheet = uploaded(client, conversation, "prices.csv", encoded)
        assert Attachment.objects.get(pk=sheet["id"]).text == "naïve café;€5\n"
    document = uploaded(client, conversation, "report.pdf", samples.pdf())
    assert document["kind"] == "text" and document["content_type"] == "application/pdf"
    assert "revenue grew nine percent" in Attachment.objects.get(pk=document["id"]).text
    assert stored_bytes(document["id"]) == samples.pdf()


BAD_FILES = [
    ("empty.png", b"", 400, "is empty"),
    ("broken.jpg", samples.truncated_jpeg(), 400, "damaged or incomplete"),
    ("bomb.png", samples.bomb_png(), 400, "too many pixels"),
    ("scans.jpg", samples.scan_bomb_jpeg(), 400, "damaged or incomplete"),
    # Fewer scans, but each a pass over 16 million pixels: too many pixels read in all.
    ("passes.jpg", samples.scan_bomb_jpeg(repeats=70, side=4000), 400, "damaged or incomplete"),
    ("cat.jpg", samples.jpeg_with_script(), 400, "something else hidden"),
    ("cat.png", samples.png_with_zip(), 400, "something else hidden"),
    ("tool.exe", b"MZ\x90\x00\x03\x00" + bytes(range(256)) * 8, 400, "not an image, a PDF"),
    ("random.bin", random.Random(7).randbytes(4096), 400, "not an image, a PDF or text"),
    ("scan.pdf", samples.pdf("").replace(b"()", b"( )"), 400, "no text"),
    ("fake.pdf", b"%PDF-1.7\n garbage that is no pdf", 400, "not a PDF"),
]


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("C:\\Users\\me\\notes.txt", "notes.txt"),
        ("../../etc/passwd", "passwd"),
        ("..", "file"),
        ("a/..", "file"),
        (". . .", ". . ."),
        ("tab\there.txt", "tabhere.txt"),
        ("", "file"),
    ],
)
def test_a_file_s_name_is_its_own_with_no_folder_in_it(given: str, kept: str) -> None:
    # It names the file in a download and in the archive's path (files/<id>/<name>).
    assert files.display_name(given) == kept


@pytest.mark.django_db
@pytest.mark.parametrize(("name", "data", "status", "words"), BAD_FILES)
def test_bad_files_are_refused_with_a_sentence_and_nothing_kept(
    alice: User, conversation: Conversation, media: Path, name, data, status, words
):
    response = upload(logged_in(alice), conversation, name, data)
    assert response.status_code == status
    error = response.json()["error"]
    assert error["code"] == "invalid_request" and words in error["message"]
    assert not Attachment.objects.exists()
    assert not any(p.is_file() for p in media.rglob("*")) if media.exists() else True


@pytest.mark.django_db
def test_a_file_over_the_size_limit_is_413(alice: User, conversation: Conversation, settings: Any):
    settings.ATTACHMENT_MAX_MB = 0.01
    response = upload(logged_in(alice), conversation, "big.txt", b"a" * 12_000)
    assert response.status_code == 413
    assert "is 0.02 MB; the limit is 0.01 MB" in response.json()["error"]["message"]
    # A megabyte is the pages' own (filesizeformat's 1,024 KB): a limit of 0.01 MB takes
    # 10,486 bytes, what the page writes as "10.2 KB", not 10,000.
    assert upload(logged_in(alice), conversation, "fits.txt", b"a" * 10_486).status_code == 201
    assert upload(logged_in(alice), conversation, "over.txt", b"a" * 10_487).status_code == 413
    settings.ATTACHMENT_TEXT_MAX_CHARS = 100
    settings.ATTACHMENT_MAX_MB = 1
    response = upload(logged_in(alice), conversation, "long.txt", b"a" * 500)
    assert response.status_code == 413 and "characters" in response.json()["error"]["message"]


@pytest.mark.django_db
def test_a_refusal_is_said_in_the_readers_language_with_their_numbers(
    alice: User, conversation: Conversation, settings: Any
):
    """The reading process knows no language: it names the refusal, the server says it."""
    client = logged_in(alice)
    settings.ATTACHMENT_TEXT_MAX_CHARS = 1_000
    cases = [
        (
            "notes.exe",
            b"MZ\x90\x00" + bytes(range(256)) * 4,
            "es",
            "no es una imagen, un PDF ni texto",
        ),
        (
            "long.txt",
            b"a" * 12_345,
            "es",
            "contiene 12.345 caracteres de texto; el límite es 1.000",
        ),
        ("long.txt", b"a" * 12_345, "zh-hans", "含有 12,345 个字符的文本"),
        ("long.txt", b"a" * 12_345, "ar", "12,345"),
        ("empty.txt", b"", "ar", "فارغ"),
    ]
    for name, data, language, said in cases:
        response = client.post(
            f"/c/{conversation.id}/attachments/",
            {"file": _named(name, data)},
            HTTP_ACCEPT="application/json",
            HTTP_ACCEPT_LANGUAGE=language,
        )
        assert response.status_code in (400, 413)
        assert said in response.json()["error"]["message"], (language, response.content)
    assert not conversation.attachments.exists()


@pytest.mark.django_db
def test_uploads_go_only_into_ones_own_conversations(
    alice: User, charlie: User, conversation: Conversation
):
    assert upload(logged_in(charlie), conversation, "a.txt", b"hi").status_code == 404
    anonymous = Client().post(f"/c/{conversation.id}/attachments/", {"file": _named("a", b"hi")})
    assert anonymous.status_code == 302 and not Attachment.objects.exists()


@pytest.mark.django_db
def test_uploads_count_against_the_storage_allowance(alice: User, conversation: Conversation):
    alice.plan.storage_mb = 0
    alice.plan.save()
    response = upload(logged_in(alice), conversation, "a.txt", b"hello")
    assert response.status_code == 403 and "storage is full" in response.json()["error"]["message"]


# --- Reading them back ------------------------------------------------------------------------
def _sent(conversation: Conversation, body: dict) -> Message:
    """The upload attached to a stored message (as a send does)."""
    message = Message.objects.create(conversation=conversation, role="user", content="look")
    Attachment.objects.filter(pk=body["id"]).update(message=message)
    conversation.current_leaf = message
    conversation.save()
    return message


@pytest.mark.django_db
def test_only_the_owner_reads_an_attachment_by_its_address(
    alice: User, charlie: User, conversation: Conversation
):
    client = logged_in(alice)
    body = uploaded(client, conversation, "pic.jpg", samples.photo())
    response = client.get(body["url"])
    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert response["Content-Disposition"].startswith("inline")
    assert "sandbox" in response["Content-Security-Policy"]
    assert b"".join(response.streaming_content) == stored_bytes(body["id"])
    for stranger in (logged_in(charlie), Client()):
        assert stranger.get(body["url"]).status_code == 404
    # Someone else's conversation id in front of the right file id: 404 too.
    other = Conversation.objects.create(owner=charlie)
    assert (
        logged_in(charlie).get(body["url"].replace(str(conversation.id), str(other.id))).status_code
        == 404
    )


@pytest.mark.django_db
def test_text_files_download_and_are_never_shown_as_html(alice: User, conversation: Conversation):
    client = logged_in(alice)
    body = uploaded(client, conversation, "page.html", b"<script>alert(1)</script>")
    response = client.get(body["url"])
    assert response["Content-Type"] == "text/plain; charset=utf-8"
    # Saved under the name of what it is: no .html (nor .bat, .svg…) from this site.
    assert response["Content-Disposition"] == 'attachment; filename="page.html.txt"'
    notes = uploaded(client, conversation, "notes.md", b"# notes")
    assert client.get(notes["url"])["Content-Disposition"] == 'attachment; filename="notes.md"'
    photo = uploaded(client, conversation, "shot.png", samples.photo_as_png())
    assert client.get(photo["url"])["Content-Disposition"] == 'inline; filename="shot.jpg"'
    drawn = uploaded(client, conversation, "chart.png", samples.image("PNG"))
    assert client.get(drawn["url"])["Content-Disposition"] == 'inline; filename="chart.png"'


@pytest.mark.django_db
def test_a_file_is_asked_for_again_each_time_and_answered_304_when_unchanged(
    alice: User, conversation: Conversation
):
    client = logged_in(alice)
    body = uploaded(client, conversation, "pic.jpg", samples.photo())
    first = client.get(body["url"])
    assert first["Cache-Control"] == "private, no-cache" and first["ETag"]
    again = client.get(body["url"], HTTP_IF_NONE_MATCH=first["ETag"])
    assert again.status_code == 304 and not again.content
    # The checks run first: someone else with the same tag still gets 404.
    assert Client().get(body["url"], HTTP_IF_NONE_MATCH=first["ETag"]).status_code == 404


# --- Previews ---------------------------------------------------------------------------------
def preview_bytes(url: str, client: Client) -> bytes:
    response = client.get(url)
    assert response.status_code == 200, url
    return b"".join(response.streaming_content)


@pytest.mark.django_db
def test_a_large_image_is_shown_by_a_small_preview_and_a_small_one_by_itself(
    alice: User, charlie: User, conversation: Conversation
):
    client = logged_in(alice)
    body = uploaded(client, conversation, "beach.jpg", samples.busy_photo())
    assert body["preview_url"] == f"{body['url']}preview/"
    response = client.get(body["preview_url"])
    assert response["Content-Type"] == "image/webp"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in response["Content-Security-Policy"]
    data = b"".join(response.streaming_content)
    preview = Image.open(io.BytesIO(data))
    assert preview.format == "WEBP" and preview.size == (768, 512)
    stored = Attachment.objects.get(pk=body["id"])
    assert (stored.width, stored.height) == (2048, 1365)
    # What a phone loads for the tile: a small part of the whole.
    assert stored.preview_size == len(data) < stored.size / 10
    # Its own tag: the browser's copy of the preview is never taken for the file's.
    again = client.get(body["preview_url"], HTTP_IF_NONE_MATCH=response["ETag"])
    assert again.status_code == 304 and response["ETag"] != client.get(body["url"])["ETag"]
    for stranger in (logged_in(charlie), Client()):
        assert stranger.get(body["preview_url"]).status_code == 404
    # An image no larger than its tile needs none: the page shows the file itself.
    small = uploaded(client, conversation, "small.jpg", samples.photo())
    assert small["preview_url"] == small["url"]
    assert client.get(f"{small['url']}preview/").status_code == 404
    # A text file has none either.
    notes = uploaded(client, conversation, "notes.txt", b"notes")
    assert client.get(f"{notes['url']}preview/").status_code == 404


def test_a_transparent_image_s_preview_keeps_its_transparency():
    out = io.BytesIO()
    Image.new("RGBA", (1600, 1200), (200, 30, 30, 90)).save(out, "PNG")
    processed = files.process("logo.png", out.getvalue(), files.Limits.from_settings())
    preview = Image.open(io.BytesIO(processed.preview))
    assert processed.content_type == "image/png" and preview.size == (768, 576)
    assert preview.mode == "RGBA" and preview.getpixel((10, 10))[3] == 90


@pytest.mark.django_db
async def test_a_preview_comes_whole_out_of_the_reading_process(settings: Any):
    data = samples.busy_photo(2400, 1600)
    apart = await files.process_apart("beach.jpg", data, files.Limits.from_settings())
    here = files.process("beach.jpg", data, files.Limits.from_settings())
    assert apart.preview and apart.preview == here.preview and apart.data == here.data


@pytest.mark.django_db(transaction=True)
def test_a_preview_is_shared_counted_copied_and_deleted_with_its_file(
    alice: User, bob: User, conversation: Conversation, media: Path
):
    from conversations import storage

    client = logged_in(alice)
    body = uploaded(client, conversation, "beach.jpg", samples.busy_photo())
    attachment = Attachment.objects.get(pk=body["id"])
    assert storage.used(alice, fresh=True) == attachment.size + attachment.preview_size
    share = Share.objects.create(conversation=conversation, leaf=_sent(conversation, body))
    shared_preview = f"/s/{share.token}/attachments/{body['id']}/preview/"
    page = Client().get(share.get_absolute_url()).content.decode()
    assert f'src="{shared_preview}"' in page and body["preview_url"] not in page
    assert preview_bytes(shared_preview, Client()) == preview_bytes(body["preview_url"], client)
    # Through the link, only the snapshot's: not a later upload's, nor another chat's.
    later = uploaded(client, conversation, "later.jpg", samples.busy_photo())
    elsewhere = Conversation.objects.create(owner=alice)
    other = uploaded(client, elsewhere, "other.jpg", samples.busy_photo())
    _sent(elsewhere, other)
    for hidden in (later, other):
        assert (
            Client().get(f"/s/{share.token}/attachments/{hidden['id']}/preview/").status_code == 404
        )
    # A fork gets a preview of its own, not a name shared with the original.
    logged_in(bob).post(f"/s/{share.token}/fork/")
    (copy,) = Attachment.objects.filter(owner=bob)
    assert copy.preview.name != attachment.preview.name
    assert preview_bytes(copy.preview_url, logged_in(bob)) == preview_bytes(
        body["preview_url"], client
    )
    client.post(f"/s/{share.token}/revoke/")
    assert Client().get(shared_preview).status_code == 404
    # An edit's copy shares the preview: it stays while either holds it.
    edited = Message.objects.create(conversation=conversation, role="user", content="again")
    kept = attachment.copy_to(edited, share_file=True)
    path = Path(attachment.preview.path)
    assert kept.preview.name == attachment.preview.name
    attachment.delete()
    assert path.exists() and preview_bytes(kept.preview_url, client)
    client.post(f"/c/{conversation.id}/delete/")
    assert not path.exists() and Path(copy.preview.path).exists()


def fill_until(user: User, room: int) -> None:
    """`user` on a plan of 2 MB, with a message of their own filling it but for `room`."""
    from conversations import storage
    from webchat.models import Plan

    user.plan, _ = Plan.objects.get_or_create(name="two", storage_mb=2)
    user.save()
    Conversation.objects.filter(owner=user, title="filler").delete()
    filler = Message.objects.create(
        conversation=Conversation.objects.create(owner=user, title="filler"),
        role="user",
        content="",
    )
    filler.content = "x" * (2 * files.MB - room - storage.used(user, fresh=True))
    filler.save()
    storage.stored(user)
    assert storage.used(user, fresh=True) == 2 * files.MB - room


@pytest.mark.django_db(transaction=True)
def test_a_fork_counts_the_previews_it_copies(alice: User, bob: User, conversation: Conversation):
    from conversations import storage

    body = uploaded(logged_in(alice), conversation, "beach.jpg", samples.busy_photo())
    share = Share.objects.create(conversation=conversation, leaf=_sent(conversation, body))
    attachment = Attachment.objects.get(pk=body["id"])
    text = sum(storage.size(m) for m in share.messages())
    # Room for the file and the text, not for the preview too.
    fill_until(bob, text + attachment.size + attachment.preview_size - 1)
    assert logged_in(bob).post(f"/s/{share.token}/fork/").status_code == 403
    fill_until(bob, text + attachment.size + attachment.preview_size)
    assert logged_in(bob).post(f"/s/{share.token}/fork/").status_code == 302
    assert storage.used(bob, fresh=True) == 2 * files.MB


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_an_edit_that_keeps_an_image_counts_its_preview_again(
    alice: User, conversation: Conversation
):
    body = await _upload(alice, conversation, "beach.jpg", samples.busy_photo())
    socket, _ = await open_socket(alice, conversation.id)
    await send_files(socket, "look [sim words=1]", "grok-2-vision", body["id"])
    await socket.receive_until("done")
    attachment = await Attachment.objects.aget(pk=body["id"])
    again = "again [sim words=1]"
    room = len(again) + attachment.size + attachment.preview_size - 1
    await database_sync_to_async(fill_until)(alice, room)
    # The same file on a new first message (an edit of the first): a copy, counted again.
    await send_files(socket, again, "grok-2-vision", body["id"], parent=None)
    answer = await socket.receive()
    assert answer["code"] == "quota_exceeded" and "storage is full" in answer["message"]
    await socket.close()


@pytest.mark.django_db
def test_images_stored_before_previews_get_theirs_from_makepreviews(
    alice: User, conversation: Conversation
):
    client = logged_in(alice)
    big = uploaded(client, conversation, "beach.jpg", samples.busy_photo())
    small = uploaded(client, conversation, "small.jpg", samples.photo())
    original = Attachment.objects.get(pk=big["id"])
    edited = Message.objects.create(conversation=conversation, role="user", content="again")
    original.copy_to(edited, share_file=True)  # an edit keeps the same file
    for attachment in Attachment.objects.all():  # as stored before previews were made
        if attachment.preview:
            attachment.preview.storage.delete(attachment.preview.name)
    Attachment.objects.update(preview="", preview_size=0)
    said = io.StringIO()
    call_command("makepreviews", stdout=said)
    assert said.getvalue() == "Previews made: 1. Images that could not be read: 0.\n"
    both = Attachment.objects.filter(file=original.file.name)
    (name,) = {a.preview.name for a in both}
    (size,) = {a.preview_size for a in both}
    assert both.count() == 2 and name and size == both[0].preview.size
    preview = Image.open(io.BytesIO(preview_bytes(original.preview_url, client)))
    assert preview.size == (768, 512)
    assert not Attachment.objects.get(pk=small["id"]).preview
    call_command("makepreviews", stdout=said)
    assert said.getvalue().endswith("Previews made: 0. Images that could not be read: 0.\n")


@pytest.mark.django_db
def test_an_upload_removed_before_its_send_is_not_found_at_the_send(
    alice: User, conversation: Conversation
):
    from webchat.errors import NotFound

    body = uploaded(logged_in(alice), conversation, "a.txt", b"one")
    attachment = Attachment.objects.get(pk=body["id"])
    assert Attachment.objects.filter(pk=body["id"]).delete_unsent() == 1
    message = Message.objects.create(conversation=conversation, role="user", content="x")
    with pytest.raises(NotFound):
        Attachment.objects.attach([attachment], message)


@pytest.mark.django_db
def test_a_share_reader_sees_the_snapshots_files_until_the_link_is_revoked(
    alice: User, bob: User, conversation: Conversation
):
    client = logged_in(alice)
    body = uploaded(client, conversation, "pic.jpg", samples.photo())
    message = _sent(conversation, body)
    share = Share.objects.create(conversation=conversation, leaf=message)
    shared_url = f"/s/{share.token}/attachments/{body['id']}/"
    page = Client().get(share.get_absolute_url()).content.decode()
    assert shared_url in page and body["url"] not in page
    assert Client().get(shared_url).status_code == 200
    # A later upload, not in the snapshot, is not readable through the link.
    later = uploaded(client, conversation, "later.jpg", samples.photo())
    _sent(conversation, later)
    assert Client().get(f"/s/{share.token}/attachments/{later['id']}/").status_code == 404
    # Through another person's share, the same id is 404.
    theirs = Conversation.objects.create(owner=bob)
    their_leaf = Message.objects.create(conversation=theirs, role="user", content="x")
    their_share = Share.objects.create(conversation=theirs, leaf=their_leaf)
    assert Client().get(f"/s/{their_share.token}/attachments/{body['id']}/").status_code == 404
    client.post(f"/s/{share.token}/revoke/")
    assert Client().get(shared_url).status_code == 404


@pytest.mark.django_db
def test_forking_a_share_copies_its_files(alice: User, bob: User, conversation: Conversation):
    body = uploaded(logged_in(alice), conversation, "pic.jpg", samples.photo())
    share = Share.objects.create(conversation=conversation, leaf=_sent(conversation, body))
    response = logged_in(bob).post(f"/s/{share.token}/fork/")
    copy = Conversation.objects.owned_by(bob).get()
    assert response.url == copy.get_absolute_url()
    (attachment,) = copy.attachments.all()
    assert (
        attachment.owner == bob
        and attachment.file.name != Attachment.objects.get(pk=body["id"]).file.name
    )
    assert stored_bytes(str(attachment.id)) == stored_bytes(body["id"])
    assert logged_in(bob).get(attachment.url).status_code == 200


# --- Gone with what holds them ----------------------------------------------------------------
@pytest.mark.django_db(transaction=True)
def test_deleting_a_conversation_or_an_account_deletes_the_files(
    alice: User, conversation: Conversation, media: Path
):
    client = logged_in(alice)
    first = uploaded(client, conversation, "a.jpg", samples.photo())
    path = Path(Attachment.objects.get(pk=first["id"]).file.path)
    assert path.exists()
    client.post(f"/c/{conversation.id}/delete/")
    assert not path.exists() and not Attachment.objects.exists()
    other = Conversation.objects.create(owner=alice)
    second = uploaded(client, other, "b.txt", b"notes")
    path = Path(Attachment.objects.get(pk=second["id"]).file.path)
    alice.delete()
    assert not path.exists()


@pytest.mark.django_db
def test_an_unsent_upload_can_be_removed_but_a_sent_one_cannot(
    alice: User, conversation: Conversation, django_capture_on_commit_callbacks: Any
):
    client = logged_in(alice)
    unsent = uploaded(client, conversation, "a.txt", b"one")
    sent = uploaded(client, conversation, "b.txt", b"two")
    _sent(conversation, sent)
    with django_capture_on_commit_callbacks(execute=True):
        assert client.post(f"{unsent['url']}remove/").status_code == 200
    assert client.post(f"{sent['url']}remove/").status_code == 404
    assert list(Attachment.objects.values_list("name", flat=True)) == ["b.txt"]


@pytest.mark.django_db
def test_cleanattachments_deletes_old_uploads_never_sent(
    alice: User, conversation: Conversation, django_capture_on_commit_callbacks: Any
):
    from datetime import timedelta

    from django.utils import timezone

    client = logged_in(alice)
    old = uploaded(client, conversation, "old.txt", b"old")
    fresh = uploaded(client, conversation, "fresh.txt", b"fresh")
    sent = uploaded(client, conversation, "sent.txt", b"sent")
    _sent(conversation, sent)
    long_ago = timezone.now() - timedelta(days=3)
    Attachment.objects.filter(pk__in=[old["id"], sent["id"]]).update(created=long_ago)
    path = Path(Attachment.objects.get(pk=old["id"]).file.path)
    # A new chat that only ever had a file attached, long ago, goes with it.
    abandoned = Conversation.objects.create(owner=alice)
    dropped = uploaded(client, abandoned, "dropped.txt", b"dropped")
    recent = Conversation.objects.create(owner=alice)
    Conversation.objects.filter(pk=abandoned.pk).update(created=long_ago)
    Attachment.objects.filter(pk=dropped["id"]).update(created=long_ago)
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("cleanattachments", stdout=out)
    assert (
        "Deleted 1 upload never sent, 1 empty conversation and 0 temporary chats." in out.getvalue()
    )
    assert set(Attachment.objects.values_list("name", flat=True)) == {"fresh.txt", "sent.txt"}
    assert set(Conversation.objects.all()) == {conversation, recent}
    assert not path.exists()
    assert fresh


# --- Through the socket to the upstream -------------------------------------------------------
async def send_files(socket: Any, content: str, model: str, *ids: str, **extra: Any) -> None:
    """A `send` frame with these uploads."""
    frame = {"type": "send", "content": content, "model": model, "attachments": list(ids)}
    await socket.send({**frame, **extra})


async def _upload(user: User, conversation: Conversation, name: str, data: bytes) -> dict:
    return await database_sync_to_async(
        lambda: uploaded(logged_in(user), conversation, name, data)
    )()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_an_image_goes_upstream_exactly_as_stored(
    alice: User, conversation: Conversation, simulator: Simulator
):
    body = await _upload(alice, conversation, "pic.jpg", samples.photo(800, 600))
    stored = await database_sync_to_async(stored_bytes)(body["id"])
    socket, _ = await open_socket(alice, conversation.id)
    await send_files(
        socket, "What is this? [sim words=5]", "grok-2-vision", body["id"], client_id="c1"
    )
    ack = await socket.receive()
    assert ack["type"] == "ack", ack
    (listed,) = ack["message"]["attachments"]
    assert listed["id"] == body["id"] and listed["url"] == body["url"]
    frames = await socket.receive_until("done")
    content = simulator.requests[-1]["messages"][-1]["content"]
    assert content[0] == {"type": "text", "text": "What is this? [sim words=5]"}
    url = content[1]["image_url"]["url"]
    assert url == "data:image/jpeg;base64," + base64.b64encode(stored).decode()
    words = "".join(f["content"] for f in frames if f["type"] == "delta")
    assert words.startswith(
        f"I see 1 image: JPEG 800x600 #{hashlib.sha256(stored).hexdigest()[:12]}"
    )
    # The next turn sends the image again: the API keeps nothing between calls.
    await socket.send(
        {"type": "send", "content": "And now? [sim words=3]", "model": "grok-2-vision"}
    )
    await socket.receive_until("done")
    first = simulator.requests[-1]["messages"][0]["content"]
    assert first[1]["image_url"]["url"] == url
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_text_files_and_pdfs_go_upstream_fenced_and_named(
    alice: User, conversation: Conversation, simulator: Simulator
):
    code = await _upload(alice, conversation, "tricky.md", b"a ```fence``` inside")
    document = await _upload(alice, conversation, "report.pdf", samples.pdf())
    socket, _ = await open_socket(alice, conversation.id)
    await send_files(socket, "Summarise [sim words=3]", "grok-3", code["id"], document["id"])
    await socket.receive_until("done")
    sent = simulator.requests[-1]["messages"][-1]["content"]
    assert sent.startswith(
        "Summarise [sim words=3]\n\ntricky.md\n````md\na ```fence``` inside\n````"
    )
    assert "report.pdf\n```\nQuarterly report: revenue grew nine percent\n```" in sent
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_a_model_without_vision_is_refused_images_and_nothing_is_lost(
    alice: User, conversation: Conversation, simulator: Simulator
):
    body = await _upload(alice, conversation, "pic.jpg", samples.photo())
    asked = simulator.received
    socket, _ = await open_socket(alice, conversation.id)
    await send_files(socket, "What is this?", "grok-3", body["id"], client_id="c9")
    error = await socket.receive()
    assert error["type"] == "error" and error["code"] == "invalid_request"
    assert error["client_id"] == "c9" and "Grok 3 cannot read images" in error["message"]
    assert simulator.received == asked
    # Nothing stored, and the upload is still there to send with a model that can.
    assert not await database_sync_to_async(conversation.messages.exists)()
    assert await database_sync_to_async(Attachment.objects.filter(message=None).count)() == 1
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_someone_elses_upload_cannot_be_sent(
    alice: User, charlie: User, conversation: Conversation
):
    theirs = await database_sync_to_async(Conversation.objects.create)(owner=charlie)
    body = await _upload(charlie, theirs, "secret.txt", b"charlie's secret")
    socket, _ = await open_socket(alice, conversation.id)
    for ids in ([body["id"]], ["not-an-id"], [1], "x"):
        await socket.send({"type": "send", "content": "hi", "attachments": ids})
        error = await socket.receive()
        assert error["type"] == "error", error
        assert error["code"] in ("not_found", "invalid_request")
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_images_count_toward_the_reservation(
    alice: User, conversation: Conversation, settings: Any
):
    from webchat.models import UsageRecord

    settings.ATTACHMENT_IMAGE_TOKENS = 5000
    body = await _upload(alice, conversation, "pic.jpg", samples.photo())
    socket, _ = await open_socket(alice, conversation.id)
    await send_files(socket, "hi [sim words=2]", "grok-2-vision", body["id"])
    await socket.receive_until("done")
    record = await database_sync_to_async(UsageRecord.objects.get)()
    assert record.prompt_estimate >= 5000
    # Settled with what the upstream reported (the simulator: 1,000 per image).
    assert 1000 <= record.prompt_tokens < 5000
    await socket.close()


@pytest.mark.django_db
def test_exports_list_the_files(alice: User, conversation: Conversation):
    client = logged_in(alice)
    body = uploaded(client, conversation, "pic.jpg", samples.photo())
    _sent(conversation, body)
    exported = json.loads(client.get(f"/c/{conversation.id}/export.json").content)
    (listed,) = exported["messages"][0]["attachments"]
    assert listed["name"] == "pic.jpg" and listed["url"].endswith(body["url"])
    markdown = client.get(f"/c/{conversation.id}/export.md").content.decode()
    # A link, not an image: its address answers only the signed-in owner.
    assert f"\n[pic.jpg](http://testserver{body['url']})\n" in markdown and "![" not in markdown


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_a_message_of_files_alone_is_sent_and_named_after_them(
    alice: User, conversation: Conversation, simulator: Simulator
):
    body = await _upload(alice, conversation, "budget.csv", b"month,total\njan,10\n")
    socket, _ = await open_socket(alice, conversation.id)
    await send_files(socket, "", "grok-3", body["id"])
    await socket.receive_until("done")
    assert simulator.requests[-1]["messages"][-1]["content"] == (
        "budget.csv\n```csv\nmonth,total\njan,10\n```"
    )
    await database_sync_to_async(conversation.refresh_from_db)()
    assert conversation.title == "budget.csv"
    await socket.close()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("finish_generations")
async def test_earlier_images_are_named_not_sent_to_a_model_without_vision_or_past_the_context(
    alice: User, conversation: Conversation, simulator: Simulator
):
    from webchat.models import ChatModel

    first = await _upload(alice, conversation, "first.jpg", samples.photo(100, 100))
    second = await _upload(alice, conversation, "second.jpg", samples.photo(200, 100))
    socket, _ = await open_socket(alice, conversation.id)
    for body in (first, second):
        await send_files(socket, "and this? [sim words=2]", "grok-2-vision", body["id"])
        frames = await socket.receive_until("done")
    reply = next(f for f in frames if f["type"] == "start")["messages"][0]
    # The question's own image, to a model that cannot read it: refused, as its send was.
    await socket.send({"type": "regenerate", "message": reply, "model": "grok-3"})
    refused = await socket.receive()
    assert refused["type"] == "error" and refused["message"] == (
        "Grok 3 cannot read images, and this question has some: regenerate the reply with a "
        "model that can."
    )
    # Earlier images, to a model that cannot read them: named in the text instead.
    await socket.send({"type": "send", "content": "and now? [sim words=2]", "model": "grok-3"})
    frames = await socket.receive_until("done")
    sent = simulator.requests[-1]["messages"]
    assert all(isinstance(m["content"], str) for m in sent)
    assert "[An image, “first.jpg”, was attached here; it is not shown.]" in sent[0]["content"]
    # A context with room for one image beside the text and the reply: the newest goes.
    await database_sync_to_async(ChatModel.objects.filter(slug="grok-2-vision").update)(
        context_window=8192 + 2500, max_output_tokens=8192
    )
    await socket.send({"type": "regenerate", "message": reply, "model": "grok-2-vision"})
    await socket.receive_until("done")
    sent = simulator.requests[-1]["messages"]
    assert isinstance(sent[0]["content"], str) and "“first.jpg”" in sent[0]["content"]
    assert sent[2]["content"][1]["type"] == "image_url"
    await socket.close()


@pytest.mark.django_db
def test_a_file_is_read_apart_and_refused_past_its_time_or_pages(
    alice: User, conversation: Conversation, settings: Any
):
    client = logged_in(alice)
    settings.ATTACHMENT_PDF_MAX_PAGES = 0
    response = upload(client, conversation, "long.pdf", samples.pdf())
    assert response.status_code == 413 and "has 1 pages" in response.json()["error"]["message"]
    settings.ATTACHMENT_PDF_MAX_PAGES = 10
    # Its reader is a process of its own, killed past ATTACHMENT_DECODE_SECONDS.
    settings.ATTACHMENT_DECODE_SECONDS = 0.001
    response = upload(client, conversation, "slow.pdf", samples.pdf())
    assert response.status_code == 400 and "took too long" in response.json()["error"]["message"]
    assert not Attachment.objects.exists()


@pytest.mark.django_db
def test_a_file_too_large_to_decode_in_its_memory_is_refused(
    alice: User, conversation: Conversation, settings: Any
):
    settings.ATTACHMENT_DECODE_MB = 160
    big = samples.image("PNG", 7000, 7000)  # small on disk, 150 MB of pixels
    response = upload(logged_in(alice), conversation, "huge.png", big)
    assert response.status_code == 400
    assert "too large or too complex" in response.json()["error"]["message"]
    settings.ATTACHMENT_DECODE_MB = 1536
    assert upload(logged_in(alice), conversation, "huge.png", big).status_code == 201


@pytest.mark.parametrize(
    ("header", "code"),
    [
        # A preview longer than what came: its bytes would be taken from the image's.
        ({"preview_bytes": 100}, 0),
        # An answer whole but a reader that did not end well (killed writing it, say).
        ({"preview_bytes": 2}, 1),
    ],
)
async def test_a_reader_s_answer_that_does_not_add_up_is_refused(
    monkeypatch: pytest.MonkeyPatch, header: dict, code: int
):
    import asyncio
    import sys

    fields = {"kind": "image", "content_type": "image/png", "extension": ".png", **header}
    said = json.dumps(fields).encode() + b"\n" + b"0123456789"
    script = (
        f"import sys; sys.stdin.buffer.read(); sys.stdout.buffer.write({said!r}); sys.exit({code})"
    )
    real = asyncio.create_subprocess_exec

    async def liar(*args: Any, **kwargs: Any) -> Any:
        return await real(sys.executable, "-c", script, **kwargs)

    monkeypatch.setattr(files.asyncio, "create_subprocess_exec", liar)
    with pytest.raises(files.InvalidRequest, match="too large or too complex"):
        await files.process_apart("x.png", b"data", files.Limits.from_settings())


@pytest.mark.django_db(transaction=True)
async def test_a_reader_whose_upload_is_cancelled_is_killed_and_frees_its_place(settings: Any):
    import asyncio

    from conversations import attachments, files

    def readers() -> int:
        """This process's readers alive now (their command lines, from /proc): another
        worker of a parallel run has its own."""
        count = 0
        for proc in Path("/proc").glob("[0-9]*"):
            try:
                parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
                count += (
                    parent == os.getpid()
                    and b"conversations.files\0" in (proc / "cmdline").read_bytes()
                )
            except OSError:
                continue  # gone meanwhile
        return count

    settings.ATTACHMENT_DECODERS, settings.ATTACHMENT_DECODE_QUEUE = 1, 0
    attachments._gates.clear()  # a process reads these settings once: this test's anew
    limits = files.Limits.from_settings()

    async def read(person: int, name: str, data: bytes) -> files.Processed:
        async with attachments._reading(person):
            return await files.process_apart(name, data, limits)

    # A PDF of a million operators that draw nothing: seconds of work for its reader.
    slow = samples.pdf(busywork=1_000_000)
    task = asyncio.create_task(read(1, "slow.pdf", slow))
    await asyncio.sleep(0.3)
    # Its place is taken, and no one may wait for it.
    with pytest.raises(Exception, match="Many files are being read"):
        await read(2, "next.txt", b"hello")
    assert readers() == 1
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert readers() == 0
    done = await read(2, "next.txt", b"hello")
    assert isinstance(done, files.Processed) and done.text == "hello"
    # One person's files: ATTACHMENT_DECODES_PER_PERSON read at once, the rest of theirs
    # wait apart (someone else's go meanwhile), and past ATTACHMENTS_PER_MESSAGE, 429.
    settings.ATTACHMENT_DECODERS, settings.ATTACHMENT_DECODES_PER_PERSON = 4, 1
    settings.ATTACHMENTS_PER_MESSAGE = 2
    attachments._gates.clear()
    task = asyncio.create_task(read(1, "slow.pdf", slow))
    await asyncio.sleep(0.3)
    second = asyncio.create_task(read(1, "mine.txt", b"mine"))
    assert (await read(2, "theirs.txt", b"theirs")).text == "theirs"
    assert not second.done()  # waiting for its owner's first file
    with pytest.raises(Exception, match="Your other files are still being read") as refused:
        await read(1, "third.txt", b"third")
    assert refused.value.code == "rate_limited"
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert (await second).text == "mine"
    assert readers() == 0
    assert not attachments._gates[asyncio.get_running_loop()].people  # nothing held
    attachments._gates.clear()


@pytest.mark.django_db
def test_a_conversation_deleted_while_its_file_is_read_leaves_no_file(
    alice: User, conversation: Conversation, media: Path
):
    import uuid

    from django.http import Http404

    from conversations import attachments, files

    read = files.Processed("text", "text/plain; charset=utf-8", b"orphan?", ".txt", text="orphan?")
    with pytest.raises(Http404):
        attachments._keep(alice, uuid.uuid4(), "late.txt", read)
    assert not Attachment.objects.exists()
    assert not any(p.is_file() for p in media.rglob("*")) if media.exists() else True


@pytest.mark.django_db
def test_a_pdf_whose_text_holds_nuls_is_kept_without_them(alice: User, conversation: Conversation):
    body = uploaded(logged_in(alice), conversation, "odd.pdf", samples.pdf(r"one\000two"))
    assert Attachment.objects.get(pk=body["id"]).text == "onetwo"


@pytest.mark.django_db
def test_a_new_chat_holding_only_an_unsent_file_is_not_listed_in_the_sidebar(
    alice: User, conversation: Conversation
):
    client = logged_in(alice)
    uploaded(client, conversation, "draft.txt", b"not sent")
    assert f'data-id="{conversation.id}"' not in client.get("/").content.decode()
    _sent(conversation, uploaded(client, conversation, "sent.txt", b"sent"))
    assert f'data-id="{conversation.id}"' in client.get("/").content.decode()
