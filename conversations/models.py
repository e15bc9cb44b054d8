import re
import secrets
import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import PurePath
from typing import Any, NamedTuple

from django.conf import settings
from django.core.files import File
from django.core.files.base import ContentFile
from django.db import connection, models, transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext

from conversations import files
from webchat import sql
from webchat.errors import ConversationBusy, NotFound
from webchat.models import UsageRecord
from webchat.quotas import estimate_completion


class Said(NamedTuple):
    """One message of a thread, as much as a prompt needs."""

    id: uuid.UUID
    role: str
    content: str
    files: tuple["Attachment", ...] = ()


# The path from a message up to the root, or to the deepest message a summary was made
# through (what is above it is never read), root first: each with its summary's text, and
# whether it has files. Every step stays in the conversation; parents are always older, so
# the depth bound only guards against a loop no code makes.
_HISTORY_SQL = """
    WITH RECURSIVE path(id, parent_id, role, content, summary, depth) AS (
        SELECT m.id, m.parent_id, m.role, m.content, s.content, 0
        FROM conversations_message m
        LEFT JOIN conversations_summary s ON s.through_id = m.id
        WHERE m.id = %(leaf)s AND m.conversation_id = %(conversation)s
        UNION ALL
        SELECT m.id, m.parent_id, m.role, m.content, s.content, path.depth + 1
        FROM path
        JOIN conversations_message m
            ON m.id = path.parent_id AND m.conversation_id = %(conversation)s
        LEFT JOIN conversations_summary s ON s.through_id = m.id
        WHERE path.summary IS NULL AND path.depth < %(most)s
    )
    SELECT id, role, content, summary,
        EXISTS (SELECT 1 FROM conversations_attachment a WHERE a.message_id = path.id)
    FROM path
    ORDER BY depth DESC
"""


# The messages from a leaf up to the root, as ORM rows, root first (Conversation.path_to).
_PATH_SQL = """
    WITH RECURSIVE path(id, depth) AS (
        SELECT id, 0 FROM conversations_message
        WHERE id = %(leaf)s AND conversation_id = %(conversation)s
        UNION ALL
        SELECT m.parent_id, path.depth + 1
        FROM path JOIN conversations_message m ON m.id = path.id
        WHERE m.parent_id IS NOT NULL AND path.depth < %(most)s
    )
    SELECT m.* FROM path
    JOIN conversations_message m ON m.id = path.id AND m.conversation_id = %(conversation)s
    ORDER BY path.depth DESC
"""


class ConversationQuerySet(models.QuerySet["Conversation"]):
    def owned_by(self, user: Any) -> "ConversationQuerySet":
        return self.filter(owner=user)


# The most folders one person keeps: each is a heading of every chat page's sidebar.
MAX_FOLDERS = 100


class Folder(models.Model):
    """A person's named group of conversations in the sidebar."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="folders"
    )
    name = models.CharField(max_length=80)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="one_folder_per_name"),
        ]

    def __str__(self) -> str:
        return self.name


# Conversation._lock_idle(): whether a reply of a conversation is being written.
_STREAMING_SQL = """
    SELECT 1 FROM conversations_message WHERE conversation_id = %s AND status = %s LIMIT 1
