"""A person's data in their own hands: every conversation out in one archive, and
conversations in from such an archive or from a ChatGPT data export.

The archive is a ZIP, streamed as it is made, so a large history is never held whole:
- `archive.json`: what it is (`format`, `version`), when it was made, whose, and the
  person's preferences (their language too), saved prompts and folders (empty ones too);
- `conversations.json`: a list of conversations, each with every message of its tree
  (every branch), each message naming its parent and its attachments' files, with the
  person's rating of it and the summary that stands for the thread down to it, if any;
- `files/<attachment id>/<its name>`: those files, as stored.

An import reads that archive, or a ChatGPT export: its `conversations.json` alone or the
export's ZIP (whose images come along). Everything is read and checked before anything is
written, files included, then written in one transaction: a bad or hostile file is
refused with a sentence naming what is wrong, and nothing of it is kept.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import math
import re
import threading
import uuid
import zipfile
from collections import defaultdict
from collections.abc import AsyncIterator, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import IO, Any

import ijson
from asgiref.sync import async_to_sync, sync_to_async
from django.conf import settings
from django.db import close_old_connections, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.translation import gettext, gettext_lazy

from conversations import files, search, storage
from conversations.models import (
    MAX_FOLDERS,
    MAX_PROMPT_CHARS,
    MAX_PROMPTS,
    Attachment,
    Conversation,
    Feedback,
    Folder,
    Message,
    SavedPrompt,
    Summary,
)
from webchat import sql
from webchat.errors import InvalidRequest
from webchat.models import User

FORMAT = "webchat-archive"
VERSION = 1
# Conversations per database trip while exporting, and bytes per piece of a file.
BATCH = 100
CHUNK = 1 << 20
# What an imported message may hold: a reply can be longer than a message one sends.
MAX_MESSAGE_CHARS = 1_000_000
MAX_SYSTEM_CHARS = settings.CHAT_MAX_MESSAGE_CHARS
# The settings a message keeps (its conversation's system prompt, temperature, length, and
# the candidates asked for).
PARAMS = {"system": str, "temperature": (int, float), "max_tokens": int, "n": int}
PREFERENCES = (
    "default_model",
    "custom_instructions",
    "default_temperature",
    "default_max_tokens",
    "language",
)
# An import's reading of its file (a core, and the file's size in memory) and its writing
# go one import at a time per server process; another import waits up to WAIT_SECONDS for
# its turn. The files it holds, decoded in between, take their turns file by file with
# other imports' files, ATTACHMENT_DECODERS at a time: an archive of many slow images holds
# up no one else's import (it held them all, refused, for as long as its images took). A
# person has one import at a time, and a process IMPORTS_AT_ONCE, each in a thread of
# their own (`imports`), not in those the other views and uploads share; one more is
# refused at once.
IMPORTS_AT_ONCE = 3
WAIT_SECONDS = 30
imports = ThreadPoolExecutor(IMPORTS_AT_ONCE, thread_name_prefix="import")
_places = threading.BoundedSemaphore(IMPORTS_AT_ONCE)
_importing = threading.Lock()
_decoding = threading.BoundedSemaphore(settings.ATTACHMENT_DECODERS)
_importers: set[Any] = set()
_importers_lock = threading.Lock()


# --- Export ---------------------------------------------------------------------------------


class _Sink:
    """Where the ZIP is written: it keeps what was written since the last `take()`. Not
    seekable, so zipfile writes each entry's sizes after its data."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def seekable(self) -> bool:
        return False

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def archive_name(user: User) -> str:
    return f"webchat-{user.get_username()}-{timezone.localdate():%Y-%m-%d}.zip"


async def export(user: User) -> AsyncIterator[bytes]:
    """The archive of everything `user` keeps, piece by piece. Its database work and its
    compression run in a pool thread, one batch at a time, never on the event loop."""
    pieces = _archive(user)

    def step() -> bytes | None:
        close_old_connections()
        return next(pieces, None)

    while (piece := await sync_to_async(step, thread_sensitive=False)()) is not None:
        if piece:
            yield piece


def _archive(user: User) -> Iterator[bytes]:
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("archive.json", json.dumps(_header(user), ensure_ascii=False, indent=1))
        yield sink.take()
        attachments: list[Attachment] = []
        with archive.open("conversations.json", "w", force_zip64=True) as out:
            out.write(b"[")
            after: tuple[datetime, uuid.UUID] | None = None
            first = True
            while True:
                batch, after = _conversations(user, after)
                if not batch:
                    break
                for conversation, kept in batch:
                    out.write((b"" if first else b",\n") + _dumps(conversation))
                    attachments.extend(kept)
                    first = False
                yield sink.take()
            out.write(b"]")
        yield sink.take()
        for attachment in attachments:
            with (
                archive.open(_path(attachment), "w", force_zip64=True) as out,
                attachment.file.open("rb") as stored,
            ):
                while chunk := stored.read(CHUNK):
                    out.write(chunk)
                    yield sink.take()
    yield sink.take()


def _header(user: User) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "version": VERSION,
        "exported": timezone.now().isoformat(),
        "username": user.get_username(),
        "preferences": {name: getattr(user, name) for name in PREFERENCES},
        "prompts": list(user.saved_prompts.values("name", "text")),
        "folders": list(
            Folder.objects.filter(owner=user).order_by("name").values_list("name", flat=True)
        ),
    }


Cursor = tuple[datetime, uuid.UUID] | None


