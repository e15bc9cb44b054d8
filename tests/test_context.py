"""A conversation that outgrows the model's context: the newest whole turns go, a summary
can stand in for the rest, and a request the upstream still finds too long is recovered.
Through the socket and HTTP, with the simulator counting tokens and refusing, as xAI does,
a prompt over its window."""

import asyncio
import logging
import uuid
from typing import Any

import pytest
from channels.db import database_sync_to_async
from django.test import Client

from conversations import context, summaries, turns
from conversations.models import Conversation, Message, Said, Summary
from conversations.turns import TurnRequest
from tests.helpers import add_exchange, logged_in, open_socket, send
from webchat import sse
from webchat.calls import Call
from webchat.models import PROMPT_RATIO_MAX, ChatModel, UsageRecord, User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("finish_generations"),
]

# The simulator refuses a prompt over this many tokens (its own count: a word a token).
WINDOW = 1_500


def small_window(slug: str = "grok-3", window: int = WINDOW) -> ChatModel:
    model = ChatModel.objects.get(slug=slug)
    model.context_window, model.max_output_tokens = window, 200
    model.save()
    return model


def long_conversation(owner: User, pairs: int = 40, words: int = 60) -> Conversation:
    conversation = Conversation.objects.create(owner=owner, title="long")
    for i in range(pairs):
        add_exchange(
            conversation,
            f"question {i} " + "word " * words,
            f"answer {i} " + "reply " * words,
        )
    return conversation


def fit_of(conversation: Conversation, model: ChatModel) -> context.Window:
    conversation.refresh_from_db()
    path = conversation.history(conversation.current_leaf_id)
    return context.fit(model, [*path, Said(None, "user", "next")], "", model.max_output_tokens)


def test_the_newest_whole_turns_that_fit_go_upstream(alice: User) -> None:
    model = small_window()
    conversation = long_conversation(alice)
    turn = turns.begin(conversation, TurnRequest(content="and now?", model="grok-3"), "c")
    messages = turn.payload["messages"]
    assert messages[0]["role"] == "user" and messages[-1]["content"] == "and now?"
    # Whole turns: each question is followed by its answer, the oldest ones left out.
    first = int(messages[0]["content"].split()[1])
    assert 0 < first < 39
    assert [m["content"].split()[:2] for m in messages[:-1]] == [
        [kind, str(i)] for i in range(first, 40) for kind in ("question", "answer")
    ]
    # The estimate reserved is what fits, and the next question would leave out the same.
    assert turn.estimate <= model.context_window - 200
    assert UsageRecord.objects.get(pk=turn.usage_record).prompt_estimate == turn.estimate


def test_a_message_too_long_for_the_model_is_refused_and_nothing_is_stored(
    alice: User,
) -> None:
    small_window()
    conversation = Conversation.objects.create(owner=alice)
    with pytest.raises(Exception, match="too long for Grok 3"):
        turns.begin(conversation, TurnRequest(content="word " * 5000, model="grok-3"), "c")
    assert not Message.objects.filter(conversation=conversation).exists()


async def test_past_the_window_the_upstream_never_sees_too_much(alice: User) -> None:
    await database_sync_to_async(small_window)()
    conversation = await database_sync_to_async(long_conversation)(alice)
    socket, _ = await open_socket(alice, conversation.id)
    # The simulator refuses past WINDOW tokens, and lists what it received.
    start = await send(socket, f"what now? [sim context={WINDOW} echo]")
    frames = await socket.receive_until("done", message=start["messages"][0])
    assert frames[-1]["status"] == "complete", frames[-1]
    reply = await database_sync_to_async(Message.objects.get)(pk=start["messages"][0])
    received = int(reply.content.split()[2])  # "I received N messages."
    assert 2 < received < 81
    # "… user: question K …": the oldest turns were left out, whole.
    assert reply.content.split()[4:6] == ["user:", "question"]
    assert int(reply.content.split()[6]) == 40 - received // 2
    await socket.close()