"""


class Conversation(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed first in conversation_owner_updated: an index of its own would only cost writes.
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.CASCADE,
        related_name="conversations",
        db_index=False,
    )
    title = models.CharField(max_length=200, blank=True)
    current_leaf = models.ForeignKey(
        "Message", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A temporary chat: not listed, not searched, deleted when its page is left (its
    # ledger rows stay); the cleanup deletes any left behind.
    temporary = models.BooleanField(default=False)
    # A temporary chat's latest page (a random token per page opened): the page that
    # leaves deletes it only if no page opened it since (a reload, another tab).
    visit = models.CharField(max_length=32, blank=True)
    # Kept at the top of the sidebar; out of it (still searched); in a folder of the sidebar.
    pinned = models.BooleanField(default=False)
    archived = models.BooleanField(default=False)
    folder = models.ForeignKey(
        Folder, null=True, blank=True, on_delete=models.SET_NULL, related_name="conversations"
    )
    # Where an imported conversation came from, and as of when: a digest of
    # `chatgpt:<id>@<time>` or `webchat:<id>@<time>`. Importing the same file again skips it.
    imported_from = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = ConversationQuerySet.as_manager()

    class Meta:
        ordering = ["-updated"]
        indexes = [
            # The sidebar: a person's conversations, most recent first.
            models.Index(fields=["owner", "-updated"], name="conversation_owner_updated"),
        ]
        constraints = [
            # The same file imported in two processes at once shows its conversations once.
            models.UniqueConstraint(
                fields=["owner", "imported_from"],
                condition=models.Q(temporary=False) & ~models.Q(imported_from=""),
                name="one_import_of_a_conversation",
            ),
        ]

    def __str__(self) -> str:
        return self.title or "New chat"

    def get_absolute_url(self) -> str:
        return f"/c/{self.id}/"

    def path_to(self, leaf_id: uuid.UUID | None, most: int | None = None) -> list["Message"]:
        """The messages from the root down to `leaf_id`, in one query whatever the length;
        with `most`, the last `most` + 1 of them at most.

        Each carries `siblings` (the ids of the alternatives at its place, itself included,
        oldest first) and `position` (its index among them), for the `< 2/3 >` arrows.
        """
        if leaf_id is None:
            return []
        # The tree's shape, then the path's rows alone: not every branch's text.
        children: dict[uuid.UUID | None, list[uuid.UUID]] = defaultdict(list)
        for message_id, parent_id in self.messages.values_list("id", "parent_id"):
            children[parent_id].append(message_id)
        params = {
            "leaf": Message._meta.pk.get_db_prep_value(leaf_id, connection),
            "conversation": Conversation._meta.pk.get_db_prep_value(self.pk, connection),
            "most": settings.IMPORT_MAX_MESSAGES if most is None else most,  # none longer
        }
        path = sql.select(Message, _PATH_SQL, params)
        for message in path:
            # (A message made since the shape was read has no arrows yet.)
            siblings = children.get(message.parent_id, [message.id])
            if message.id not in siblings:
                siblings = [message.id]
            message.siblings = [str(m) for m in siblings]
            message.position = siblings.index(message.id)
        return path

    def history(self, leaf_id: uuid.UUID | None) -> list[Said]:
        """The thread from the root down to `leaf_id`, as a prompt needs it: the path alone
        (not the other branches), with its summary, in one written-out query; a second
        only for the files of the messages that have some. Every send reads it in the
        database's thread: through the ORM it cost about 0.05 ms a message of the whole
        conversation, most of it in converting ids (bench/send.py --turns)."""
        if leaf_id is None:
            return []
        key = Message._meta.pk.get_db_prep_value(leaf_id, connection)
        conversation = Conversation._meta.pk.get_db_prep_value(self.pk, connection)
        with connection.cursor() as cursor:
            most = settings.IMPORT_MAX_MESSAGES  # no thread is longer
            cursor.execute(_HISTORY_SQL, {"leaf": key, "conversation": conversation, "most": most})
            rows = cursor.fetchall()
        said: list[Said] = []
        with_files = []
        for raw_id, role, content, summary, has_files in rows:
            message_id = raw_id if isinstance(raw_id, uuid.UUID) else uuid.UUID(raw_id)
            if summary is not None:
                # A summary stands in for the messages up to the one it was made through,
                # in the place of that message: a new message after the summary (an edit
                # of the next one) is that message's child.
                said = [Said(message_id, "summary", summary)]
                with_files = []
                continue
            said.append(Said(message_id, role, content))
            if has_files:
                with_files.append(message_id)
        if with_files:
            files = Attachment.objects.by_message(with_files, defer_text=False)
            said = [m._replace(files=tuple(files.get(m.id, ()))) for m in said]
        return said

    def switch_to(self, message: "Message") -> "Message":
        """Show the branch through `message`: down, at each turn, the version last turned
        to, or else the newest, to a leaf."""
        message.picked = timezone.now()
        Message.objects.filter(pk=message.pk).update(picked=message.picked)
        children: dict[uuid.UUID | None, list[Message]] = defaultdict(list)
        for child in self.messages.only("id", "parent_id", "picked", "created"):
            children[child.parent_id].append(child)
        leaf = message
        while children[leaf.id]:
            leaf = max(children[leaf.id], key=lambda m: m.picked or m.created)
        self.current_leaf = leaf
        # Looking at another branch is not an update: the sidebar order stays.
        self.save(update_fields=["current_leaf"])
        return leaf

    def thread(self) -> list["Message"]:
        """The visible thread: root → current leaf, each message with its `files` and the
        `summary` made through it (if any)."""
        thread = with_files(self.path_to(self.current_leaf_id), defer_text=False)
        summaries = Summary.objects.filter(through__in=[m.id for m in thread])
        by_message = {s.through_id: s for s in summaries}
        for message in thread:
            message.summary = by_message.get(message.id)
        return thread

    def add_turn(
        self,
        *,
        content: str,
        parent: "Message | None",
        model: str,
        params: dict[str, Any],
        n: int,
        channel: str,
        files: Sequence["Attachment"] = (),
        client_id: str | None = None,
    ) -> tuple["Message", list["Message"]]:
        """Store the person's message (with its `files`, sent as `client_id`) and `n`
        streaming replies under it, in the caller's transaction (turns: the reservation's)."""
        self._lock_idle()
        user_message = Message(
            conversation=self,
            parent=parent,
            role=Message.Role.USER,
            content=content,
            client_id=client_id,
        )
        replies = self._replies(user_message, model=model, params=params, n=n, channel=channel)
        sql.insert([user_message, *replies])  # one INSERT
        user_message.files = Attachment.objects.attach(files, user_message)
        if not self.title:
            names = " ".join(f.name for f in user_message.files)
            self.title = _title_from(content if content.strip() else names)
        self.current_leaf = replies[0]
        sql.update(self, ["title", "current_leaf", "updated"])
        return user_message, replies

    def add_regeneration(
        self,
        *,
        parent: "Message",
        model: str,
        params: dict[str, Any],
        n: int,
        channel: str,
        content: str = "",
    ) -> list["Message"]:
        """New sibling replies under `parent` (a user message), starting with `content`."""
        self._lock_idle()
        replies = self._replies(
            parent, model=model, params=params, n=n, channel=channel, content=content
        )
        sql.insert(replies)
        self.current_leaf = replies[0]
        sql.update(self, ["current_leaf", "updated"])
        return replies

    def _lock_idle(self) -> None:
        # Without a savepoint of their own (a statement each, and the database's thread
        # gives up the GIL at each): a turn is written in the reservation's transaction.
        if not connection.in_atomic_block:
            raise transaction.TransactionManagementError("A turn is stored in a transaction.")
        # The row lock serialises two sends racing on PostgreSQL; SQLite's IMMEDIATE
        # transaction already does.
        if connection.vendor != "sqlite":
            Conversation.objects.select_for_update().filter(pk=self.pk).first()
        # A reply being written, its lease run out or not: busy. Whether its generation
        # died is for the caller to ask it (a ping), not for its lease alone to say: a live
        # one whose checkpoints the database refused for a while would be cut off. Written
        # out, as every send asks (the ORM's query cost five times this one).
        key = Conversation._meta.pk.get_db_prep_value(self.pk, connection)
        with connection.cursor() as cursor:
            cursor.execute(_STREAMING_SQL, [key, Message.Status.STREAMING])
            if cursor.fetchone() is not None:
                raise ConversationBusy

    def _replies(
        self,
        parent: "Message",
        *,
        model: str,
        params: dict[str, Any],
        n: int,
        channel: str,
        content: str = "",
    ) -> list["Message"]:
        """`n` streaming replies under `parent`, not yet stored."""
        lease = timezone.now() + timedelta(seconds=settings.CHAT_LEASE_SECONDS)
        return [
            Message(
                conversation=self,
                parent=parent,
                role=Message.Role.ASSISTANT,
                content=content,
                prefix_chars=len(content),
                model=model,
                params=params,
                status=Message.Status.STREAMING,
                channel=channel,
                lease_until=lease,
            )
            for _ in range(n)
        ]


def _title_from(content: str) -> str:
    """The words a reader sees of the first message (no `**`, `#` or link targets), cut to
    60 characters, after a whole word where one ends past the middle; its raw words when
    nothing shows (a lone image, say). static/js/chat.js titleFrom makes the same."""
    from conversations.render import plain_text

    words = plain_text(content[:400]) or " ".join(content.split())
    if len(words) <= 60:
        return words
    head = words[:59]
    if not words[59].isspace() and head.rfind(" ") >= 30:
        head = head[: head.rfind(" ")]
    return CUT_AFTER.sub("", head) + "…"


# What a cut title leaves off its end before its "…": spaces, and a comma or the like.
CUT_AFTER = re.compile(r"[\s,;:\u3001\uff0c\uff1b\uff1a]+$")


class MessageQuerySet(models.QuerySet["Message"]):
    def streaming(self) -> "MessageQuerySet":
        return self.filter(status=Message.Status.STREAMING)

    def expire_stale(self, conversation: Conversation) -> int:
        """Where no generation can be pinged (a page load): a reply whose lease ran out a
        whole lease ago is taken for dead, interrupted, its text kept. (One that just ran
        out is left to the page's socket, which pings its generation: a live one whose
        checkpoints the database refused for a while goes on.)"""
        grace = timedelta(seconds=settings.CHAT_LEASE_SECONDS)
        stale = self.stale_channels(conversation, timezone.now() - grace)
        return sum(self.interrupt(channel) for channel in stale)

    def stale_channels(
        self, conversation: Conversation | None = None, before: datetime | None = None
    ) -> set[str]:
        """The generations of the streaming replies whose lease ran out (`before`: by then).
        (A read first: page loads ask, and a write would queue behind the writers.)"""
        stale = self.streaming().filter(lease_until__lt=before or timezone.now())
        if conversation is not None:
            stale = stale.filter(conversation=conversation)
        return set(stale.values_list("channel", flat=True))

    @transaction.atomic
    def interrupt(self, channel: str) -> int:
        """The replies of a dead generation: interrupted, text kept, usage settled."""
        replies = list(
            self.streaming().filter(channel=channel).only("content", "reasoning", "prefix_chars")
        )
        if not replies:
            return 0
        count = (
            self.streaming()
            .filter(pk__in=[r.pk for r in replies])
            .update(status=Message.Status.INTERRUPTED, channel="", updated=timezone.now())
        )
        for record in UsageRecord.objects.filter(generation=channel, status="running"):
            UsageRecord.objects.settle(
                record.pk,
                status="interrupted",
                prompt_tokens=None,
                completion_tokens=estimate_completion(replies),
            )
        return count


class Message(models.Model):
    """One node of a conversation's tree. Siblings are edits, regenerations or candidates."""

    class Role(models.TextChoices):
        USER = "user"
        ASSISTANT = "assistant"

    class Status(models.TextChoices):
        COMPLETE = "complete"
        STREAMING = "streaming"
        STOPPED = "stopped"
        ERROR = "error"
        INTERRUPTED = "interrupted"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed first in message_conversation_status.
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="messages", db_index=False
    )
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.CASCADE, related_name="children"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    content = models.TextField(blank=True)
    reasoning = models.TextField(blank=True)
    model = models.CharField(max_length=64, blank=True)
    params = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.COMPLETE)
    finish_reason = models.CharField(max_length=32, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    error_message = models.CharField(max_length=500, blank=True)
    prompt_tokens = models.PositiveIntegerField(null=True, blank=True)
    completion_tokens = models.PositiveIntegerField(null=True, blank=True)
    # A continued version starts with the text of the one it continues: that many
    # characters of `content` were not written by this reply (nor paid for as its output).
    prefix_chars = models.PositiveIntegerField(default=0)
    # How long the model reasoned before the reply's first word (reasoning models only).
    reasoning_ms = models.PositiveIntegerField(null=True, blank=True)
    # The server's rendering of a finished reply (conversations/render.py), made once when
    # it ended, so a page view does not render the thread again; `rendered_version` is the
    # renderer's VERSION it was made by.
    rendered = models.TextField(blank=True)
    rendered_version = models.PositiveSmallIntegerField(default=0)
    # The last frame sequence number whose text is in `content` (checkpoints keep them in step).
    seq = models.PositiveIntegerField(default=0)
    # While streaming: the channel of the generation (for stop/snapshot) and how long it is
    # presumed alive without another checkpoint.
    channel = models.CharField(max_length=200, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    # The page's name for the send that stored a person's message (its frame's
    # `client_id`): a page whose connection was lost finds its message by it. NULL for the
    # rest: a column SQLite adds in place, where a NOT NULL one copies the whole table.
    client_id = models.CharField(max_length=100, null=True, blank=True, editable=False)  # noqa: DJ001
    # When the person last turned to this version among its siblings (the arrows): going back
    # up the tree later comes down through it again, not through the newest.
    picked = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    objects = MessageQuerySet.as_manager()

    class Meta:
        ordering = ["created"]
        indexes = [
            # Loading a conversation's tree, and finding its streaming replies.
            models.Index(fields=["conversation", "status"], name="message_conversation_status"),
            # The sweep for replies whose process died: the streaming few among all.
            models.Index(
                fields=["lease_until"],
                condition=models.Q(status="streaming"),
                name="message_streaming_lease",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.content[:40]}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "parent": str(self.parent_id) if self.parent_id else None,
            "role": self.role,
            "content": self.content,
            "reasoning": self.reasoning,
            "model": self.model,
            "status": self.status,
            "finish_reason": self.finish_reason or None,
            "error": {"code": self.error_code, "message": self.error_message}
            if self.error_code
            else None,
            "created": self.created.isoformat() if self.created else None,
            "attachments": [f.as_dict() for f in getattr(self, "files", ())],
        }

    @property
    def limited_by(self) -> str:
        """What gave this reply fewer tokens than asked ("allowance": the person's), or ""."""
        return str((self.params or {}).get("limited_by") or "")

    @property
    def reasoning_seconds(self) -> int:
        return max(1, round((self.reasoning_ms or 0) / 1000))


class Feedback(models.Model):
    """A person's thumbs up or down on a reply, with what they chose to say about it."""

    class Rating(models.TextChoices):
        UP = "up", "👍 good"
        DOWN = "down", "👎 bad"

    message = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="feedback")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="feedback"
    )
    rating = models.CharField(max_length=8, choices=Rating.choices)
    comment = models.TextField(blank=True, max_length=2000)
    # The reply's model, kept here so the admin can filter by it in one query.
    model = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated"]
        verbose_name_plural = "feedback"

    def __str__(self) -> str:
        return f"{self.get_rating_display()} on {self.message_id}"