def _conversations(
    user: User, after: Cursor
) -> tuple[list[tuple[dict[str, Any], list[Attachment]]], Cursor]:
    """The next BATCH conversations (oldest first), each as exported with the attachments
    it names, and where the batch after it starts: five queries per batch, whatever the
    number of messages."""
    rows = (
        Conversation.objects.owned_by(user)
        .filter(temporary=False)
        # As the sidebar lists them: one made for a file never sent is nobody's chat.
        .filter(~Q(title="") | Q(current_leaf__isnull=False))
        .select_related("folder")
        .order_by("created", "id")
    )
    if after is not None:
        created, id = after
        rows = rows.filter(created__gt=created) | rows.filter(created=created, id__gt=id)
    conversations = list(rows[:BATCH])
    ids = [c.id for c in conversations]
    messages: dict[uuid.UUID, list[Message]] = defaultdict(list)
    for message in Message.objects.filter(conversation__in=ids).order_by("created", "id"):
        messages[message.conversation_id].append(message)
    attached: dict[uuid.UUID, list[Attachment]] = defaultdict(list)
    sent = Attachment.objects.filter(conversation__in=ids, message__isnull=False).defer("text")
    for attachment in sent:
        attached[attachment.message_id].append(attachment)
    ratings = {
        f.message_id: {"rating": f.rating, "comment": f.comment}
        for f in Feedback.objects.filter(message__conversation__in=ids)
    }
    summaries = {
        s.through_id: {"content": s.content, "model": s.model, "covers": s.covers}
        for s in Summary.objects.filter(conversation__in=ids)
    }
    batch = []
    for conversation in conversations:
        kept = [a for m in messages[conversation.id] for a in attached[m.id]]
        exported = {
            "id": str(conversation.id),
            "title": conversation.title,
            "created": conversation.created.isoformat(),
            "updated": conversation.updated.isoformat(),
            "current_leaf": str(conversation.current_leaf_id or "") or None,
            "pinned": conversation.pinned,
            "archived": conversation.archived,
            "folder": conversation.folder.name if conversation.folder else None,
            "messages": [
                {
                    **_message(m, attached[m.id]),
                    "feedback": ratings.get(m.id),
                    "summary": summaries.get(m.id),
                }
                for m in messages[conversation.id]
            ],
        }
        batch.append((exported, kept))
    last = conversations[-1] if conversations else None
    return batch, (last.created, last.id) if last else None


def _message(message: Message, attachments: list[Attachment]) -> dict[str, Any]:
    return {
        **message.as_dict(),
        "params": message.params,
        "prompt_tokens": message.prompt_tokens,
        "completion_tokens": message.completion_tokens,
        "reasoning_ms": message.reasoning_ms,
        "attachments": [{"name": a.name, "kind": a.kind, "path": _path(a)} for a in attachments],
    }


def _path(attachment: Attachment) -> str:
    """Where a file is in the archive: under its id (names repeat), by the name a download
    of it gets (a text file named "run.bat" is "run.bat.txt"), so that it opens as what it
    is, and only as that, from the unpacked archive; a name any system can write: no
    character Windows refuses, no device's name, at most NAME_BYTES long."""
    name = _UNWRITABLE.sub("_", files.display_name(attachment.download_name)).rstrip(". ")
    if name.split(".")[0].rstrip(" ").upper() in _DEVICES:  # "CON .txt" is CON too
        name = "_" + name
    stem, dot, extension = name.rpartition(".")
    if not stem or len(extension) > 16:
        stem, dot, extension = name, "", ""
    room = NAME_BYTES - len((dot + extension).encode())
    stem = stem.encode()[:room].decode(errors="ignore")
    return f"files/{attachment.id}/{stem + dot + extension or 'file'}"


# File names on most systems are at most 255 bytes; some unpackers add to them.
NAME_BYTES = 200
_UNWRITABLE = re.compile(r'[<>:"/\\|?*\x00-\x1f]')
_DEVICES = {
    "CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
    *(f"{d}{n}" for d in ("COM", "LPT") for n in [*range(10), "¹", "²", "³"]),
}  # fmt: skip


def _dumps(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False).encode()


# --- Import: what a file holds, read and checked --------------------------------------------


class Refused(InvalidRequest):
    """The file is not one we can import: the sentence says why; nothing was kept."""


@dataclass
class FileRef:
    name: str
    member: str  # its entry in the uploaded ZIP
    processed: files.Processed | None = None


@dataclass
class Node:
    key: str
    parent: str | None
    role: str
    content: str
    created: datetime | None = None
    model: str = ""
    reasoning: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    status: str = Message.Status.COMPLETE
    finish_reason: str = ""
    error_code: str = ""
    error_message: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    reasoning_ms: int | None = None
    files: list[FileRef] = field(default_factory=list)
    feedback: dict[str, str] | None = None  # rating, comment
    summary: dict[str, str] | None = None  # content, model


@dataclass
class Imported:
    title: str
    nodes: list[Node]  # every parent before its children
    leaf: str | None
    created: datetime | None = None
    updated: datetime | None = None
    pinned: bool = False
    archived: bool = False
    folder: str = ""
    source: str = ""  # the file's id of it, if it has one: `webchat:<uuid>`, `chatgpt:<id>`

    @property
    def imported_from(self) -> str:
        """The source as of the version the file holds (a conversation continued since
        then is another version, imported again), as a digest: an id of any length
        counts whole."""
        if not self.source:
            return ""
        version = f"{self.source}@{self.updated.isoformat() if self.updated else ''}"
        return hashlib.sha256(version.encode()).hexdigest()


@dataclass
class Found:
    """What an uploaded file holds, checked, ready to be written."""

    conversations: list[Imported]
    preferences: dict[str, Any] = field(default_factory=dict)
    prompts: list[dict[str, str]] = field(default_factory=list)
    folders: list[str] = field(default_factory=list)  # the archive's, empty ones too


