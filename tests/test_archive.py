"""A person's data in and out: the archive of everything (streamed), imported back whole;
a ChatGPT export imported as ChatGPT shows it; bad and hostile files refused with a
sentence and nothing of them kept."""

import hashlib
import io
import json
import uuid
import zipfile
from pathlib import Path
from typing import Any

import pytest
from asgiref.sync import sync_to_async
from django.db import IntegrityError, connection, transaction
from django.test import AsyncClient
from django.test.utils import CaptureQueriesContext
from PIL import Image

from conversations import archive
from conversations.models import (
    Attachment,
    Conversation,
    Feedback,
    Folder,
    Message,
    SavedPrompt,
    Summary,
)
from tests import chatgpt_export, samples
from tests.helpers import add_exchange, attach_image, logged_in, page
from webchat.models import Plan, User

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def media(settings: Any, tmp_path: Path) -> Path:
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


def stored_files(media: Path) -> list[Path]:
    return [p for p in media.rglob("*") if p.is_file()] if media.exists() else []


def branched(user: User, title: str = "Sauces") -> Conversation:
    """Two questions at the root (an edit), a regenerated reply, an image, a system prompt."""
    conversation = Conversation.objects.create(owner=user, title=title)
    first = add_exchange(conversation, "What is a roux?", "Flour and fat.")
    first.parent.params = {"system": "Be brief.", "temperature": 0.5}
    first.parent.save()
    Message.objects.create(
        conversation=conversation,
        parent=first.parent,
        role="assistant",
        content="Fat and flour, cooked.",
        model="grok-3-mini",
        params={"n": 2, "temperature": 0.5},
        prompt_tokens=12,
        completion_tokens=5,
    )
    conversation.current_leaf = None
    conversation.save()
    edited = add_exchange(conversation, "What is a béchamel?", "A white sauce.")
    attach_image(edited.parent, "sauce.png")
    return conversation


def shape(user: User) -> list[dict[str, Any]]:
    """What a person sees of their conversations, whatever the ids: each one's title and
    times, and its tree as (role, content, parent's content, model, params, files)."""
    shown = []
    for conversation in Conversation.objects.owned_by(user).order_by("created"):
        messages = list(conversation.messages.all())
        by_id = {m.id: m for m in messages}
        files: dict[Any, list[tuple[str, str]]] = {}
        for a in conversation.attachments.all():
            # An image is read again on import (re-encoded, as every upload is): its pixels
            # are what stays the same.
            data = a.file.open("rb").read()
            if a.kind == "image":
                data = Image.open(io.BytesIO(data)).convert("RGB").tobytes()
            digest = hashlib.sha256(data).hexdigest()
            files.setdefault(a.message_id, []).append((a.name, digest))
        tree = sorted(
            (
                m.role,
                m.content,
                by_id[m.parent_id].content if m.parent_id else None,
                m.model,
                json.dumps(m.params, sort_keys=True),
                m.created.isoformat(),
                tuple(files.get(m.id, ())),
            )
            for m in messages
        )
        leaf = by_id.get(conversation.current_leaf_id)
        shown.append(
            {
                "title": conversation.title,
                "created": conversation.created.isoformat(),
                "updated": conversation.updated.isoformat(),
                "leaf": leaf.content if leaf else None,
                "tree": tree,
                "organised": (
                    conversation.pinned,
                    conversation.archived,
                    conversation.folder.name if conversation.folder else None,
                ),
            }
        )
    return shown


def archive_of(user: User) -> bytes:
    return b"".join(archive._archive(user))


# --- Export -------------------------------------------------------------------------------


def test_the_archive_holds_every_branch_the_settings_and_the_files(alice: User, bob: User) -> None:
    conversation = branched(alice)
    Conversation.objects.create(owner=alice, title="Gone when left", temporary=True)
    Conversation.objects.create(owner=alice)  # made for a file never sent: not listed
    branched(bob, "Bob's")
    alice.custom_instructions = "Answer in French."
    alice.save()
    SavedPrompt.objects.create(owner=alice, name="Shorter", text="Say it shorter:")
    with zipfile.ZipFile(io.BytesIO(archive_of(alice))) as made:
        header = json.loads(made.read("archive.json"))
        [exported] = json.loads(made.read("conversations.json"))
        assert header["format"] == "webchat-archive" and header["username"] == "alice"
        assert header["preferences"]["custom_instructions"] == "Answer in French."
        assert header["prompts"] == [{"name": "Shorter", "text": "Say it shorter:"}]
        assert exported["title"] == "Sauces" and exported["id"] == str(conversation.id)
        assert len(exported["messages"]) == 5  # both branches, both replies of the first
        params = [m["params"] for m in exported["messages"] if m["params"]]
        assert params == [{"system": "Be brief.", "temperature": 0.5}, {"n": 2, "temperature": 0.5}]
        [attached] = [a for m in exported["messages"] for a in m["attachments"]]
        # Under its id, by its name: it opens as what it is from the unpacked archive.
        stored = conversation.attachments.get()
        assert attached["path"] == f"files/{stored.id}/sauce.png"
        assert made.read(attached["path"]) == stored.file.read()
        assert made.testzip() is None