# The most prompts one person keeps, and the longest: they all go with every chat page.
MAX_PROMPTS = 100
MAX_PROMPT_CHARS = 4_000


class SavedPrompt(models.Model):
    """A person's named prompt, put in the composer by typing `/` and its name."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="saved_prompts"
    )
    name = models.CharField(max_length=80)
    text = models.TextField()
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["owner", "name"], name="one_prompt_per_name"),
        ]

    def __str__(self) -> str:
        return self.name


class Summary(models.Model):
    """What the model wrote of a conversation's earlier turns, to read in their place.

    It stands for the thread from the root down to `through` (its last message), on every
    branch that passes through it: requests from there on send the summary and only the
    turns after it. The page shows it under `through`."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="summaries"
    )
    through = models.OneToOneField(Message, on_delete=models.CASCADE, related_name="summary_of")
    content = models.TextField()
    model = models.CharField(max_length=64, blank=True)
    # How many messages it stands for (the root down to `through`).
    covers = models.PositiveIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "summaries"

    def __str__(self) -> str:
        return f"Summary through {self.through_id}"

    def as_dict(self) -> dict[str, Any]:
        from conversations.render import render_markdown

        return {
            "id": str(self.id),
            "through": str(self.through_id),
            "content": self.content,
            "covers": self.covers,
            "html": render_markdown(self.content),
        }