def read(upload: IO[bytes]) -> tuple[Found, zipfile.ZipFile | None]:
    """The conversations (and, from our own archive, the settings) of an uploaded file."""
    if zipfile.is_zipfile(upload):
        upload.seek(0)
        try:
            archive = zipfile.ZipFile(upload)
            names = set(archive.namelist())
        except (zipfile.BadZipFile, OSError, ValueError):
            raise Refused(gettext("This ZIP file is damaged.")) from None
        if len(names) > settings.IMPORT_MAX_FILES + 10:
            raise Refused(gettext("This ZIP file holds too many files to be an export."))
        if "archive.json" in names:
            header = _loads(_small(archive, "archive.json", 1_000_000 + MAX_MESSAGE_CHARS))
            if not isinstance(header, dict) or header.get("format") != FORMAT:
                raise Refused(gettext("This ZIP file is not a webchat archive."))
            if header.get("version") != VERSION:
                raise Refused(
                    gettext("This archive was made by a version of webchat this one cannot read.")
                )
            with _opened(archive, "conversations.json") as stream:
                found = _ours(header, _items(stream, OURS_NOT_A_LIST), names)
        elif "conversations.json" in names:
            with _opened(archive, "conversations.json") as stream:
                found = _chatgpt(_items(stream, NOT_A_LIST), names)
        else:
            raise Refused(
                gettext(
                    "This ZIP file is neither a webchat archive nor a ChatGPT export: it has no "
                    "conversations.json."
                )
            )
        return found, archive
    upload.seek(0)
    head = upload.read(64).lstrip()
    upload.seek(0)
    if head.startswith(b"{") and _loads(upload.read(2_000_000)).get("format") == FORMAT:
        raise Refused(
            gettext("Import the whole archive (the .zip file), not a file from inside it.")
        )
    upload.seek(0)
    return _chatgpt(_items(upload, NOT_A_LIST), set()), None


NOT_A_LIST = gettext_lazy(
    "This file is not a ChatGPT export: a ChatGPT export's conversations.json holds a list "
    "of conversations."
)
OURS_NOT_A_LIST = gettext_lazy("The archive's conversations.json is not a list of conversations.")
NOT_JSON = gettext_lazy(
    "This file is neither a ZIP archive nor JSON that can be read, or it is damaged."
)


def _small(archive: zipfile.ZipFile, name: str, limit: int) -> bytes:
    with _opened(archive, name, limit) as member:
        return member.read(limit + 1)


@contextlib.contextmanager
def _opened(archive: zipfile.ZipFile, name: str, limit: int = 0) -> Iterator[IO[bytes]]:
    """An entry of the ZIP, read as it is used, after its declared size is checked (what
    it unpacks to is held to that size)."""
    if name not in archive.namelist():
        raise Refused(gettext("The archive has no %(name)s.") % {"name": name})
    info = archive.getinfo(name)
    if info.file_size > (limit or settings.IMPORT_MAX_MB * 2 * files.MB):
        raise Refused(gettext("%(name)s is too large to import.") % {"name": name})
    try:
        with archive.open(info) as member:
            yield member
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
        raise Refused(
            gettext("%(name)s in this ZIP file cannot be read.") % {"name": name}
        ) from None


# No export nests deeper than this; deeper is a file made to cost the parser. Nor does a
# conversation hold more than this many values and characters of text (one is built whole
# before it is checked: past this, the file is refused as it is read).
MAX_DEPTH = 64
MAX_ITEM_VALUES = 2_000_000
MAX_ITEM_CHARS = 100_000_000
TOO_BIG = gettext_lazy("A conversation in this file is too large to import.")


def _items(stream: IO[bytes], not_a_list: Any) -> Iterator[Any]:
    """The items of the JSON list in `stream`, one at a time: the whole file is never held
    (a small file that unpacks to a great many items costs only the items read before the
    counts refuse it), and nothing nested deeper than MAX_DEPTH is built. Each item is
    built from ijson's events here: its own builder keeps every level's path, which costs
    the square of the depth."""
    head = stream.read(64)
    if not head.lstrip().startswith(b"["):
        raise Refused(not_a_list if head.lstrip().startswith(b"{") else NOT_JSON)
    events = ijson.basic_parse(_Prefixed(head, stream), use_float=True)
    stack: list[tuple[Any, Any]] = []  # (container, the key its next value goes under)
    values = chars = 0  # what the item being built holds so far
    try:
        next(events)  # the list's start
        for event, value in events:
            values += 1
            chars += len(value) if isinstance(value, str) else 0
            if values > MAX_ITEM_VALUES or chars > MAX_ITEM_CHARS:
                raise Refused(TOO_BIG)
            if event in ("start_map", "start_array"):
                if len(stack) >= MAX_DEPTH:
                    raise Refused(NOT_JSON)
                stack.append(({} if event == "start_map" else [], None))
                continue
            if event == "map_key":
                stack[-1] = (stack[-1][0], value)
                continue
            if event in ("end_map", "end_array"):
                if not stack:
                    return  # the end of the list
                value = stack.pop()[0]
            if not stack:
                values = chars = 0
                yield value
            elif isinstance(stack[-1][0], dict):
                stack[-1][0][stack[-1][1]] = value
            else:
                stack[-1][0].append(value)
    except ijson.JSONError:
        raise Refused(NOT_JSON) from None


class _Prefixed:
    """`stream` with `head`, already read from it, put back in front."""

    def __init__(self, head: bytes, stream: IO[bytes]) -> None:
        self.head, self.stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if self.head and size != 0:  # ijson first reads nothing, to learn bytes from text
            data, self.head = self.head, b""
            return data
        return self.stream.read(size)


def _loads(data: bytes) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError):
        raise Refused(NOT_JSON) from None


def _text(value: Any, what: str, limit: int = MAX_MESSAGE_CHARS) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise Refused(gettext("%(what)s is not text.") % {"what": what})
    if len(value) > limit:
        raise Refused(
            gettext("%(what)s is longer than %(limit)s characters.")
            % {"what": what, "limit": number_format(limit, force_grouping=True)}
        )
    # Nothing a database refuses to store: NUL, and halves of a character.
    return files.UNSTORABLE.sub("\ufffd", value.replace("\x00", ""))


def _when(value: Any) -> datetime | None:
    """A time given as seconds since 1970 or ISO 8601; None when missing or absurd."""
    try:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            if math.isfinite(value) and 0 <= value < 4_102_444_800:
                return datetime.fromtimestamp(value, tz=UTC)
        elif isinstance(value, str) and len(value) < 40:
            when = datetime.fromisoformat(value)
            when = (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)
            # As the seconds above: a year the database and every time zone can hold.
            return when if 1970 <= when.year < 2100 else None
    except (ValueError, OverflowError, OSError):
        pass
    return None