@pytest.mark.parametrize(
    ("name", "content_type", "unpacked_as"),
    [
        ("notes.txt", "text/plain", "notes.txt"),
        ("run.bat", "text/plain", "run.bat.txt"),  # opens as text, as its download does
        ("Invoice.hta", "text/plain", "Invoice.hta.txt"),
        ("photo.jpg", "image/jpeg", "photo.jpg"),
        ("CON.txt", "text/plain", "_CON.txt"),
        ("nul .md", "text/plain", "_nul .md"),
        ("COM¹.txt", "text/plain", "_COM¹.txt"),
        ('<img src=x onerror="1">.txt', "text/plain", "_img src=x onerror=_1__.txt"),
        ("é" * 200 + ".txt", "text/plain", "é" * 98 + ".txt"),
        ("😀" * 199 + ".md", "text/plain", "😀" * 49 + ".md"),
    ],
)
def test_a_file_is_unpacked_under_a_name_any_system_can_write_and_opens_as_what_it_is(
    name: str, content_type: str, unpacked_as: str
) -> None:
    attachment = Attachment(id=uuid.uuid4(), name=name, content_type=content_type)
    path = archive._path(attachment)
    assert path == f"files/{attachment.id}/{unpacked_as}"
    assert len(path.rsplit("/", 1)[1].encode()) <= archive.NAME_BYTES


def test_the_archive_is_made_in_pieces_with_five_queries_per_hundred_conversations(
    alice: User,
) -> None:
    for n in range(250):
        add_exchange(Conversation.objects.create(owner=alice, title=f"c{n}"), "q", "a")
    with CaptureQueriesContext(connection) as queries:
        pieces = list(archive._archive(alice))
    assert len(pieces) > 3
    # The header's three, then five per batch of 100, and the empty batch that ends it.
    assert len(queries) <= 3 + 5 * 3 + 1
    with zipfile.ZipFile(io.BytesIO(b"".join(pieces))) as made:
        assert len(json.loads(made.read("conversations.json"))) == 250


@pytest.mark.django_db(transaction=True)
async def test_the_settings_page_streams_the_archive(alice: User) -> None:
    client = AsyncClient()
    await client.aforce_login(alice)
    response = await client.get("/settings/export/")
    assert response.status_code == 200 and response["Content-Type"] == "application/zip"
    assert response["Content-Disposition"].startswith('attachment; filename="webchat-alice-')
    body = b"".join([piece async for piece in response.streaming_content])
    assert zipfile.ZipFile(io.BytesIO(body)).namelist() == ["archive.json", "conversations.json"]


# --- Import -------------------------------------------------------------------------------


def test_an_archive_imported_gives_the_same_conversations_branches_and_files(
    alice: User, charlie: User, media: Path
) -> None:
    Conversation.objects.filter(pk=branched(alice).pk).update(
        pinned=True, folder=Folder.objects.create(owner=alice, name="Kitchen")
    )
    second = branched(alice, "Second")
    Conversation.objects.filter(pk=second.pk).update(archived=True)
    Folder.objects.create(owner=alice, name="Empty for now")
    alice.custom_instructions = "Answer in French."
    alice.default_temperature = 0.2
    alice.language = "es"
    alice.save()
    # A rating with its comment, and a summary standing for the thread down to a reply.
    reply = second.messages.filter(role="assistant").order_by("created").first()
    Feedback.objects.create(message=reply, user=alice, rating="down", comment="Too short.")
    Summary.objects.create(
        conversation=second, through=reply, content="Roux: fat and flour.", covers=2
    )
    SavedPrompt.objects.create(owner=alice, name="Shorter", text="Say it shorter:")
    SavedPrompt.objects.create(owner=charlie, name="Shorter", text="Mine stays.")
    made = archive_of(alice)
    assert archive.import_file(charlie, io.BytesIO(made)).imported == 2
    assert shape(charlie) == shape(alice)
    [rating] = Feedback.objects.filter(user=charlie)
    assert (rating.rating, rating.comment, rating.message.content) == (
        "down",
        "Too short.",
        reply.content,
    )
    [summary] = Summary.objects.filter(conversation__owner=charlie)
    assert (summary.content, summary.covers, summary.through.content) == (
        "Roux: fat and flour.",
        2,
        reply.content,
    )
    assert set(Folder.objects.filter(owner=charlie).values_list("name", flat=True)) == {
        "Kitchen",
        "Empty for now",
    }
    assert [c["organised"] for c in shape(charlie)] == [
        (True, False, "Kitchen"),
        (False, True, None),
    ]
    charlie.refresh_from_db()
    assert charlie.custom_instructions == "Answer in French." and charlie.default_temperature == 0.2
    assert charlie.language == "es"
    assert SavedPrompt.objects.get(owner=charlie).text == "Mine stays."
    # Every id is new, every file a copy: deleting the original leaves the copy whole.
    copies = Attachment.objects.filter(owner=charlie).count()
    Conversation.objects.owned_by(alice).delete()
    assert Attachment.objects.filter(owner=charlie).count() == copies == 2
    assert all(a.file.storage.exists(a.file.name) for a in Attachment.objects.all())