def _share_token() -> str:
    # 192 random bits, URL-safe.
    return secrets.token_urlsafe(24)


class ShareQuerySet(models.QuerySet["Share"]):
    def active(self) -> "ShareQuerySet":
        return self.filter(revoked__isnull=True)


class Share(models.Model):
    """A read-only link to a conversation, frozen at the leaf it was made (or updated) at."""

    token = models.CharField(max_length=64, unique=True, default=_share_token, editable=False)
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="shares")
    leaf = models.ForeignKey(Message, on_delete=models.CASCADE, related_name="+")
    include_system = models.BooleanField(default=False)
    created = models.DateTimeField(auto_now_add=True)
    updated = models.DateTimeField(auto_now=True)
    revoked = models.DateTimeField(null=True, blank=True)
    views = models.PositiveIntegerField(default=0)

    objects = ShareQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        constraints = [
            # "Share" again updates the conversation's one live link rather than adding one.
            models.UniqueConstraint(
                fields=["conversation"],
                condition=models.Q(revoked__isnull=True),
                name="one_active_share_per_conversation",
            ),
        ]

    def __str__(self) -> str:
        return f"Share of {self.conversation}"

    def get_absolute_url(self) -> str:
        return f"/s/{self.token}/"

    def messages(self, most: int | None = None) -> list[Message]:
        """The frozen thread: root → leaf, nothing after it (with `most`, as path_to)."""
        return self.conversation.path_to(self.leaf_id, most)

    def count_view(self) -> None:
        Share.objects.filter(pk=self.pk).update(views=models.F("views") + 1)

    def fork(self, owner: Any, thread: list[Message]) -> Conversation:
        """A private copy of the snapshot for `owner` (only the shared path, nothing else), in
        the caller's transaction: `thread` is `messages()` with their files, read before it."""
        copy = Conversation.objects.create(owner=owner, title=self.conversation.title)
        parent = None
        copies = []
        for message in thread:
            parent = Message(
                conversation=copy,
                parent=parent,
                role=message.role,
                content=message.content,
                rendered=message.rendered,
                rendered_version=message.rendered_version,
                reasoning=message.reasoning,
                model=message.model,
                # Not the sharer's allowance, which cut their reply and not the reader's.
                params={
                    k: v
                    for k, v in message.params.items()
                    if k != "limited_by" and (k != "system" or self.include_system)
                },
                # A reply still being written is copied as far as it had got.
                status=Message.Status.STOPPED
                if message.status == Message.Status.STREAMING
                else message.status,
                finish_reason=message.finish_reason,
            )
            copies.append(parent)
        # Written a batch at a time: a thread of thousands, one INSERT each, held SQLite's one
        # writer (every other person's send) for most of a minute.
        sql.insert_all(copies)
        for message, mine in zip(thread, copies, strict=True):
            for original in message.files:
                original.copy_to(mine)
        copy.current_leaf = parent
        copy.save(update_fields=["current_leaf", "updated"])
        return copy