def _ordered(nodes: dict[str, Node], title: str) -> list[Node]:
    """Every node after its parent, siblings oldest first; a parent that is not in the
    conversation, or a loop of parents, refuses the file."""
    children: dict[str | None, list[Node]] = defaultdict(list)
    for node in nodes.values():
        if node.parent is not None and node.parent not in nodes:
            raise Refused(
                gettext("In “%(title)s”, a message's parent is missing.") % {"title": title}
            )
        children[node.parent].append(node)
    ordered: list[Node] = []
    stack = [None]
    while stack:
        key = stack.pop()
        kids = sorted(children[key], key=lambda n: n.created or datetime.min.replace(tzinfo=UTC))
        ordered.extend(kids)
        stack.extend(reversed([n.key for n in kids]))
    if len(ordered) != len(nodes):
        raise Refused(
            gettext("In “%(title)s”, the messages' parents go round in a loop.") % {"title": title}
        )
    return ordered


class _Tally:
    """The counts of what a file holds, checked as it is read: past a limit the file is
    refused at once, before the rest of it is read."""

    def __init__(self) -> None:
        self.conversations = self.messages = self.files = 0

    def add(self, imported: Imported) -> Imported:
        self.conversations += 1
        self.messages += len(imported.nodes)
        self.files += sum(len(n.files) for n in imported.nodes)
        for count, most, what in (
            (self.conversations, settings.IMPORT_MAX_CONVERSATIONS, gettext("conversations")),
            (self.messages, settings.IMPORT_MAX_MESSAGES, gettext("messages")),
            (self.files, settings.IMPORT_MAX_FILES, gettext("attached files")),
        ):
            if count > most:
                raise Refused(
                    gettext(
                        "This file holds more than %(most)s %(what)s, the most imported at once."
                    )
                    % {"most": number_format(most, force_grouping=True), "what": what}
                )
        return imported


def _attached(refs: list[FileRef], title: str) -> list[FileRef]:
    most = settings.ATTACHMENTS_PER_MESSAGE
    if len(refs) > most:
        raise Refused(
            gettext("In “%(title)s”, a message has more than %(most)s files.")
            % {"title": title, "most": most}
        )
    return refs


# --- webchat's own archive ------------------------------------------------------------------


def _uuid(value: Any) -> uuid.UUID | None:
    """An id written as a UUID, in any of its spellings; None for anything else."""
    try:
        return uuid.UUID(value) if isinstance(value, str) and len(value) <= 45 else None
    except ValueError:
        return None


def _title(raw: dict[str, Any], number: int) -> tuple[str, str]:
    """A conversation's title, and how a sentence about it names it."""
    what = gettext("The title of conversation %(number)s") % {"number": number}
    title = _text(raw.get("title"), what, 10_000)[:200]
    return title, title or gettext("conversation %(number)s") % {"number": number}


def _ours(header: dict[str, Any], data: Iterator[Any], names: set[str]) -> Found:
    conversations, tally = [], _Tally()
    for number, raw in enumerate(data, 1):
        if not isinstance(raw, dict) or not isinstance(raw.get("messages"), list):
            raise Refused(
                gettext("Conversation %(number)s of the archive has no list of messages.")
                % {"number": number}
            )
        title, shown = _title(raw, number)
        nodes: dict[str, Node] = {}
        for raw_message in raw["messages"]:
            node = _our_message(raw_message, shown, names)
            if node.key in nodes:
                raise Refused(
                    gettext("In “%(title)s”, two messages have the same id.") % {"title": shown}
                )
            nodes[node.key] = node
        leaf = raw.get("current_leaf")
        id = _uuid(raw.get("id"))
        conversations.append(
            tally.add(
                Imported(
                    title=title,
                    nodes=_ordered(nodes, shown),
                    leaf=leaf if isinstance(leaf, str) and leaf in nodes else None,
                    created=_when(raw.get("created")),
                    updated=_when(raw.get("updated")),
                    pinned=raw.get("pinned") is True,
                    archived=raw.get("archived") is True,
                    folder=" ".join(_text(raw.get("folder"), "A folder's name", 1000).split())[:80],
                    source=f"webchat:{id}" if id else "",
                )
            )
        )
    listed = header.get("folders")
    folders = [
        " ".join(_text(name, "A folder's name", 1000).split())[:80]
        for name in (listed if isinstance(listed, list) else [])
    ]
    return Found(conversations, *_settings(header), folders=[f for f in folders if f])


def _our_message(raw: Any, title: str, names: set[str]) -> Node:
    if not isinstance(raw, dict) or not isinstance(raw.get("id"), str):
        raise Refused(gettext("In “%(title)s”, a message has no id.") % {"title": title})
    role = raw.get("role")
    if role not in Message.Role.values:
        raise Refused(
            gettext("In “%(title)s”, a message has the role %(role)s.")
            % {"title": title, "role": repr(str(role)[:20])}
        )
    parent = raw.get("parent")
    if parent is not None and not isinstance(parent, str):
        raise Refused(
            gettext("In “%(title)s”, a message's parent is not an id.") % {"title": title}
        )
    status = raw.get("status")
    # A reply that was being written when the archive was made is kept as interrupted.
    if status not in Message.Status.values or status == Message.Status.STREAMING:
        status = Message.Status.INTERRUPTED if status else Message.Status.COMPLETE
    error = raw.get("error") if isinstance(raw.get("error"), dict) else {}
    refs = []
    listed = raw.get("attachments") or []
    if not isinstance(listed, list):
        raise Refused(
            gettext("In “%(title)s”, a message's files are not a list.") % {"title": title}
        )
    for attached in listed:
        path = attached.get("path") if isinstance(attached, dict) else None
        if not isinstance(path, str) or not path.startswith("files/") or path not in names:
            raise Refused(
                gettext("In “%(title)s”, a message names a file the archive does not hold.")
                % {"title": title}
            )
        name = (
            _text(
                attached.get("name"),
                gettext("A file's name in “%(title)s”") % {"title": title},
                1000,
            )
            or "file"
        )
        refs.append(FileRef(files.display_name(name), path))
    _attached(refs, title)
    return Node(
        key=raw["id"],
        parent=parent,
        role=role,
        content=_text(raw.get("content"), gettext("A message in “%(title)s”") % {"title": title}),
        reasoning=_text(
            raw.get("reasoning"), gettext("A message's reasoning in “%(title)s”") % {"title": title}
        ),
        created=_when(raw.get("created")),
        model=_text(
            raw.get("model"), gettext("A model's name in “%(title)s”") % {"title": title}, 1000
        )[:64],
        params=_params(raw.get("params")),
        status=status,
        finish_reason=_text(raw.get("finish_reason"), "A finish reason", 1000)[:32],
        error_code=_text(error.get("code"), "An error's code", 1000)[:64],
        error_message=_text(error.get("message"), "An error's message", 10_000)[:500],
        prompt_tokens=_count(raw.get("prompt_tokens")),
        completion_tokens=_count(raw.get("completion_tokens")),
        reasoning_ms=_count(raw.get("reasoning_ms")),
        files=refs,
        feedback=_feedback(raw.get("feedback"), role),
        summary=_summary(raw.get("summary"), title),
    )