async def test_without_the_window_the_simulator_would_refuse_it(alice: User) -> None:
    """The same conversation, its model's window said to be huge: the upstream refuses,
    and the person reads a sentence that names the cure."""
    await database_sync_to_async(small_window)(window=1_000_000)
    conversation = await database_sync_to_async(long_conversation)(alice)
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, f"what now? [sim context={WINDOW}]")
    frames = await socket.receive_until("done", message=start["messages"][0])
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == "context_too_long"
    assert "Summarize" in error["message"]
    await socket.close()


def summarize(client: Client, conversation: Conversation, **data: Any) -> Any:
    leaf = data.pop("leaf", conversation.current_leaf_id)
    return client.post(
        f"/c/{conversation.id}/summarize/",
        {"leaf": str(leaf), "model": "grok-3", **data},
        HTTP_ACCEPT="application/json",
    )


def test_summarize_stores_a_summary_and_the_next_request_uses_it(alice: User) -> None:
    model = small_window()
    conversation = long_conversation(alice)
    left_out = fit_of(conversation, model).left_out
    assert left_out
    response = summarize(logged_in(alice), conversation)
    assert response.status_code == 200, response.content
    summary = Summary.objects.get(conversation=conversation)
    assert response.json()["summary"]["through"] == str(summary.through_id)
    # It covers what was left out and the older half of what was sent: room to go on.
    path = [m.id for m in conversation.path_to(conversation.current_leaf_id)]
    assert path.index(summary.through_id) > path.index(left_out[-1].id)
    assert summary.covers == path.index(summary.through_id) + 1
    assert summary.content and summary.model == "grok-3"
    # A real call, in the ledger.
    record = UsageRecord.objects.get(generation__startswith="summary.")
    assert record.status == "complete" and record.completion_tokens > 0
    # From now on the summary stands in for those turns: it goes with the system prompt.
    turn = turns.begin(conversation, TurnRequest(content="go on", model="grok-3"), "c")
    messages = turn.payload["messages"]
    assert messages[0]["role"] == "system" and summary.content in messages[0]["content"]
    assert all(
        m["content"].split()[1] != "0" for m in messages[1:] if isinstance(m["content"], str)
    )
    # Nothing more to summarize once it all fits.
    again = fit_of(conversation, model)
    assert again.summary is not None


def test_nothing_to_summarize_when_it_all_fits(alice: User) -> None:
    conversation = long_conversation(alice, pairs=2, words=3)
    response = summarize(logged_in(alice), conversation)
    assert response.status_code == 400
    assert "nothing earlier" in response.json()["error"]["message"]
    assert not UsageRecord.objects.exists()


def test_someone_elses_conversation_cannot_be_summarized(alice: User, bob: User) -> None:
    conversation = long_conversation(alice, pairs=2, words=3)
    assert summarize(logged_in(bob), conversation).status_code == 404
    stranger = summarize(logged_in(alice), conversation, leaf=uuid.uuid4())
    assert stranger.status_code == 404


async def test_a_context_error_is_summarized_and_retried(alice: User) -> None:
    await database_sync_to_async(small_window)(window=1_000_000)
    conversation = await database_sync_to_async(long_conversation)(alice)
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "what now? [sim error=xai-400-context]")
    failed = start["messages"][0]
    await socket.receive_until("done", message=failed)
    # The upstream said 150,000 tokens: the model's estimate is corrected upward, by a
    # quarter at most for one request (it is every person's estimate).
    model = await database_sync_to_async(ChatModel.objects.get)(slug="grok-3")
    assert model.prompt_ratio == pytest.approx(1.25)
    client = await database_sync_to_async(logged_in)(alice)
    response = await database_sync_to_async(summarize)(client, conversation, leaf=failed, retry=1)
    assert response.status_code == 200, response.content
    summary = await database_sync_to_async(Summary.objects.get)(conversation=conversation)
    question = await database_sync_to_async(Message.objects.get)(pk=failed)
    assert summary.through_id != question.parent_id  # all before the last question
    history = await database_sync_to_async(conversation.history)(question.parent_id)
    assert [m.role for m in history[:2]] == ["summary", "user"]
    await socket.close()


