import uuid
from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from conversations.models import Conversation, Message, Said, Summary
from tests.helpers import attach_image
from webchat import sql
from webchat.errors import ConversationBusy

pytestmark = pytest.mark.django_db


def turn(conversation: Conversation, content: str, parent: Message | None = None) -> list[Message]:
    _, replies = conversation.add_turn(
        content=content, parent=parent, model="grok-3", params={}, n=1, channel="c"
    )
    Message.objects.filter(pk=replies[0].pk).update(status=Message.Status.COMPLETE)
    conversation.refresh_from_db()
    return replies


def test_it_titles_itself_from_the_first_message(conversation: Conversation) -> None:
    turn(conversation, "  How do   I bake bread?\n")
    assert conversation.title == "How do I bake bread?"
    turn(conversation, "another", conversation.current_leaf)
    assert conversation.title == "How do I bake bread?"


def test_a_title_has_the_words_not_the_markdown(conversation: Conversation) -> None:
    turn(conversation, "# **Plan** the [trip](https://example.org) to `Oslo`\n\n- soon")
    assert conversation.title == "Plan the trip to Oslo soon"


def test_a_long_first_message_gives_a_short_title_of_whole_words(
    conversation: Conversation,
) -> None:
    turn(conversation, "How would I reverse a string in Python without slicing it, please?")
    assert conversation.title == "How would I reverse a string in Python without slicing it…"
    other = Conversation.objects.create(owner=conversation.owner)
    turn(other, "Explain " + "x" * 80)  # no word ends past the middle: cut inside one
    assert len(other.title) == 60 and other.title.endswith("x…")
    third = Conversation.objects.create(owner=conversation.owner)
    turn(third, "字" * 80)
    assert third.title == "字" * 59 + "…"


def test_the_thread_follows_the_current_leaf(conversation: Conversation) -> None:
    (first,) = turn(conversation, "one")
    (second,) = turn(conversation, "two", first)
    assert [m.content for m in conversation.thread() if m.role == "user"] == ["one", "two"]
    assert conversation.thread()[-1] == second


def test_the_thread_its_files_and_summaries_load_in_four_queries_however_long(
    conversation: Conversation,
) -> None:
    leaf = None
    for i in range(60):
        (leaf,) = turn(conversation, f"message {i}", leaf)
    with CaptureQueriesContext(connection) as queries:
        thread = conversation.thread()
    # The tree's shape (ids alone), the path's rows, their files, their summaries.
    assert len(thread) == 120 and len(queries) == 4
    assert all(m.files == [] for m in thread)


def test_unstorable_text_is_refused_by_the_written_out_insert(conversation: Conversation) -> None:
    with pytest.raises(ValidationError, match="content"):
        conversation.add_turn(
            content="a\x00b", parent=None, model="grok-3", params={}, n=1, channel="c"
        )
    assert not conversation.messages.exists()


def test_a_second_turn_while_streaming_is_busy(conversation: Conversation) -> None:
    conversation.add_turn(content="one", parent=None, model="grok-3", params={}, n=1, channel="c")
    with pytest.raises(ConversationBusy):
        conversation.add_turn(
            content="two", parent=None, model="grok-3", params={}, n=1, channel="c"
        )
    assert conversation.messages.filter(content="two").count() == 0


def test_a_reply_whose_lease_ran_out_keeps_the_conversation_busy(
    conversation: Conversation,
) -> None:
    """Its lease alone does not say its generation died (the database may have refused its
    checkpoints): the socket asks the generation (a ping) before it frees the conversation."""
    _, (reply,) = conversation.add_turn(
        content="one", parent=None, model="grok-3", params={}, n=1, channel="c"
    )
    Message.objects.filter(pk=reply.pk).update(
        lease_until=timezone.now() - timedelta(seconds=1), content="par"
    )
    with pytest.raises(ConversationBusy):
        conversation.add_turn(
            content="two", parent=None, model="grok-3", params={}, n=1, channel="c"
        )
    reply.refresh_from_db()
    assert reply.status == Message.Status.STREAMING and reply.content == "par"


def test_every_model_reads_well(conversation: Conversation) -> None:
    (reply,) = turn(conversation, "hello there")
    assert str(conversation) == "hello there"
    assert str(reply).startswith("assistant")
    assert str(Conversation(owner=conversation.owner)) == "New chat"


def test_a_send_to_a_conversation_deleted_meanwhile_is_not_found(
    conversation: Conversation,
) -> None:
    from conversations import turns
    from webchat.errors import NotFound

    Conversation.objects.filter(pk=conversation.pk).delete()  # in another tab
    with pytest.raises(NotFound, match="no longer exists"):
        turns.begin(conversation, turns.TurnRequest(content="hi", model="grok-3"), "c")