def _feedback(raw: Any, role: str) -> dict[str, str] | None:
    """A rating of a reply, as the page takes one; anything else is left out."""
    if not isinstance(raw, dict) or role != Message.Role.ASSISTANT:
        return None
    if raw.get("rating") not in Feedback.Rating.values:
        return None
    return {"rating": raw["rating"], "comment": _text(raw.get("comment"), "A comment", 2000)}


def _summary(raw: Any, title: str) -> dict[str, str] | None:
    if not isinstance(raw, dict):
        return None
    what = gettext("A summary in “%(title)s”") % {"title": title}
    content = _text(raw.get("content"), what, MAX_SYSTEM_CHARS)
    if not content.strip():
        return None
    return {"content": content, "model": _text(raw.get("model"), "A model's name", 1000)[:64]}


def _params(raw: Any) -> dict[str, Any]:
    """The settings a message may carry, of the right types; anything else is left out
    (they go to the model with the next message)."""
    if not isinstance(raw, dict):
        return {}
    kept = {}
    for name, kind in PARAMS.items():
        value = raw.get(name)
        if isinstance(value, kind) and not isinstance(value, bool):
            kept[name] = value
    if "system" in kept:
        kept["system"] = _text(kept["system"], "A system prompt", MAX_SYSTEM_CHARS)
    if not 0 <= kept.get("temperature", 0) <= 2:
        del kept["temperature"]
    if not 0 < kept.get("max_tokens", 1) <= 10_000_000:
        del kept["max_tokens"]
    if "n" in kept:  # the candidates asked for: a regenerate asks as many again
        kept["n"] = min(max(kept["n"], 1), settings.CHAT_MAX_CANDIDATES)
    return kept


def _count(value: Any) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < 2**31:
        return value
    return None


def _settings(header: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, str]]]:
    """The archive's preferences (as the person's fields) and saved prompts, checked."""
    raw = header.get("preferences") if isinstance(header.get("preferences"), dict) else {}
    numbers = _params(
        {"temperature": raw.get("default_temperature"), "max_tokens": raw.get("default_max_tokens")}
    )
    preferences = {
        "default_model": _text(raw.get("default_model"), "The default model", 64),
        "custom_instructions": _text(
            raw.get("custom_instructions"), "The custom instructions", MAX_SYSTEM_CHARS
        ),
        "default_temperature": numbers.get("temperature"),
        "default_max_tokens": numbers.get("max_tokens"),
        "language": raw.get("language") if raw.get("language") in dict(settings.LANGUAGES) else "",
    }
    prompts: dict[str, str] = {}
    listed = header.get("prompts")
    for prompt in listed if isinstance(listed, list) else []:
        if isinstance(prompt, dict):
            name = " ".join(_text(prompt.get("name"), "A saved prompt's name", 80).split())
            text = _text(prompt.get("text"), "A saved prompt", MAX_PROMPT_CHARS)
            if name and text:
                prompts.setdefault(name, text)  # one prompt per name, the first
    return preferences, [{"name": n, "text": t} for n, t in prompts.items()]


# --- A ChatGPT export -----------------------------------------------------------------------

# An image's pointer (`file-service://file-AbC…` or `sediment://file_00…`) and the ZIP
# entry that holds it, named from its id.
POINTER = re.compile(r"^(?:file-service|sediment)://(file[-_][A-Za-z0-9]+)$")
MEMBER_ID = re.compile(r"^(file[-_][A-Za-z0-9]+)")
MISSING_IMAGE = "[An image that is not in the export]"


def _chatgpt(data: Iterator[Any], names: set[str]) -> Found:
    members: dict[str, str] = {}
    for name in names:
        if (found := MEMBER_ID.match(name.rsplit("/", 1)[-1])) and not name.endswith("/"):
            members.setdefault(found.group(1), name)
    conversations, tally = [], _Tally()
    for number, raw in enumerate(data, 1):
        if not isinstance(raw, dict) or not isinstance(raw.get("mapping"), dict):
            raise Refused(
                gettext(
                    "Conversation %(number)s of the file has no tree of messages (its "
                    "“mapping”): this is not a ChatGPT export."
                )
                % {"number": number}
            )
        title, shown = _title(raw, number)
        conversations.append(tally.add(_chatgpt_conversation(raw, shown, title, members)))
    return Found(conversations)