def test_the_same_file_imported_again_adds_nothing_twice(alice: User, charlie: User) -> None:
    assert archive.import_file(alice, io.BytesIO(chatgpt_export.as_zip())) == archive.Outcome(2, 0)
    assert archive.import_file(alice, io.BytesIO(chatgpt_export.as_json())) == archive.Outcome(0, 2)
    # A later export, with one of them continued since: that one comes again, as it is now;
    # the copy made before stays as it was (it may have been continued here too).
    later = chatgpt_export.conversations()
    later[0]["update_time"] += 86_400
    assert archive.import_file(alice, io.BytesIO(json.dumps(later).encode())) == archive.Outcome(
        1, 1
    )
    assert Conversation.objects.owned_by(alice).filter(title="Sauces").count() == 2
    # One deleted comes back with the next import of it.
    Conversation.objects.owned_by(alice).filter(title="Sauces").delete()
    assert archive.import_file(alice, io.BytesIO(json.dumps(later).encode())) == archive.Outcome(
        1, 1
    )
    # Someone else's import of the same file is theirs alone.
    assert archive.import_file(charlie, io.BytesIO(chatgpt_export.as_json())) == archive.Outcome(
        2, 0
    )


def test_ids_are_told_apart_whole_and_a_uuid_in_any_spelling_is_one(alice: User) -> None:
    data = chatgpt_export.conversations()
    data[0]["conversation_id"] = "P" * 300 + "-first"
    data[1]["conversation_id"] = "P" * 300 + "-second"
    assert archive.import_file(alice, io.BytesIO(json.dumps(data).encode())) == archive.Outcome(
        2, 0
    )
    # A ChatGPT id that is a UUID is one in any spelling too (an id of another kind is
    # taken as written: its case may tell two apart).
    data = chatgpt_export.conversations()[:1]
    data[0]["conversation_id"] = str(uuid.uuid4())
    assert archive.import_file(alice, io.BytesIO(json.dumps(data).encode())).imported == 1
    data[0]["conversation_id"] = data[0]["conversation_id"].upper()
    assert archive.import_file(alice, io.BytesIO(json.dumps(data).encode())) == archive.Outcome(
        0, 1
    )
    # An archive's ids, written another way, are the same conversations.
    mine = Conversation.objects.create(owner=alice, title="Mine")
    add_exchange(mine, "Hi", "Hello.")
    made = json.loads(zipfile.ZipFile(io.BytesIO(archive_of(alice))).read("conversations.json"))
    [ours] = [c for c in made if c["title"] == "Mine"]
    for spelling in (ours["id"].upper(), ours["id"].replace("-", ""), f"urn:uuid:{ours['id']}"):
        ours["id"] = spelling
        again = _zip(
            **{
                "archive.json": json.dumps({"format": "webchat-archive", "version": 1}),
                "conversations.json": json.dumps([ours]),
            }
        )
        assert archive.import_file(alice, io.BytesIO(again)) == archive.Outcome(0, 1), spelling


def test_an_import_that_died_on_the_way_hides_nothing_from_the_next(alice: User) -> None:
    archive.import_file(alice, io.BytesIO(chatgpt_export.as_json()))
    # What a process killed before the import's last step leaves: temporary chats.
    Conversation.objects.owned_by(alice).update(temporary=True)
    assert archive.import_file(alice, io.BytesIO(chatgpt_export.as_json())) == archive.Outcome(2, 0)


def test_a_file_holding_a_conversation_twice_adds_it_once(alice: User) -> None:
    data = chatgpt_export.conversations()
    data.append(data[0])
    assert archive.import_file(alice, io.BytesIO(json.dumps(data).encode())) == archive.Outcome(
        2, 1
    )
    # Conversations of no known source are never taken for each other.
    for conversation in data:
        conversation.pop("conversation_id", None)
    assert archive.import_file(alice, io.BytesIO(json.dumps(data).encode())) == archive.Outcome(
        3, 0
    )


