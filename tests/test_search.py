"""Search from the database's own index (SQLite FTS5 trigram, PostgreSQL pg_trgm): the
same answers as a substring match, the index in step with every change (on SQLite by the
time anyone searches: messages wait for it in batches), one query a page."""

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import search
from conversations.models import Conversation, Message, Share
from conversations.search import PER_PAGE, find
from tests.helpers import add_exchange, logged_in
from webchat.models import User

pytestmark = pytest.mark.django_db


def titles(user: User, words: str, number: int = 1) -> list[str]:
    return [c.title for c in find(user, words, number)[0]]


def test_a_page_of_results_with_each_first_hit_is_one_query(alice: User) -> None:
    for n in range(PER_PAGE + 3):
        conversation = Conversation.objects.create(owner=alice, title=f"c{n:02}")
        add_exchange(conversation, f"tell me about kettles, part {n}", "They boil water.")
        add_exchange(conversation, "and kettles again?", "Still boiling.")
    find(alice, "warm up")  # SQLite: the messages waiting for the index go in
    with CaptureQueriesContext(connection) as queries:
        found, page = find(alice, "KETTLES")
    # The page; on SQLite first whether any message waits for the index.
    assert len(queries) == (2 if connection.vendor == "sqlite" else 1)
    assert len(found) == PER_PAGE and page.total == PER_PAGE + 3 and page.has_next()
    assert found[0].title == "c22" and found[0].found == "tell me about kettles, part 22"
    rest, second = find(alice, "kettles", 2)
    assert [c.title for c in rest] == ["c02", "c01", "c00"] and not second.has_next()


def test_titles_and_words_of_any_length_and_script_are_found(alice: User) -> None:
    add_exchange(Conversation.objects.create(owner=alice, title="Greeting"), "你好世界", "hi")
    Conversation.objects.create(owner=alice, title="Sourdough starter")
    add_exchange(Conversation.objects.create(owner=alice, title="x"), "50% off_sale", "ok")
    assert titles(alice, "你好") == ["Greeting"]  # two characters: fewer than a trigram
    assert titles(alice, "sourDOUGH") == ["Sourdough starter"]
    assert titles(alice, "0% off_") == ["x"]  # LIKE's wildcards are plain characters
    assert titles(alice, "0%_off") == [] and titles(alice, "_") == ["x"]


def test_the_index_follows_every_change(alice: User, bob: User) -> None:
    conversation = Conversation.objects.create(owner=alice, title="t")
    reply = add_exchange(conversation, "question", "first draft")
    Message.objects.filter(pk=reply.pk).update(content="second draft")
    assert titles(alice, "first draft") == [] and titles(alice, "second draft") == ["t"]
    # A reply being written: SQLite's index takes it once it stops streaming, not at each
    # checkpoint (PostgreSQL's reads the content itself).
    streaming = add_exchange(conversation, "more", "", status="streaming")
    Message.objects.filter(pk=streaming.pk).update(content="half written")
    assert titles(alice, "half written") == ([] if connection.vendor == "sqlite" else ["t"])
    Message.objects.filter(pk=streaming.pk).update(content="whole reply", status="complete")
    assert titles(alice, "whole reply") == ["t"]
    # Someone else's words are never found; deleted ones neither.
    add_exchange(Conversation.objects.create(owner=bob, title="b"), "whole reply", "x")
    assert titles(alice, "whole reply") == ["t"]
    conversation.delete()
    assert titles(alice, "second draft") == [] and titles(bob, "whole reply") == ["b"]


def test_one_persons_id_is_never_found_inside_anothers() -> None:
    """The index keeps each row's person as "<id>": person 7 is not in 17, 71 or 777."""
    people = {
        pk: User.objects.create_user(f"p{pk}", password="a long enough passphrase 42", pk=pk)
        for pk in (7, 17, 71, 777)
    }
    for pk, person in people.items():
        conversation = Conversation.objects.create(owner=person, title=f"of {pk}")
        add_exchange(conversation, "zanzibar trip", "pack light")
        add_exchange(conversation, "木星", "a planet")  # shorter than a trigram
    for pk, person in people.items():
        assert titles(person, "zanzibar") == [f"of {pk}"]
        assert titles(person, "木星") == [f"of {pk}"]