def _chatgpt_conversation(
    raw: dict[str, Any], shown: str, title: str, members: dict[str, str]
) -> Imported:
    """ChatGPT's tree as ours: the nodes a reader sees (user and assistant messages) kept,
    each under its nearest kept ancestor; the rest (the root, hidden system messages, tool
    calls and their results) left out. A visible system message becomes the conversation's
    system prompt; consecutive parts of one reply are joined."""
    mapping = raw["mapping"]
    if len(mapping) > settings.IMPORT_MAX_MESSAGES:
        raise Refused(gettext("“%(title)s” holds too many messages.") % {"title": shown})
    raw_nodes: dict[str, Node] = {}
    sources: dict[str, Any] = {}
    for key, value in mapping.items():
        if not isinstance(value, dict):
            raise Refused(
                gettext("In “%(title)s”, a node of the tree is not an object.") % {"title": shown}
            )
        parent = value.get("parent")
        if parent is not None and not isinstance(parent, str):
            raise Refused(
                gettext("In “%(title)s”, a node's parent is not an id.") % {"title": shown}
            )
        message = value.get("message")
        created = _when(message.get("create_time")) if isinstance(message, dict) else None
        raw_nodes[key] = Node(key=key, parent=parent, role="", content="", created=created)
        sources[key] = message
    system = ""
    nearest: dict[str, str | None] = {}  # node → its nearest kept ancestor (or itself)
    kept: dict[str, Node] = {}
    parts: dict[str, list[str]] = {}  # a kept message's text, part by part, and its length
    length: dict[str, int] = {}
    has_children: set[str] = set()
    for node in _ordered(raw_nodes, shown):
        above = nearest[node.parent] if node.parent is not None else None
        seen = _visible(sources[node.key], shown, members)
        if seen is None:
            nearest[node.key] = above
            continue
        role, content, refs, model = seen
        if role == "system":
            system = system or content
            nearest[node.key] = above
            continue
        parent = kept.get(above) if above is not None else None
        if parent is not None and parent.role == role and parent.key not in has_children:
            # The next part of the same turn (a reply continued after a tool's result).
            parts[parent.key].append(content)
            length[parent.key] += len(content) + 2
            if refs:
                parent.files = _attached([*parent.files, *refs], shown)
            if length[parent.key] > MAX_MESSAGE_CHARS:
                raise Refused(gettext("A message in “%(title)s” is too long.") % {"title": shown})
            nearest[node.key] = parent.key
            continue
        if above is not None:
            has_children.add(above)
        kept[node.key] = Node(
            key=node.key,
            parent=above,
            role=role,
            content=content,
            created=node.created,
            model=model,
            files=refs,
        )
        parts[node.key], length[node.key] = [content], len(content)
        nearest[node.key] = node.key
    nodes = list(kept.values())
    for node in nodes:
        node.content = "\n\n".join(p for p in parts[node.key] if p)
    if system:
        for node in nodes:
            if node.role == Message.Role.USER:
                node.params = {"system": system[: settings.CHAT_MAX_MESSAGE_CHARS]}
    id = raw.get("conversation_id") or raw.get("id")
    current = raw.get("current_node")
    leaf = nearest.get(current) if isinstance(current, str) else None
    if leaf is None and nodes:
        leaf = max(nodes, key=lambda n: n.created or datetime.min.replace(tzinfo=UTC)).key
    return Imported(
        title=title,
        nodes=nodes,
        leaf=leaf,
        created=_when(raw.get("create_time")),
        updated=_when(raw.get("update_time")),
        archived=raw.get("is_archived") is True,
        source=f"chatgpt:{_uuid(id) or id}" if isinstance(id, str) and id.isprintable() else "",
    )


def _visible(
    message: Any, shown: str, members: dict[str, str]
) -> tuple[str, str, list[FileRef], str] | None:
    """(role, text, images, model) of a message a reader of the conversation sees, or None."""
    if not isinstance(message, dict):
        return None
    author = message.get("author") if isinstance(message.get("author"), dict) else {}
    role = author.get("role")
    metadata = message.get("metadata") if isinstance(message.get("metadata"), dict) else {}
    if role not in ("user", "assistant", "system") or metadata.get(
        "is_visually_hidden_from_conversation"
    ):
        return None
    if message.get("recipient") not in (None, "all"):
        return None  # a call to a tool, not words to the reader
    content = message.get("content") if isinstance(message.get("content"), dict) else {}
    kind = content.get("content_type")
    texts: list[str] = []
    refs: list[FileRef] = []
    if kind in ("text", "multimodal_text"):
        parts = content.get("parts")
        for part in parts if isinstance(parts, list) else []:
            if isinstance(part, str):
                texts.append(part)
            elif isinstance(part, dict) and part.get("content_type") == "image_asset_pointer":
                pointer = POINTER.match(str(part.get("asset_pointer") or "")[:200])
                member = members.get(pointer.group(1)) if pointer else None
                if member is None:
                    texts.append(MISSING_IMAGE)
                else:
                    refs.append(FileRef(files.display_name(member.rsplit("/", 1)[-1]), member))
            elif isinstance(part, dict) and isinstance(part.get("text"), str):
                texts.append(part["text"])  # an audio transcription
    elif kind == "code":
        language = str(content.get("language") or "")
        language = "" if language == "unknown" else re.sub(r"[^\w+#.-]", "", language)[:20]
        code = _text(content.get("text"), gettext("A message in “%(title)s”") % {"title": shown})
        texts.append(f"```{language}\n{code}\n```")
    else:
        return None  # browsing results, reasoning, context the app added, …
    text = _text(
        "\n\n".join(t for t in texts if t), gettext("A message in “%(title)s”") % {"title": shown}
    ).strip()
    if not text and not refs:
        return None
    model = metadata.get("model_slug") if role == "assistant" else ""
    if not isinstance(model, str):
        model = ""
    return role, text, _attached(refs, shown), _text(model, "A model's name", 1000)[:64]


# --- Import: the files, then the writing ----------------------------------------------------


