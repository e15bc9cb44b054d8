"""A very long thread (60,000 messages by default): its import, a fork of its share, and its
shared page, on a new SQLite file.

Meanwhile another connection writes every 20 ms, as other people's sends do, and the
longest it waited for SQLite's one writer is printed for each step, beside the time the
step took. The fork is also run the way it was written before (one INSERT per message, the
thread read inside the transaction), in the same process, for the ratio.

    python bench/long_thread.py [--messages 60000]
"""

import argparse
import io
import json
import sqlite3
import sys
import threading
import time
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--messages", type=int, default=60_000)
args = parser.parse_args()

from bench.scratch import django_on_a_scratch_database  # noqa: E402

django_on_a_scratch_database(LOG_LEVEL="WARNING", ALLOWED_HOSTS="testserver")

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import transaction  # noqa: E402
from django.test import Client  # noqa: E402

from conversations import archive  # noqa: E402
from conversations.models import Conversation, Message, Share, with_files  # noqa: E402
from webchat.models import User  # noqa: E402

call_command("migrate", verbosity=0)


def thread_archive(count: int) -> bytes:
    """A webchat archive of one conversation of `count` messages, one after another."""
    messages, parent = [], None
    for n in range(count):
        role = "user" if n % 2 == 0 else "assistant"
        messages.append(
            {
                "id": f"m{n}",
                "parent": parent,
                "role": role,
                "content": f"**message {n}** " + "word " * 20,
                "status": "complete",
                "model": "grok-3" if role == "assistant" else "",
            }
        )
        parent = f"m{n}"
    day = "2026-01-01T00:00:00+00:00"
    conversation = {
        "id": "long",
        "title": "A long thread",
        "created": day,
        "updated": day,
        "current_leaf": parent,
        "messages": messages,
    }
    head = {"format": archive.FORMAT, "version": archive.VERSION, "exported": day}
    made = io.BytesIO()
    with zipfile.ZipFile(made, "w", zipfile.ZIP_DEFLATED) as zipped:
        zipped.writestr("archive.json", json.dumps({**head, "username": "x", "preferences": {}}))
        zipped.writestr("conversations.json", json.dumps([conversation]))
    return made.getvalue()


class Writer(threading.Thread):
    """Another connection writing every 20 ms: the longest it waited for the writer."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.longest = 0.0
        self.going = True

    def run(self) -> None:
        other = sqlite3.connect(settings.DATABASES["default"]["NAME"], timeout=600)
        while self.going:
            started = time.perf_counter()
            other.execute("BEGIN IMMEDIATE")
            other.execute("COMMIT")
            self.longest = max(self.longest, time.perf_counter() - started)
            time.sleep(0.02)
        other.close()


def timed(name: str, step: object) -> object:
    writer = Writer()
    writer.start()
    started = time.perf_counter()
    result = step()  # type: ignore[operator]
    took = time.perf_counter() - started
    writer.going = False
    writer.join()
    print(f"{name:<44} {took:8.2f} s   another writer waited at most {writer.longest:6.2f} s")
    return result


def fork_as_before(share: Share, owner: User) -> Conversation:
    """The fork as it was: the thread read inside the transaction, one INSERT a message."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=owner.pk).first()
        copy = Conversation.objects.create(owner=owner, title=share.conversation.title)
        parent = None
        for message in with_files(share.messages(), defer_text=False):
            parent = Message.objects.create(
                conversation=copy,
                parent=parent,
                role=message.role,
                content=message.content,
                model=message.model,
                status=message.status,
            )
        copy.current_leaf = parent
        copy.save(update_fields=["current_leaf", "updated"])
    return copy


alice = User.objects.create_user("alice", password="a long enough passphrase 42")
bob = User.objects.create_user("bob", password="a long enough passphrase 42")
made = thread_archive(args.messages)
print(f"{args.messages:,} messages, an archive of {len(made) / 2**20:.1f} MiB\n")
timed("import", lambda: archive.import_file(alice, io.BytesIO(made)))
conversation = Conversation.objects.get(owner=alice)
share = Share.objects.create(conversation=conversation, leaf=conversation.current_leaf)
reader = Client()
reader.force_login(bob)
timed("fork (Continue this conversation)", lambda: reader.post(f"/s/{share.token}/fork/"))
timed("fork, as it was written before", lambda: fork_as_before(share, bob))
page = timed("the shared page (its last messages)", lambda: Client().get(f"/s/{share.token}/"))
print(f"\nthe shared page: {len(page.content) / 2**20:.1f} MiB")  # type: ignore[attr-defined]