async def test_an_undercounting_estimate_is_logged_and_corrected(
    alice: User, caplog: pytest.LogCaptureFixture
) -> None:
    conversation = await database_sync_to_async(Conversation.objects.create)(owner=alice)
    socket, _ = await open_socket(alice, conversation.id)
    with caplog.at_level(logging.WARNING, logger="webchat.models"):
        start = await send(socket, "count me " * 50 + "[sim token-scale=4]")
        await socket.receive_until("done", message=start["messages"][0])
    assert "fell short" in caplog.text
    model = await database_sync_to_async(ChatModel.objects.get)(slug="grok-3")
    assert model.prompt_ratio == pytest.approx(1.25)
    await socket.close()


def test_the_learned_ratio_is_bounded_and_comes_back_down() -> None:
    model = ChatModel.objects.get(slug="grok-3")
    for _ in range(20):  # someone's dense text, again and again
        ChatModel.objects.observe_prompt(model, 100, 1_000)
    assert model.prompt_ratio == PROMPT_RATIO_MAX
    for _ in range(60):  # everyone else's
        ChatModel.objects.observe_prompt(model, 100, 60)
    assert model.prompt_ratio < 1.1
    assert ChatModel.objects.get(slug="grok-3").prompt_ratio == model.prompt_ratio


def test_a_call_settled_twice_corrects_the_estimate_once(alice: User) -> None:
    """A retried end of a reply whose first commit went through settles again: the
    model learns from the upstream's count only the first time."""
    model = ChatModel.objects.get(slug="grok-3")
    record = UsageRecord.objects.reserve(
        user=alice, chat_model=model, prompt_tokens=100, max_tokens=100, n=1
    )
    call = Call(model=model, payload={}, record=record.pk, estimate=100)
    call.usage = sse.Usage(prompt_tokens=200, completion_tokens=10)
    assert call.settle("complete")
    assert not call.settle("complete")
    assert ChatModel.objects.get(slug="grok-3").prompt_ratio == pytest.approx(1.25)


def test_a_message_edited_right_after_a_summary_goes_under_the_summarized_one(
    alice: User,
) -> None:
    small_window()
    conversation = long_conversation(alice)
    assert summarize(logged_in(alice), conversation).status_code == 200
    summary = Summary.objects.get(conversation=conversation)
    # The question after the summary's last message, edited: a sibling of it.
    turn = turns.begin(
        conversation, TurnRequest(content="edited", parent=summary.through_id, model="grok-3"), "c"
    )
    edited = Message.objects.get(pk=turn.user_message["id"])
    assert edited.parent_id == summary.through_id
    assert turn.payload["messages"][-1]["content"] == "edited"
    assert summary.content in turn.payload["messages"][0]["content"]


async def test_a_summary_whose_caller_left_still_settles(alice: User) -> None:
    """The person closes the tab while the model writes: the view is cancelled, and the
    call it reserved is settled all the same (it would hold a place in the plan)."""
    await database_sync_to_async(small_window)()
    conversation = await database_sync_to_async(long_conversation)(alice)
    job = await database_sync_to_async(summaries.prepare)(
        conversation, conversation.current_leaf_id
    )
    job.call.payload["messages"][-1]["content"] += " [sim words=200 delay=50]"
    task = asyncio.create_task(summaries.run(job))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    record = await database_sync_to_async(UsageRecord.objects.get)(pk=job.call.record)
    assert record.status == "interrupted"
    assert not await Summary.objects.filter(conversation=conversation).aexists()