async def _process(refs: list[FileRef], archive: zipfile.ZipFile) -> None:
    """Each file read as an upload is (conversations/files.py: decoded, re-encoded, in a
    process of its own), one at a time, and once however many messages name it; one that
    is refused refuses the import."""
    limits = files.Limits.from_settings()
    by_member: dict[str, list[FileRef]] = defaultdict(list)
    for ref in refs:
        by_member[ref.member].append(ref)
    for member, named in by_member.items():
        info = archive.getinfo(member)
        if info.file_size > limits.max_bytes:
            raise Refused(
                gettext("“%(name)s” is over the limit of %(mb)s MB.")
                % {"name": named[0].name, "mb": f"{settings.ATTACHMENT_MAX_MB:g}"}
            )
        try:
            data = await asyncio.to_thread(_member, archive, info, limits.max_bytes)
            await asyncio.to_thread(_decoding.acquire)
            try:
                processed = await files.process_apart(named[0].name, data, limits)
            finally:
                _decoding.release()
        except InvalidRequest as error:
            raise Refused(
                gettext("A file in the import was refused: %(reason)s") % {"reason": error.message}
            ) from None
        for ref in named:
            ref.processed = processed


def _member(archive: zipfile.ZipFile, info: zipfile.ZipInfo, limit: int) -> bytes:
    try:
        with archive.open(info) as member:
            return member.read(limit + 1)
    except (zipfile.BadZipFile, OSError, EOFError, NotImplementedError, RuntimeError):
        raise Refused(
            gettext("“%(name)s” in this ZIP file cannot be read.") % {"name": info.filename}
        ) from None


@dataclass
class Outcome:
    imported: int  # conversations written
    skipped: int  # already in the account, as the file holds them


def import_file(user: User, upload: IO[bytes]) -> Outcome:
    """Import every conversation of `upload` for `user` but those the person already has
    (imported before as the file holds them, or theirs to begin with). Refused (nothing
    kept) when the file is bad, or too much for the person's storage."""
    with _importer(user):
        with _turn():
            found, archive = read(upload)
            everything = len(found.conversations)
            found.conversations = _new(user, found.conversations)
            refs = [r for c in found.conversations for n in c.nodes for r in n.files]
            # What the text and the files (as their ZIP declares them) take, against the
            # person's storage before any file is read; counted again, exactly, when written.
            declared = {r.member: archive.getinfo(r.member).file_size for r in refs} if refs else {}
            storage.check(user, _text_size(found) + sum(declared.values()), fresh=True)
        if refs and archive is not None:
            async_to_sync(_process)(refs, archive)
        with _turn():
            imported = _store(user, found)
        search.catch_up()  # thousands of messages at once: not left to a reply's end
        return Outcome(imported, everything - imported)


def admitted() -> contextlib.AbstractContextManager[None]:
    """One of the process's IMPORTS_AT_ONCE places, taken before an import is handed to
    its thread (`imports`), or refused at once: not queued behind the others, its upload
    held meanwhile."""
    return _held(_places, 0)


@contextlib.contextmanager
def _importer(user: User) -> Iterator[None]:
    """The person's one import at a time."""
    with _importers_lock:
        if user.pk in _importers:
            raise Refused(gettext("Your other import is still running. Wait for it to end."))
        _importers.add(user.pk)
    try:
        yield
    finally:
        with _importers_lock:
            _importers.discard(user.pk)


def _turn() -> contextlib.AbstractContextManager[None]:
    """This process's one import reading its file or writing, waited for a while."""
    return _held(_importing, WAIT_SECONDS)


@contextlib.contextmanager
def _held(lock: Any, seconds: float) -> Iterator[None]:
    """`lock` held meanwhile, waited for up to `seconds`, else the import is refused."""
    if not lock.acquire(timeout=seconds):
        raise Refused(gettext("Another import is running. Please try again in a minute."))
    try:
        yield
    finally:
        lock.release()


def _new(user: User, conversations: list[Imported]) -> list[Imported]:
    """Those of `conversations` the person does not have yet: the same file imported
    again, or an archive of their own account, adds nothing twice. A conversation they
    deleted since comes back."""
    had = _imported_already(user, {c.imported_from for c in conversations})
    mine = Conversation.objects.owned_by(user).filter(temporary=False)
    ours = [
        c.source.removeprefix("webchat:") for c in conversations if c.source.startswith("webchat:")
    ]
    had |= {f"webchat:{id}" for id in mine.filter(pk__in=ours).values_list("pk", flat=True)}
    new = []
    for conversation in conversations:  # a file holding one twice adds it once
        if conversation.imported_from not in had and conversation.source not in had:
            new.append(conversation)
            if conversation.imported_from:
                had.add(conversation.imported_from)
    return new


def _text_size(found: Found) -> int:
    return sum(
        len(n.content)
        + len(n.reasoning)
        + len(json.dumps(n.params))
        + (len(n.summary["content"]) if n.summary else 0)
        for c in found.conversations
        for n in c.nodes
    )


# Messages written per transaction: on SQLite a transaction holds the one writer's place,
# so a large import writes in steps, and everyone else's writes go between them.
WRITE_BATCH = 2_000


def _store(user: User, found: Found) -> int:
    """Everything written, or nothing: a batch that fails undoes the batches before it.
    Until the last step the conversations are written as temporary chats (not listed, not
    searched), all shown at once by that step; a process that dies on the way leaves only
    temporary chats, which `cleanattachments` deletes once they are idle."""
    with transaction.atomic():
        # The person's row lock: their storage is counted once, as their uploads are.
        user = User.objects.select_for_update(of=("self",)).select_related("plan").get(pk=user.pk)
        files_size = sum(
            r.processed.bytes_kept
            for c in found.conversations
            for n in c.nodes
            for r in n.files
            if r.processed
        )
        storage.check(user, _text_size(found) + files_size, fresh=True)
        named = {c.folder for c in found.conversations if c.folder} | set(found.folders)
        folders, made = _folders(user, named)
    written: list[Conversation] = []
    try:
        batch: list[Imported] = []
        for imported in found.conversations:
            batch.append(imported)
            if sum(len(c.nodes) for c in batch) >= WRITE_BATCH:
                written += _write(user, batch, folders)
                batch = []
        written += _write(user, batch, folders)
        with transaction.atomic():
            # Looked at again under the person's lock: an import of the same file in
            # another process may have shown its copies since `_new` (each process takes
            # one import at a time). Those are left temporary, and deleted below.
            User.objects.select_for_update().filter(pk=user.pk).exists()
            shown_already = _imported_already(user, {c.imported_from for c in written})
            showing = [c for c in written if c.imported_from not in shown_already]
            for conversation in showing:
                conversation.temporary = False
            shown = Conversation.objects.bulk_update(
                showing, ["temporary", "updated"], batch_size=500
            )
            if shown != len(showing):  # some were deleted meanwhile (a cleanup of idle chats)
                raise Refused(gettext("The import was interrupted. Nothing of it was kept."))
            _take_settings(user, found)
    except BaseException:
        # Deleted with their files (conversations.signals), as a person's deletion is.
        Conversation.objects.filter(pk__in=[c.pk for c in written]).delete()
        Folder.objects.filter(pk__in=[f.pk for f in made]).delete()
        raise
    if len(showing) < len(written):
        Conversation.objects.filter(pk__in=[c.pk for c in written if c.temporary]).delete()
    storage.stored(user)
    return len(showing)


