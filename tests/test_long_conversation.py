"""A 1,000-message conversation opens with as many queries as a 10-message one."""

import uuid

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from conversations import storage, turns
from conversations.models import Conversation, Message
from conversations.render import VERSION, render_markdown
from conversations.turns import TurnRequest
from tests.helpers import logged_in
from webchat.models import User

pytestmark = pytest.mark.django_db


def grow(conversation: Conversation, pairs: int) -> None:
    messages = []
    parent = None
    for i in range(pairs):
        question = Message(
            id=uuid.uuid4(),
            conversation=conversation,
            parent_id=parent,
            role="user",
            content=f"question {i}",
        )
        answer = Message(
            id=uuid.uuid4(), conversation=conversation, parent_id=question.id, role="assistant",
            content=f"**answer** {i}\n\n- a\n- b", model="grok-3", status="complete",
            prompt_tokens=10, completion_tokens=20,
        )  # fmt: skip
        # Stored rendered, as a generation stores it when it ends.
        answer.rendered, answer.rendered_version = render_markdown(answer.content), VERSION
        messages += [question, answer]
        parent = answer.id
    Message.objects.bulk_create(messages)
    conversation.current_leaf_id = parent
    conversation.save()


def queries_to_open(user: User, conversation: Conversation) -> tuple[int, str]:
    client = logged_in(user)
    with CaptureQueriesContext(connection) as context:
        response = client.get(f"/c/{conversation.id}/")
    assert response.status_code == 200
    return len(context), response.content.decode()


def test_a_thousand_messages_take_no_more_queries_than_ten(alice: User) -> None:
    short = Conversation.objects.create(owner=alice)
    grow(short, 5)
    long = Conversation.objects.create(owner=alice)
    grow(long, 500)
    few, _ = queries_to_open(alice, short)
    many, html = queries_to_open(alice, long)
    assert many == few, f"{few} queries for 10 messages, {many} for 1,000"
    thread = html.split('<section id="thread"')[1].split("</section>")[0]
    assert thread.count('<article class="message') == 1000
    assert "question 499" in html and "<strong>answer</strong> 499" in html


def test_opening_a_long_conversation_stays_within_a_fixed_budget(
    alice: User, django_assert_max_num_queries: object
) -> None:
    long = Conversation.objects.create(owner=alice)
    grow(long, 500)
    client = logged_in(alice)
    client.get("/")  # the session and user lookups are warmed the same way for every page
    # The sidebar takes four of them (pinned and folders, folders, a page by day, archived).
    with django_assert_max_num_queries(17):
        assert client.get(f"/c/{long.id}/").status_code == 200


def queries_to_send(conversation: Conversation, channel: str) -> tuple[int, dict]:
    with CaptureQueriesContext(connection) as context:
        turn = turns.begin(conversation, TurnRequest(content="and then?", model="grok-3"), channel)
    return len(context), turn.payload


def test_a_send_on_a_thousand_messages_takes_no_more_queries_than_on_ten(alice: User) -> None:
    short = Conversation.objects.create(owner=alice)
    grow(short, 5)
    long = Conversation.objects.create(owner=alice)
    grow(long, 500)
    # The person's storage count (an aggregate kept for minutes) is ready for both.
    storage.used(alice)
    few, _ = queries_to_send(short, "one")
    many, payload = queries_to_send(long, "two")
    assert many == few, f"{few} queries for 10 messages, {many} for 1,000"
    # The whole thread goes upstream, oldest first, then the new message.
    contents = [m["content"] for m in payload["messages"]]
    assert len(contents) == 1001
    assert contents[0] == "question 0" and contents[-2].endswith("answer** 499\n\n- a\n- b")
    assert contents[-1] == "and then?"