def test_a_temporary_chat_is_not_found(alice: User) -> None:
    add_exchange(Conversation.objects.create(owner=alice, title="gone", temporary=True), "q", "a")
    assert titles(alice, "gone") == [] and titles(alice, "q") == []


def test_an_import_is_found_at_once(alice: User, settings: Any, tmp_path: Any) -> None:
    import io

    from conversations import archive
    from tests import chatgpt_export

    settings.MEDIA_ROOT = tmp_path
    archive.import_file(alice, io.BytesIO(chatgpt_export.as_json()))
    assert titles(alice, "béchamel") == ["Sauces"]


def waiting() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM message_search_pending")
        return cursor.fetchone()[0]


def indexed() -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM message_search")
        return cursor.fetchone()[0]


@pytest.fixture
def sqlite() -> None:
    if connection.vendor != "sqlite":
        pytest.skip("PostgreSQL's trigram index follows the table itself")


def test_messages_wait_for_the_sqlite_index_in_batches_and_a_search_finds_them(
    alice: User, sqlite: None
) -> None:
    conversation = Conversation.objects.create(owner=alice, title="t")
    add_exchange(conversation, "first question", "first answer")
    streaming = add_exchange(conversation, "second question", "", status="streaming")
    assert waiting() == 3 and indexed() == 0  # a reply being written waits for its end
    search.index_pending(search.BATCH)
    assert waiting() == 3  # fewer than a batch: left for later
    assert titles(alice, "second question") == ["t"]  # a search puts them in first
    assert waiting() == 0 and indexed() == 3
    Message.objects.filter(pk=streaming.pk).update(content="a whole answer", status="complete")
    assert waiting() == 1
    assert titles(alice, "whole answer") == ["t"] and indexed() == 4
    conversation.delete()
    assert waiting() == 0 and indexed() == 0  # nothing of a deleted message is left


def test_a_batch_larger_than_a_step_is_indexed_in_several_transactions(
    alice: User, sqlite: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "STEP", 2)
    conversation = Conversation.objects.create(owner=alice, title="t")
    for n in range(3):
        add_exchange(conversation, f"question {n}", f"answer {n}")
    Message.objects.filter(content="answer 2").delete()  # its row leaves the queue with it
    with CaptureQueriesContext(connection) as queries:
        search.index_pending()
    assert waiting() == 0 and indexed() == 5
    assert sum(q["sql"].startswith("DELETE FROM message_search_pending") for q in queries) == 3
    assert titles(alice, "answer 1") == ["t"] and titles(alice, "answer 2") == []


def test_a_step_holds_the_database_for_a_bounded_amount_of_text(
    alice: User, sqlite: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A fork's or an import's long messages: a step stops at STEP_CHARS, but takes at
    least one message, however long, so the queue always moves."""
    monkeypatch.setattr(search, "STEP_CHARS", 1_000)
    conversation = Conversation.objects.create(owner=alice, title="t")
    add_exchange(conversation, "long " * 500, "short one")  # 2,500 characters, then 9
    add_exchange(conversation, "short two", "x" * 1_000)
    search.index_pending(steps=1)
    assert waiting() == 3 and indexed() == 1  # the long one alone
    search.index_pending(steps=1)
    assert waiting() == 1 and indexed() == 3  # 9 + 9, not the 1,000 past the budget
    search.index_pending(steps=1)
    assert waiting() == 0 and indexed() == 4


def test_a_fork_indexes_its_copy_itself(alice: User, bob: User, sqlite: None) -> None:
    """Not left for someone else's search to pay for."""
    conversation = Conversation.objects.create(owner=alice, title="shared")
    add_exchange(conversation, "the okapi's stripes", "camouflage")
    search.index_pending()
    share = Share.objects.create(conversation=conversation, leaf=conversation.current_leaf)
    assert logged_in(bob).post(f"/s/{share.token}/fork/").status_code == 302
    assert waiting() == 0 and indexed() == 4