def _imported_already(user: User, sources: set[str]) -> set[str]:
    """Those of `sources` (`imported_from` digests) the person's conversations came from.
    Not the temporary chats an import that died on the way left: they are not shown, and
    the cleanup deletes them."""
    sources -= {""}
    if not sources:
        return set()
    mine = Conversation.objects.owned_by(user).filter(temporary=False)
    return set(mine.filter(imported_from__in=sources).values_list("imported_from", flat=True))


def _write(user: User, batch: list[Imported], folders: dict[str, Folder]) -> list[Conversation]:
    """One transaction: these conversations (temporary until the import's last step, and
    updated now, so that no cleanup takes them for idle chats meanwhile), their messages
    with their own times, their files; the conversations written, with their own times."""
    now = timezone.now()
    saved: list[str] = []
    try:
        conversations, messages, attachments = [], [], []
        ratings, summaries = [], []
        depth: dict[str, int] = {}  # messages from the root down to each one
        for imported in batch:
            conversation = Conversation(
                owner=user,
                temporary=True,
                imported_from=imported.imported_from,
                title=imported.title,
                pinned=imported.pinned,
                archived=imported.archived,
                folder=folders.get(imported.folder),
            )
            ids: dict[str, uuid.UUID] = {}
            for node in imported.nodes:
                message = Message(
                    id=uuid.uuid4(),
                    conversation=conversation,
                    parent_id=ids.get(node.parent) if node.parent else None,
                    role=node.role,
                    content=node.content,
                    reasoning=node.reasoning,
                    model=node.model,
                    params=node.params,
                    status=node.status,
                    finish_reason=node.finish_reason,
                    error_code=node.error_code,
                    error_message=node.error_message,
                    prompt_tokens=node.prompt_tokens,
                    completion_tokens=node.completion_tokens,
                    reasoning_ms=node.reasoning_ms,
                )
                # Its own time, not the import's.
                message.created = message.updated = node.created or imported.created or now
                ids[node.key] = message.id
                depth[node.key] = depth.get(node.parent or "", 0) + 1
                messages.append(message)
                if node.feedback:
                    ratings.append(
                        Feedback(message=message, user=user, model=node.model, **node.feedback)
                    )
                if node.summary:
                    # It stands for the thread down to its message, whatever it claims.
                    summaries.append(
                        Summary(
                            conversation=conversation,
                            through=message,
                            covers=depth[node.key],
                            **node.summary,
                        )
                    )
                for position, ref in enumerate(node.files):
                    attachments.append((message, position, ref))
            conversation.current_leaf_id = ids.get(imported.leaf) if imported.leaf else None
            conversation.created = imported.created or now
            conversation.updated = now  # not idle, for the cleanup, until it is shown
            conversations.append((conversation, imported))
        rows = [
            Attachment.of(
                ref.processed,
                ref.name,
                saved,
                owner=user,
                conversation=message.conversation,
                message=message,
                position=position,
            )
            for message, position, ref in attachments
        ]
        # Made ready above, written here: on SQLite the transaction holds the one writer,
        # every other person's sends. Its rows keep their own times (a bulk_update of them
        # afterwards was most of a minute for 60,000 messages).
        with transaction.atomic():
            kept = ("created", "updated")
            sql.insert_all([c for c, _ in conversations], kept=kept)
            sql.insert_all(messages, kept=kept)
            Attachment.objects.bulk_create(rows, batch_size=500)
            Feedback.objects.bulk_create(ratings, batch_size=1000)
            Summary.objects.bulk_create(summaries, batch_size=500)
        for conversation, imported in conversations:
            conversation.updated = imported.updated or conversation.created
    except BaseException:
        for name in saved:  # the rows were not committed: their files go too
            Attachment.file.field.storage.delete(name)
        raise
    return [c for c, _ in conversations]


def _folders(user: User, names: set[str]) -> tuple[dict[str, Folder], list[Folder]]:
    """The person's folders of these names, and those of them made now (for those they
    lack, up to the most a person keeps: past it, a conversation comes without its
    folder)."""
    have = {f.name: f for f in Folder.objects.filter(owner=user)}
    room = max(0, MAX_FOLDERS - len(have))
    new = [Folder(owner=user, name=n) for n in sorted(names - set(have))[:room]]
    for folder in new:
        folder.save()
        have[folder.name] = folder
    return have, new


def _take_settings(user: User, found: Found) -> None:
    """An archive's preferences where the person has none of their own, and its saved
    prompts whose names they do not use, up to the most a person keeps."""
    changed = []
    for name, value in found.preferences.items():
        if value not in ("", None) and getattr(user, name) in ("", None):
            setattr(user, name, value)
            changed.append(name)
    if changed:
        user.save(update_fields=changed)
    names = set(user.saved_prompts.values_list("name", flat=True))
    room = MAX_PROMPTS - len(names)
    new = [p for p in found.prompts if p["name"] not in names][: max(0, room)]
    SavedPrompt.objects.bulk_create([SavedPrompt(owner=user, **p) for p in new])