def test_a_prompts_history_is_its_branch_from_the_summary_on_with_files_in_two_queries(
    conversation: Conversation,
) -> None:
    leaf = None
    for i in range(40):
        (leaf,) = turn(conversation, f"message {i}", leaf)
    path = conversation.path_to(leaf.pk)
    # Another branch beside the path, which the prompt must not read.
    (other,) = turn(conversation, "a branch", path[-3])
    # A summary made through the 30th turn's reply, and a file after it.
    Summary.objects.create(conversation=conversation, through=path[59], content="so far")
    image = attach_image(path[70])
    with CaptureQueriesContext(connection) as queries:
        history = conversation.history(leaf.pk)
    assert len(queries) == 2  # the path, then the files of the one message that has some
    assert history[0] == Said(path[59].id, "summary", "so far")
    assert [said.id for said in history[1:]] == [m.id for m in path[60:]]
    assert [said.content for said in history[1:3]] == ["message 30", ""]
    assert [said.files for said in history if said.files] == [(image,)]
    branch = [said.id for said in conversation.history(other.pk)]
    assert branch == [m.id for m in path[59:78]] + [other.parent_id, other.id]
    # A message of another conversation is no leaf of this one, and a parent link that
    # leads into another conversation (no code makes one) is not followed.
    stranger = Conversation.objects.create(owner=conversation.owner)
    assert stranger.history(leaf.pk) == []
    (elsewhere,) = turn(stranger, "another person's words")
    Message.objects.filter(pk=path[0].pk).update(parent=elsewhere.parent_id)
    assert [said.id for said in conversation.history(path[5].id)] == [m.id for m in path[:6]]


def test_a_written_out_update_changes_a_row_only_while_it_still_matches(
    conversation: Conversation,
) -> None:
    (reply,) = turn(conversation, "hello")  # complete: no checkpoint may revive it
    late = Message(id=reply.id, content="a late checkpoint")
    assert sql.update(late, ["content"], where={"status": Message.Status.STREAMING}) == 0
    reply.refresh_from_db()
    assert reply.content == ""
    assert sql.update(late, ["content"], where={"status": Message.Status.COMPLETE}) == 1
    reply.refresh_from_db()
    assert reply.content == "a late checkpoint"


def test_a_written_out_select_reads_rows_as_the_orm_does(conversation: Conversation) -> None:
    (reply,) = turn(conversation, "hello")
    Message.objects.filter(pk=reply.pk).update(params={"temperature": 0.5})
    table = Message._meta.db_table
    key = Message._meta.pk.get_db_prep_value(reply.pk, connection)
    query = f"SELECT *, 7 AS extra FROM {table} WHERE id = %s"  # noqa: S608
    (read,) = sql.select(Message, query, [key])
    (raw,) = Message.objects.raw(query, [key])
    for field in Message._meta.concrete_fields:  # converted: uuids, dates, JSON
        assert getattr(read, field.attname) == getattr(raw, field.attname), field.name
    assert read.params == {"temperature": 0.5} and read.created.tzinfo is not None
    assert read.extra == 7  # a column of no field: an attribute as it came
    assert not read._state.adding
    # Some columns only: the others are deferred, as the ORM defers them.
    (some,) = sql.select(Message, f"SELECT id, role FROM {table} WHERE id = %s", [key])  # noqa: S608
    assert some.get_deferred_fields() >= {"content", "params"} and some.role == "assistant"
    nobody = Message._meta.pk.get_db_prep_value(uuid.uuid4(), connection)
    assert sql.select(Message, f"SELECT * FROM {table} WHERE id = %s", [nobody]) == []  # noqa: S608
    with pytest.raises(ValueError, match="primary key"):
        sql.select(Message, f"SELECT role FROM {table}", [])  # noqa: S608
    # A parameter is adapted as a raw query adapts it: an aware time in any zone is the
    # same moment (SQLite compares times as UTC text).
    when = f"SELECT * FROM {table} WHERE id = %s AND created < %s"  # noqa: S608
    later = (read.created + timedelta(hours=1)).astimezone(ZoneInfo("America/Los_Angeles"))
    earlier = (read.created - timedelta(hours=1)).astimezone(ZoneInfo("Asia/Tokyo"))
    assert sql.select(Message, when, [key, later]) == [read]
    assert sql.select(Message, when, [key, earlier]) == []
    by_name = f"SELECT * FROM {table} WHERE id = %(id)s AND created < %(when)s"  # noqa: S608
    assert sql.select(Message, by_name, {"id": key, "when": later}) == [read]