def _attachment_path(instance: "Attachment", filename: str) -> str:
    # Never the uploaded name: a random one, under the owner's folder.
    return f"attachments/{instance.owner_id}/{uuid.uuid4().hex}{PurePath(filename).suffix}"


class AttachmentQuerySet(models.QuerySet["Attachment"]):
    def unsent(self) -> "AttachmentQuerySet":
        return self.filter(message__isnull=True)

    def by_message(
        self, message_ids: list[Any], *, defer_text: bool = True
    ) -> dict[Any, list["Attachment"]]:
        """The files of each of these messages, oldest first, in one query."""
        found: dict[Any, list[Attachment]] = defaultdict(list)
        if not message_ids:
            return found
        rows = self.filter(message_id__in=message_ids)
        for attachment in rows.defer("text") if defer_text else rows:
            found[attachment.message_id].append(attachment)
        return found

    def attach(self, files: Sequence["Attachment"], message: "Message") -> list["Attachment"]:
        """`files` become `message`'s: unsent uploads move to it, and files already sent
        with another message (an edit keeps them) are copied onto it, sharing the file. An
        upload removed meanwhile (by its ✕, or the cleanup) is NotFound."""
        attached = []
        for position, attachment in enumerate(files):
            if attachment.message_id is None:
                moved = self.filter(pk=attachment.pk, message__isnull=True).update(
                    message=message, position=position
                )
                if not moved:
                    raise NotFound(gettext("An attached file was not found: attach it again."))
                attachment.message, attachment.position = message, position
            else:
                attachment = attachment.copy_to(message, share_file=True, position=position)
            attached.append(attachment)
        return attached

    def delete_unsent(self) -> int:
        """Delete these uploads that are still unsent, none of them attached meanwhile (the
        rows are locked first; each takes its file with it)."""
        with transaction.atomic():
            rows = list(self.unsent().select_for_update())
            for attachment in rows:
                attachment.delete()
        return len(rows)