def test_an_import_of_the_same_file_in_another_process_meanwhile_shows_it_once(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert archive.import_file(alice, io.BytesIO(chatgpt_export.as_json())) == archive.Outcome(2, 0)
    later = chatgpt_export.conversations()
    later[0]["update_time"] += 86_400
    # This import looked before the other one showed its conversations (in another
    # process, each with its own lock): it found nothing there yet.
    monkeypatch.setattr(archive, "_new", lambda user, conversations: conversations)
    assert archive.import_file(alice, io.BytesIO(json.dumps(later).encode())) == archive.Outcome(
        1, 1
    )
    assert Conversation.objects.owned_by(alice).filter(temporary=False).count() == 3
    assert not Conversation.objects.filter(temporary=True).exists()  # its copy deleted
    # The database holds to it even without that look.
    [shown] = Conversation.objects.owned_by(alice).filter(title="Sauces")[:1]
    with pytest.raises(IntegrityError), transaction.atomic():
        Conversation.objects.create(owner=alice, imported_from=shown.imported_from)
    Conversation.objects.create(owner=alice, imported_from=shown.imported_from, temporary=True)
    Conversation.objects.create(owner=alice)
    Conversation.objects.create(owner=alice)


@pytest.mark.django_db(transaction=True)
def test_copies_imported_twice_before_the_constraint_are_kept_unmarked() -> None:
    from django.db.migrations.executor import MigrationExecutor

    before = [("conversations", "0017_conversation_imported_from")]
    executor = MigrationExecutor(connection)
    executor.migrate(before)
    try:
        apps = executor.loader.project_state(before).apps
        Old = apps.get_model("conversations", "Conversation")
        owner = User.objects.create_user("twice").pk
        first, second, third = (
            Old.objects.create(owner_id=owner, title=t, imported_from="a" * 64) for t in "123"
        )
        other = Old.objects.create(owner_id=owner, imported_from="b" * 64)
    finally:
        executor.loader.build_graph()
        executor.migrate(executor.loader.graph.leaf_nodes())  # 0018 and every later one
    sources = dict(Conversation.objects.values_list("title", "imported_from"))
    assert sources == {"1": "a" * 64, "2": "", "3": "", "": "b" * 64}
    assert {first.pk, second.pk, third.pk, other.pk} == set(
        Conversation.objects.values_list("pk", flat=True)
    )


def test_an_archive_of_one_s_own_account_adds_only_what_was_deleted_since(alice: User) -> None:
    add_exchange(Conversation.objects.create(owner=alice, title="Kept"), "Hi", "Hello.")
    gone = Conversation.objects.create(owner=alice, title="Deleted since")
    add_exchange(gone, "Bye", "Goodbye.")
    made = archive_of(alice)
    assert archive.import_file(alice, io.BytesIO(made)) == archive.Outcome(0, 2)
    gone.delete()
    assert archive.import_file(alice, io.BytesIO(made)) == archive.Outcome(1, 1)
    assert sorted(Conversation.objects.owned_by(alice).values_list("title", flat=True)) == [
        "Deleted since",
        "Kept",
    ]
    # Imported, it is a copy like any other: the same archive again adds it no more.
    assert archive.import_file(alice, io.BytesIO(made)) == archive.Outcome(0, 2)


def test_a_chatgpt_export_imports_as_chatgpt_shows_it(alice: User) -> None:
    assert archive.import_file(alice, io.BytesIO(chatgpt_export.as_zip())).imported == 2
    sauces, fern = Conversation.objects.owned_by(alice).order_by("created")
    messages = {m.content: m for m in sauces.messages.all()}
    # The empty root, the hidden system message and the app's context are left out: the
    # two versions of the first question are siblings at the root.
    roots = [m.content for m in sauces.messages.filter(parent=None).order_by("created")]
    assert roots == ["What is a roux?", "What is a béchamel?"]
    assert messages["Flour cooked in fat."].parent == messages["What is a roux?"]
    assert messages["Flour cooked in fat."].model == "gpt-4o"
    # Reasoning, the browsing call and its result are left out; the reply's two parts are one.
    reply = messages["A white sauce:\n\nmilk thickened with a roux."]
    assert reply.parent == messages["What is a béchamel?"]
    follow = messages["And in code?"]
    assert follow.parent == reply and follow.created == sauces.created  # it had no time
    code = messages["```python\nsauce = roux + milk\n```"]
    assert sauces.current_leaf == code and sauces.messages.count() == 6
    assert sauces.title == "Sauces" and sauces.created.timestamp() == 1_700_000_000
    assert messages["What is a roux?"].created.timestamp() == 1_700_000_010
    # A visible system message is the conversation's system prompt; the image the export
    # has is attached (read as an upload is), the one it lacks is named.
    [question] = fern.messages.filter(role="user")
    assert question.params == {"system": "You are a botanist."}
    assert question.content == f"{archive.MISSING_IMAGE}\n\nWhat plant is this?"
    [image] = question.attachments.all()
    # A flat PNG stays a PNG, named so.
    assert image.kind == "image" and image.name.endswith("fern.png") and image.width == 64
    assert fern.title == "" and fern.current_leaf.content == "A fern."


def test_a_chatgpt_conversations_json_alone_imports_without_its_images(alice: User) -> None:
    assert archive.import_file(alice, io.BytesIO(chatgpt_export.as_json())).imported == 2
    question = Message.objects.get(content__endswith="What plant is this?")
    assert question.content.count(archive.MISSING_IMAGE) == 2
    assert not Attachment.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_settings_page_imports_and_says_how_many(alice: User) -> None:
    client = logged_in(alice)
    upload = io.BytesIO(chatgpt_export.as_zip())
    upload.name = "chatgpt.zip"
    response = client.post("/settings/import/", {"file": upload})
    assert response.status_code == 302 and response["Location"] == "/settings/?imported=2#data"
    assert "Imported 2 conversations." in client.get(response["Location"]).content.decode()
    upload.seek(0)
    again = client.post("/settings/import/", {"file": upload})
    assert again["Location"] == "/settings/?imported=0&skipped=2#data"
    said = client.get(again["Location"]).content.decode()
    assert "Nothing was added: all 2 conversations of the file were here already." in said
    assert "Imported 0" not in said
    # Some new, some not: both counts.
    skipped = client.get("/settings/?imported=1&skipped=1").content.decode()
    assert "Imported 1 conversation. 1 conversation of the file was here already" in skipped
    # Only a number in ASCII digits is one: a link of other digits shows no count.
    odd = client.get("/settings/?imported=1&skipped=%C2%B2")
    assert odd.status_code == 200 and "were here already" not in odd.content.decode()
    refused = client.post("/settings/import/", {"file": io.BytesIO(b"nonsense")})
    assert refused.status_code == 400
    assert "nor JSON that can be read" in refused.content.decode()
    assert client.post("/settings/import/", {}).status_code == 400


@pytest.mark.django_db(transaction=True)
def test_a_file_over_the_limit_is_refused_unread(alice: User, settings: Any) -> None:
    settings.IMPORT_MAX_MB = 1
    response = logged_in(alice).post(
        "/settings/import/", {"file": io.BytesIO(b"[" + b" " * 1_200_000 + b"]")}
    )
    assert response.status_code == 413 and "over the limit of 1 MB" in response.content.decode()


def _zip(**members: bytes | str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as made:
        for name, data in members.items():
            made.writestr(name, data)
    return buffer.getvalue()


def _ours(messages: list[dict[str, Any]], **files: bytes) -> bytes:
    header = {"format": "webchat-archive", "version": 1}
    conversation = {"title": "T", "messages": messages}
    return _zip(
        **{"archive.json": json.dumps(header), "conversations.json": json.dumps([conversation])},
        **{f"files/{k}": v for k, v in files.items()},
    )


def _mapping(**parents: str | None) -> bytes:
    nodes = {k: {"id": k, "parent": p, "message": None} for k, p in parents.items()}
    return json.dumps([{"title": "Loop", "mapping": nodes}]).encode()


def _user_says(key: str, text: Any, parent: str | None = None) -> dict[str, Any]:
    return {"id": key, "parent": parent, "role": "user", "content": text}


HOSTILE = {
    "not JSON": (b"\x89PNG\r\n", "nor JSON that can be read"),
    "nested a million deep": (b"[" * 1_000_000, "nor JSON that can be read"),
    "not a list": (b'{"mapping": {}}', "holds a list of conversations"),
    "no mapping": (b'[{"title": "x"}]', "has no tree of messages"),
    "a loop of parents": (_mapping(a="b", b="a"), "go round in a loop"),
    "a node its own parent": (_mapping(a=None, b="b"), "go round in a loop"),
    "a missing parent": (_mapping(a="nowhere"), "parent is missing"),
    "a title that is not text": (b'[{"title": {"x": 1}, "mapping": {}}]', "is not text"),
    "a message too long": (
        json.dumps(
            [
                {
                    "mapping": {
                        "m": {
                            "parent": None,
                            "message": {
                                "author": {"role": "user"},
                                "content": {"content_type": "text", "parts": ["x" * 1_000_001]},
                            },
                        }
                    }
                }
            ]
        ).encode(),
        "longer than 1,000,000 characters",
    ),
    "a ZIP of something else": (_zip(**{"notes.txt": "hi"}), "neither a webchat archive"),
    "a damaged ZIP": (_zip(**{"conversations.json": "[]"})[:-30], "nor JSON that can be read"),
    "a file from inside an archive": (
        json.dumps({"format": "webchat-archive", "version": 1}).encode(),
        "Import the whole archive",
    ),
    "an archive of another version": (
        _zip(**{"archive.json": '{"format": "webchat-archive", "version": 99}'}),
        "a version of webchat this one cannot read",
    ),
    "a message with a strange role": (
        _ours([{"id": "a", "parent": None, "role": "root", "content": "x"}]),
        "has the role 'root'",
    ),
    "two messages with one id": (
        _ours([_user_says("a", "x"), _user_says("a", "y")]),
        "two messages have the same id",
    ),
    "a file the archive lacks": (
        _ours([{**_user_says("a", "x"), "attachments": [{"name": "x", "path": "../etc/passwd"}]}]),
        "names a file the archive does not hold",
    ),
    "a file that is nothing": (
        _ours(
            [{**_user_says("a", "x"), "attachments": [{"name": "a.png", "path": "files/a"}]}],
            a=b"\x00" * 500,
        ),
        "A file in the import was refused",
    ),
}


@pytest.mark.parametrize("data,sentence", HOSTILE.values(), ids=HOSTILE.keys())
def test_a_bad_or_hostile_file_is_refused_whole(
    alice: User, media: Path, data: bytes, sentence: str
) -> None:
    branched(alice)
    before = shape(alice)
    files_before = stored_files(media)
    with pytest.raises(archive.Refused) as refused:
        archive.import_file(alice, io.BytesIO(data))
    assert sentence in refused.value.message
    assert shape(alice) == before and stored_files(media) == files_before


def test_times_no_database_can_hold_are_left_out_not_fatal(alice: User) -> None:
    """Year 1 at +14:00 is before year 1 in UTC (it answered 500)."""
    messages = [
        {**_user_says("a", "x"), "created": "0001-01-01T00:00:00+14:00"},
        {**_user_says("b", "y", "a"), "created": "9999-12-31T23:59:59-14:00"},
        {**_user_says("c", "z", "b"), "created": "2024-05-01T12:00:00+02:00"},
    ]
    archive.import_file(alice, io.BytesIO(_ours(messages)))
    created = dict(Message.objects.values_list("content", "created"))
    assert created["z"].isoformat() == "2024-05-01T10:00:00+00:00"
    assert created["x"] == created["y"] > created["z"]  # the import's own time


def test_a_compressed_bomb_is_refused_by_its_declared_size(alice: User, settings: Any) -> None:
    settings.IMPORT_MAX_MB = 1
    bomb = _zip(**{"conversations.json": b"[" + b" " * 50_000_000 + b"]"})
    assert len(bomb) < 100_000
    with pytest.raises(archive.Refused, match="too large to import"):
        archive.import_file(alice, io.BytesIO(bomb))


def test_too_many_conversations_are_refused(alice: User, settings: Any) -> None:
    settings.IMPORT_MAX_CONVERSATIONS = 1
    with pytest.raises(archive.Refused, match="more than 1 conversations"):
        archive.import_file(alice, io.BytesIO(chatgpt_export.as_json()))


def test_an_import_past_the_plan_storage_keeps_nothing(alice: User, media: Path) -> None:
    alice.plan = Plan.objects.create(name="tiny", storage_mb=0)
    alice.save()
    with pytest.raises(Exception, match="Your storage is full"):
        archive.import_file(alice, io.BytesIO(chatgpt_export.as_zip()))
    assert not Conversation.objects.exists() and stored_files(media) == []


def test_a_failure_while_writing_leaves_no_row_and_no_file(
    alice: User,
    media: Path,
    monkeypatch: pytest.MonkeyPatch,
    django_capture_on_commit_callbacks: Any,
) -> None:
    def fail(*args: Any, **kwargs: Any) -> None:
        raise RuntimeError("disk full")

    # Written in steps of one message: the failure after the last step undoes them all.
    monkeypatch.setattr(archive, "WRITE_BATCH", 1)
    monkeypatch.setattr(archive, "_take_settings", fail)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        archive.import_file(alice, io.BytesIO(chatgpt_export.as_zip()))
    assert not Conversation.objects.exists() and not Attachment.objects.exists()
    assert stored_files(media) == []


def test_one_import_reads_or_writes_at_a_time_and_the_next_waits_a_while(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "WAIT_SECONDS", 0.1)
    with archive._importing, pytest.raises(archive.Refused, match="Another import"):
        archive.import_file(alice, io.BytesIO(chatgpt_export.as_json()))


def test_a_process_takes_a_few_imports_at_once_and_refuses_one_more_at_once(
    alice: User,
) -> None:
    """Each runs in a thread of the imports' own: one more is refused, not queued behind
    them with its upload held."""
    with archive.admitted(), archive.admitted(), archive.admitted():
        response = logged_in(alice).post(
            "/settings/import/",
            {"file": io.BytesIO(chatgpt_export.as_json())},
            headers={"Accept": "text/html"},
        )
        assert "Another import is running" in response.content.decode()
    with archive.admitted():  # the places are given back
        pass


def test_an_import_s_files_hold_up_no_one_else_s_import(
    alice: User, bob: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Its files are decoded outside the one import's turn to read or write: another
    person's import goes on meanwhile (it was refused, for as long as the images took). A
    person's second import at once is refused."""
    real = archive.files.process_apart
    meanwhile = []

    async def slow(name: str, data: bytes, limits: Any) -> Any:
        again = io.BytesIO(chatgpt_export.as_json())
        meanwhile.append(await sync_to_async(archive.import_file)(bob, again))
        with pytest.raises(archive.Refused, match="Your other import"):
            await sync_to_async(archive.import_file)(alice, again)
        return await real(name, data, limits)

    monkeypatch.setattr(archive.files, "process_apart", slow)
    said = {**_user_says("m0", "look"), "attachments": [{"name": "a.png", "path": "files/a"}]}
    imported = archive.import_file(alice, io.BytesIO(_ours([said], a=samples.image("PNG"))))
    assert imported.imported == 1 and meanwhile == [archive.Outcome(2, 0)]
    assert Conversation.objects.owned_by(bob).count() == 2


def test_a_small_file_of_a_great_many_items_is_refused_as_they_are_counted(
    alice: User, settings: Any
) -> None:
    settings.IMPORT_MAX_CONVERSATIONS = 10
    bomb = _zip(**{"conversations.json": b"[" + b'{"mapping": {}},' * 3_000_000 + b"{}]"})
    assert len(bomb) < 200_000
    with pytest.raises(archive.Refused, match="more than 10 conversations"):
        archive.import_file(alice, io.BytesIO(bomb))


def test_nesting_past_what_an_export_holds_is_refused_unbuilt(alice: User) -> None:
    deep = b"[" + b'{"a": ' * 100 + b"1" + b"}" * 100 + b"]"
    with pytest.raises(archive.Refused, match="nor JSON that can be read"):
        archive.import_file(alice, io.BytesIO(deep))


def test_one_file_named_by_many_messages_is_read_once(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    read = []
    real = archive.files.process_apart

    async def counted(name: str, data: bytes, limits: Any) -> Any:
        read.append(name)
        return await real(name, data, limits)

    monkeypatch.setattr(archive.files, "process_apart", counted)
    attached = [{"name": "a.png", "path": "files/a"}]
    messages = [{**_user_says(f"m{n}", "x"), "attachments": attached} for n in range(30)]
    archive.import_file(alice, io.BytesIO(_ours(messages, a=samples.image("PNG"))))
    assert len(read) == 1 and Attachment.objects.filter(owner=alice).count() == 30


def test_an_imported_image_gets_its_preview_as_an_upload_does(alice: User) -> None:
    attached = [{"name": "beach.jpg", "path": "files/a"}]
    said = {**_user_says("m0", "look"), "attachments": attached}
    archive.import_file(alice, io.BytesIO(_ours([said], a=samples.busy_photo())))
    (imported,) = Attachment.objects.filter(owner=alice)
    assert imported.preview_size == imported.preview.size > 0
    with imported.preview.open("rb") as preview:
        assert Image.open(preview).size == (768, 512)


def test_the_storage_is_checked_before_any_file_is_read(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice.plan = Plan.objects.create(name="small", storage_mb=1)
    alice.save()
    monkeypatch.setattr(archive, "_process", None)  # reading a file would fail loudly
    big = samples.image("PNG") + b"\0" * 2_000_000
    attached = [{"name": "a.png", "path": "files/a"}]
    with pytest.raises(Exception, match="Your storage is full"):
        archive.import_file(
            alice, io.BytesIO(_ours([{**_user_says("m", "x"), "attachments": attached}], a=big))
        )


MALFORMED = {
    "a leaf that is a list": {"current_leaf": []},
    "files that are a number": {"messages": [{**_user_says("a", "x"), "attachments": 5}]},
    "too many files on a message": {
        "messages": [
            {**_user_says("a", "x"), "attachments": [{"name": "a", "path": "files/a"}] * 11}
        ]
    },
}


@pytest.mark.parametrize("changes", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_malformed_archive_is_refused_with_a_sentence(
    alice: User, changes: dict[str, Any]
) -> None:
    conversation = {"title": "T", "messages": [_user_says("a", "x")], **changes}
    data = _zip(
        **{
            "archive.json": json.dumps({"format": "webchat-archive", "version": 1}),
            "conversations.json": json.dumps([conversation]),
            "files/a": samples.image("PNG"),
        }
    )
    try:
        archive.import_file(alice, io.BytesIO(data))
    except archive.Refused as refused:
        assert len(refused.message) > 20
        assert not Conversation.objects.exists()
    else:
        # What is merely odd (a leaf that is not an id) is set aside, not refused.
        assert Conversation.objects.get().current_leaf is None


def test_an_archive_s_odd_settings_are_read_as_far_as_they_make_sense(alice: User) -> None:
    header = {
        "format": "webchat-archive",
        "version": 1,
        "preferences": 5,
        "prompts": [{"name": "x", "text": "one"}, {"name": " x ", "text": "two"}],
    }
    data = _zip(**{"archive.json": json.dumps(header), "conversations.json": "[]"})
    archive.import_file(alice, io.BytesIO(data))
    assert list(SavedPrompt.objects.values_list("name", "text")) == [("x", "one")]
    header["prompts"] = 5
    data = _zip(**{"archive.json": json.dumps(header), "conversations.json": "[]"})
    assert archive.import_file(alice, io.BytesIO(data)).imported == 0


@pytest.mark.parametrize("slug", ["\ud800", "\x00", 42])
def test_a_chatgpt_model_name_that_cannot_be_stored_is_cleaned(alice: User, slug: Any) -> None:
    data = chatgpt_export.conversations()
    data[0]["mapping"]["a1"]["message"]["metadata"]["model_slug"] = slug
    archive.import_file(alice, io.BytesIO(json.dumps(data).encode()))
    model = Message.objects.get(content="Flour cooked in fat.").model
    assert "\x00" not in model and not any(0xD800 <= ord(c) <= 0xDFFF for c in model)


def test_a_large_import_is_written_in_steps_that_leave_room_for_others(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    steps = []
    real = archive._write

    def counted(*args: Any) -> Any:
        steps.append(len(args[1]))
        # Between the steps, what is written is not shown: nothing half imported is seen.
        shown = Conversation.objects.owned_by(alice).filter(temporary=False)
        assert not shown.exists()
        return real(*args)

    monkeypatch.setattr(archive, "_write", counted)
    monkeypatch.setattr(archive, "WRITE_BATCH", 5)
    assert archive.import_file(alice, io.BytesIO(chatgpt_export.as_json())).imported == 2
    assert steps == [1, 1]  # six messages, then two: each conversation in a step of its own
    assert Conversation.objects.owned_by(alice).filter(temporary=False).count() == 2


def test_an_import_cut_off_by_a_dying_process_leaves_only_idle_temporary_chats(
    alice: User, settings: Any
) -> None:
    """What a step leaves if the process dies before the last one (no cleanup runs): chats
    not listed and not searched, which cleanattachments deletes once idle."""
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    found, _ = archive.read(io.BytesIO(chatgpt_export.as_json()))
    archive._write(alice, found.conversations[:1], {})
    [left] = Conversation.objects.owned_by(alice)
    assert left.temporary and left.messages.count() == 6
    assert "Sauces" not in page(logged_in(alice), "/")
    Conversation.objects.filter(pk=left.pk).update(
        updated=timezone.now() - timedelta(hours=settings.ATTACHMENT_UNSENT_HOURS + 1)
    )
    call_command("cleanattachments", stdout=io.StringIO())
    assert not Conversation.objects.filter(pk=left.pk).exists()


def test_one_conversation_too_large_is_refused_while_it_is_read(
    alice: User, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(archive, "MAX_ITEM_VALUES", 10_000)
    bomb = _zip(**{"conversations.json": b'[{"messages": [' + b"{}," * 100_000 + b"{}]}]"})
    with pytest.raises(archive.Refused, match="too large to import"):
        archive.import_file(alice, io.BytesIO(bomb))


def test_a_failed_import_takes_its_new_folders_with_it(
    alice: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    Folder.objects.create(owner=alice, name="Mine")
    conversations = [
        {"title": f"T{n}", "folder": name, "messages": [_user_says("a", "x")]}
        for n, name in enumerate(["Mine", "New one", "New two"])
    ]
    data = _zip(
        **{
            "archive.json": json.dumps({"format": "webchat-archive", "version": 1}),
            "conversations.json": json.dumps(conversations),
        }
    )
    written = []
    real = archive._write

    def fails_second(*args: Any) -> Any:
        if written:
            raise RuntimeError("the database went away")
        written.append(1)
        return real(*args)

    monkeypatch.setattr(archive, "WRITE_BATCH", 1)
    monkeypatch.setattr(archive, "_write", fails_second)
    with django_capture_on_commit_callbacks(execute=True), pytest.raises(RuntimeError):
        archive.import_file(alice, io.BytesIO(data))
    assert not Conversation.objects.exists()
    assert list(Folder.objects.values_list("name", flat=True)) == ["Mine"]


def test_a_reply_in_many_parts_is_joined_whole(alice: User) -> None:
    chain = [
        {"id": "r", "parent": None, "message": None},
        {
            "id": "q",
            "parent": "r",
            "message": {
                "author": {"role": "user"},
                "content": {"content_type": "text", "parts": ["q"]},
            },
        },
    ]
    for n in range(20_000):
        chain.append(
            {
                "id": f"a{n}",
                "parent": chain[-1]["id"],
                "message": {
                    "author": {"role": "assistant"},
                    "content": {"content_type": "text", "parts": [f"part {n}"]},
                },
            }
        )
    data = json.dumps([{"title": "Long", "mapping": {c["id"]: c for c in chain}}]).encode()
    archive.import_file(alice, io.BytesIO(data))
    reply = Message.objects.get(role="assistant")
    assert reply.content.startswith("part 0\n\npart 1\n\n") and reply.content.endswith("part 19999")


def test_what_an_archive_claims_of_a_summary_is_not_taken_for_what_it_covers(
    alice: User,
) -> None:
    """A summary stands for the thread down to its message, whatever the file says (a
    huge count would overflow the next summary's)."""
    reply = {"id": "r", "parent": "q", "role": "assistant", "content": "A roux."}
    reply["summary"] = {"content": "Roux talk.", "covers": 2_147_483_647}
    reply["feedback"] = {"rating": "sideways", "comment": "x"}  # not a rating: left out
    archive.import_file(alice, io.BytesIO(_ours([_user_says("q", "What is a roux?"), reply])))
    [summary] = Summary.objects.filter(conversation__owner=alice)
    assert summary.covers == 2 and summary.content == "Roux talk."
    assert not Feedback.objects.exists()


def test_an_import_whose_chats_a_cleanup_took_meanwhile_keeps_nothing_and_says_so(
    alice: User, monkeypatch: pytest.MonkeyPatch, django_capture_on_commit_callbacks: Any
) -> None:
    real = archive._write

    def then_a_cleanup(*args: Any) -> Any:
        written = real(*args)
        Conversation.objects.filter(pk=written[0].pk).delete()  # as an idle temporary chat
        return written

    monkeypatch.setattr(archive, "_write", then_a_cleanup)
    monkeypatch.setattr(archive, "WRITE_BATCH", 5)
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(archive.Refused, match="interrupted"),
    ):
        archive.import_file(alice, io.BytesIO(chatgpt_export.as_json()))
    assert not Conversation.objects.exists()
