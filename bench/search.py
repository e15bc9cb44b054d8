"""Search on a large history: 10,000 conversations and 200,000 messages of one person.

Builds them in a fresh database (SQLite by default; `--postgres` uses a scratch database
on the local PostgreSQL), then times one page of results for a rare, a middling and a
common word, a two-character word (shorter than a trigram) and a title, on page 1 and
page 10: through the index (conversations/search.py, what /search/ runs) and, in the same
run, the way it was done before (a substring filter, a COUNT, then one query per hit for
its snippet). Prints milliseconds (median of the runs) and the ratio; also the whole
/search/ page through Django's test client. With `--crowd`, another person with as large a
history, in which the reader's rare word is in a third of the messages, shares the
database: a search should cost what the reader's own history costs.

    python bench/search.py [--conversations 10000] [--per 20] [--runs 5] [--postgres] [--crowd]
"""

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
parser.add_argument("--conversations", type=int, default=10_000)
parser.add_argument("--per", type=int, default=20, help="messages per conversation")
parser.add_argument("--runs", type=int, default=5)
parser.add_argument("--postgres", action="store_true", help="a scratch database on 127.0.0.1")
parser.add_argument("--crowd", action="store_true", help="another person, the rare word theirs")
args = parser.parse_args()

workdir = Path(tempfile.mkdtemp())
database = f"sqlite:///{workdir / 'db.sqlite3'}"
if args.postgres:
    import psycopg

    name = f"webchat_bench_search_{uuid.uuid4().hex[:8]}"
    with psycopg.connect("postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True) as db:
        db.execute(f"CREATE DATABASE {name}")
    database = f"postgres://postgres@127.0.0.1:5432/{name}"
os.environ.update(
    DJANGO_SETTINGS_MODULE="webchat.settings",
    DATABASE_URL=database,
    SECRET_KEY="bench-" + "x" * 50,
    GROK_SIMULATOR="off",
    DEBUG="false",
    ALLOWED_HOSTS="testserver",
)

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.paginator import EmptyPage, Paginator  # noqa: E402
from django.db import connection  # noqa: E402
from django.db.models import Q  # noqa: E402
from django.test import Client  # noqa: E402

from conversations.models import Conversation, Message  # noqa: E402
from conversations.search import PER_PAGE, find  # noqa: E402
from webchat.models import User  # noqa: E402

settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

WORDS = (
    "the of and to in is that for it as with was on be by this are or from at an have not "
    "which but all were when we there can been has more if will one do no their what so up "
    "out about who get would make time like just him know take people into year your good "
    "some could them see other than then now look only come its over think also back after "
    "use two how our work first well way even new want because any these give day most us "
    "kettle river garden window summer engine planet coffee violin lantern harbor pencil "
    "function variable database server request response cache index query thread socket"
).split()
RARE, MIDDLING, COMMON, SHORT, TITLED = "zanzibar", "kettle", "the", "木星", "Project 4242"


def build(name: str = "reader", rare: float = 0.0001) -> User:
    if name == "reader":
        call_command("migrate", verbosity=0)
    user = User.objects.create_user(name, password="a long enough passphrase 42")
    rng = random.Random(42 if name == "reader" else 7)
    started = time.perf_counter()
    for first in range(0, args.conversations, 500):
        conversations = [
            Conversation(owner=user, title=f"Project {n}" if n == 4242 else f"Chat {n}")
            for n in range(first, min(first + 500, args.conversations))
        ]
        Conversation.objects.bulk_create(conversations)
        messages = []
        for conversation in conversations:
            parent = None
            for i in range(args.per):
                words = rng.choices(WORDS, k=rng.randint(20, 90))
                if rng.random() < rare:
                    words.append(RARE)
                if rng.random() < 0.001:
                    words.append(SHORT)
                message = Message(
                    id=uuid.uuid4(),
                    conversation=conversation,
                    parent_id=parent,
                    role="user" if i % 2 == 0 else "assistant",
                    content=" ".join(words).capitalize() + ".",
                )
                messages.append(message)
                parent = message.id
        Message.objects.bulk_create(messages, batch_size=2_000)
    total = args.conversations * args.per
    elapsed = time.perf_counter() - started
    print(
        f"built {name}'s {args.conversations:,} conversations, {total:,} messages "
        f"in {elapsed:.0f} s"
    )
    return user


def before(user: User, words: str, number: int) -> list[tuple[Conversation, str]]:
    """The search as it was: a substring filter, a COUNT, then a query per hit."""
    mine = Conversation.objects.owned_by(user).filter(temporary=False)
    matches = mine.filter(Q(title__icontains=words) | Q(messages__content__icontains=words))
    try:
        page = Paginator(matches.distinct(), PER_PAGE).page(number)
    except EmptyPage:
        return []
    found = []
    for conversation in page:
        hit = conversation.messages.filter(content__icontains=words).only("content").first()
        found.append((conversation, hit.content if hit else ""))
    return found


def after(user: User, words: str, number: int) -> list[tuple[Conversation, str]]:
    rows, _ = find(user, words, number)
    return [(c, c.found or "") for c in rows]


def timed(work: Any, *work_args: Any) -> tuple[float, Any]:
    times, result = [], None
    for _ in range(args.runs):
        started = time.perf_counter()
        result = work(*work_args)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), result


def main() -> None:
    user = build()
    if args.crowd:
        build("crowd", rare=0.3)
    if "--plan" in sys.argv:
        return
    print(f"database: {connection.vendor}; median of {args.runs} runs, milliseconds\n")
    print(f"{'words':<14}{'page':>5}{'found':>7}{'before':>10}{'index':>10}{'ratio':>8}")
    for words in (RARE, SHORT, MIDDLING, COMMON, TITLED):
        for number in (1, 10):
            old_ms, old = timed(before, user, words, number)
            new_ms, new = timed(after, user, words, number)
            # The same conversations, in the same order, as before.
            assert [c.id for c, _ in old] == [c.id for c, _ in new], words
            print(
                f"{words:<14}{number:>5}{len(new):>7}{old_ms:>10.1f}{new_ms:>10.1f}"
                f"{old_ms / max(new_ms, 0.01):>7.0f}x"
            )
    client = Client()
    client.force_login(user)
    for words in (RARE, MIDDLING):
        page_ms, response = timed(client.get, "/search/", {"q": words})
        assert response.status_code == 200
        print(f"\nGET /search/?q={words}: {page_ms:.1f} ms (the whole page, snippets rendered)")


if __name__ == "__main__":
    try:
        main()
    finally:
        if args.postgres:
            connection.close()
            with psycopg.connect(
                "postgresql://postgres@127.0.0.1:5432/postgres", autocommit=True
            ) as db:
                db.execute(f"DROP DATABASE {name}")