SAFE_TEXT_SUFFIXES = {".txt", ".md", ".markdown", ".csv", ".tsv", ".json", ".log", ".yaml"}
DOWNLOAD_SUFFIXES = {"image/jpeg": ".jpg", "image/png": ".png", "application/pdf": ".pdf"}


class Attachment(models.Model):
    """A file a person sent with a message: an image, or text (a text file or a PDF).

    Uploaded first (`message` empty), then sent: the `send` frame names it. What is stored
    is what files.process() made of the upload, never the uploaded bytes of an image.
    """

    class Kind(models.TextChoices):
        IMAGE = "image"
        TEXT = "text"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="attachments"
    )
    conversation = models.ForeignKey(
        Conversation, on_delete=models.CASCADE, related_name="attachments"
    )
    message = models.ForeignKey(
        Message, null=True, blank=True, on_delete=models.CASCADE, related_name="attachments"
    )
    kind = models.CharField(max_length=8, choices=Kind.choices)
    name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=100)
    size = models.PositiveIntegerField(help_text="Bytes of the stored file.")
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
    # What the model reads of a text file or a PDF.
    text = models.TextField(blank=True)
    file = models.FileField(upload_to=_attachment_path, max_length=300)
    # A large image's small rendition (files.PREVIEW_SIDE), which a message shows in its place.
    preview = models.FileField(upload_to=_attachment_path, max_length=300, blank=True)
    preview_size = models.PositiveIntegerField(default=0, help_text="Bytes of the preview.")
    # Its place among its message's files: the order they were attached in.
    position = models.PositiveSmallIntegerField(default=0)
    created = models.DateTimeField(auto_now_add=True)

    objects = AttachmentQuerySet.as_manager()

    class Meta:
        ordering = ["position", "created", "id"]
        indexes = [models.Index(fields=["message", "created"], name="attachment_unsent")]

    def __str__(self) -> str:
        return self.name

    @property
    def url(self) -> str:
        """The owner's address of the file (a share's reader has another: share_url)."""
        return reverse("attachment", args=[self.conversation_id, self.id])

    def share_url(self, token: str) -> str:
        return reverse("share-attachment", args=[token, self.id])

    @property
    def bytes_kept(self) -> int:
        """What it counts in its owner's storage (conversations.storage.used): its file, its
        preview and its text."""
        return self.size + self.preview_size + len(self.text)

    @property
    def preview_url(self) -> str:
        """What a message shows: the preview, or the file itself when it has none."""
        if not self.preview:
            return self.url
        return reverse("attachment-preview", args=[self.conversation_id, self.id])

    def share_preview_url(self, token: str) -> str:
        if not self.preview:
            return self.share_url(token)
        return reverse("share-attachment-preview", args=[token, self.id])

    @property
    def download_name(self) -> str:
        """The name a download is saved under: its own, with the extension of what is
        stored (a text file named "run.bat" is saved as "run.bat.txt")."""
        name = PurePath(self.name)
        suffix = DOWNLOAD_SUFFIXES.get(self.content_type)
        if suffix is not None:
            return name.stem + suffix if name.suffix.lower() != suffix else self.name
        return self.name if name.suffix.lower() in SAFE_TEXT_SUFFIXES else self.name + ".txt"

    @classmethod
    def of(
        cls, processed: "files.Processed", name: str, saved: list[str], **fields: Any
    ) -> "Attachment":
        """An attachment of what files.process() made of the file `name`, its files stored
        (their names added to `saved` as each is written: the caller deletes them should its
        row not be committed) and its row not yet saved."""
        attachment = cls(
            kind=processed.kind,
            name=files.stored_name(name, processed),
            content_type=processed.content_type,
            size=len(processed.data),
            width=processed.width,
            height=processed.height,
            text=processed.text,
            preview_size=len(processed.preview),
            **fields,
        )
        attachment.file.save("upload" + processed.extension, ContentFile(processed.data), False)
        saved.append(attachment.file.name)
        if processed.preview:
            attachment.preview.save("preview.webp", ContentFile(processed.preview), False)
            saved.append(attachment.preview.name)
        return attachment

    def as_dict(self, url: str | None = None) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "kind": self.kind,
            "content_type": self.content_type,
            "size": self.size,
            "width": self.width,
            "height": self.height,
            "url": url or self.url,
            "preview_url": self.preview_url,
            "download_name": self.download_name,
        }

    def copy_to(
        self, message: Message, *, share_file: bool = False, position: int | None = None
    ) -> "Attachment":
        """The same file on another message: shared within a conversation, a copy of its
        own in another (a fork), so that deleting either leaves the other whole."""
        copy = Attachment(
            owner=message.conversation.owner,
            conversation=message.conversation,
            message=message,
            kind=self.kind,
            name=self.name,
            content_type=self.content_type,
            size=self.size,
            width=self.width,
            height=self.height,
            text=self.text,
            preview_size=self.preview_size,
            position=self.position if position is None else position,
        )
        for field in ("file", "preview") if self.preview else ("file",):
            mine, theirs = getattr(self, field), getattr(copy, field)
            if share_file:
                theirs.name = mine.name
            else:
                with mine.open("rb") as original:
                    theirs.save(mine.name, File(original), save=False)
        copy.save()
        return copy


def with_files(messages: list[Message], *, defer_text: bool = True) -> list[Message]:
    """`messages`, each given its attachments as `files` (one query for all of them)."""
    found = Attachment.objects.by_message([m.id for m in messages], defer_text=defer_text)
    for message in messages:
        message.files = found.get(message.id, [])
    return messages
