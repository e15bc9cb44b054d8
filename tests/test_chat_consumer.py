"""The websocket consumer through the whole ASGI stack, the simulator upstream on loopback."""

import asyncio
import os
import time
import uuid
from datetime import timedelta
from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.layers import get_channel_layer
from django.db import OperationalError, transaction
from django.test import Client
from django.utils import timezone

from conversations import consumers, frames, generation, render
from conversations.consumers import ChatConsumer
from conversations.frames import conversation_group
from conversations.models import Conversation, Message
from conversations.resume import ResumeBuffer
from tests.helpers import add_exchange, logged_in, open_socket, send, split_at_snapshot, text_of
from webchat.layers import InMemoryLayer
from webchat.models import ChatModel, Plan, User
from webchat.simulator import Simulator, script

# A generation of this process that is gone: a ping reaches where it was, and no one answers.
DEAD = generation.PREFIX + "gone"

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("finish_generations"),
]


@database_sync_to_async
def messages_of(conversation: Conversation) -> list[Message]:
    return list(conversation.messages.order_by("created"))


@database_sync_to_async
def reload(message_id: str) -> Message:
    return Message.objects.get(pk=message_id)


async def test_it_streams_a_reply_word_by_word_and_stores_it(
    alice: User, conversation: Conversation
) -> None:
    socket, connected = await open_socket(alice, conversation.id)
    assert connected
    await socket.send(
        {
            "type": "send",
            "content": "Hello [sim words=40 delay=10]",
            "model": "grok-3",
            "client_id": "c1",
        }
    )
    ack = await socket.receive()
    assert ack["type"] == "ack" and ack["client_id"] == "c1"
    assert ack["message"]["content"] == "Hello [sim words=40 delay=10]"
    start = await socket.receive()
    reply_id = start["messages"][0]
    frames = await socket.receive_until("done")
    deltas = [f for f in frames if f["type"] == "delta"]
    assert len(deltas) > 5, "the reply should arrive in many pieces"
    assert [f["seq"] for f in deltas] == list(range(1, len(deltas) + 1))
    done = frames[-1]
    assert done["status"] == "complete" and done["finish_reason"] == "stop"
    assert done["usage"]["completion_tokens"] == 40
    assert '<p dir="ltr">' in done["html"]
    stored = await reload(reply_id)
    assert stored.content == text_of(frames, reply_id)
    assert stored.status == Message.Status.COMPLETE
    assert stored.completion_tokens == 40
    assert stored.seq == deltas[-1]["seq"]
    await database_sync_to_async(conversation.refresh_from_db)()
    assert str(conversation.current_leaf_id) == reply_id
    assert conversation.title == "Hello [sim words=40 delay=10]"
    await socket.close()


async def test_deltas_are_coalesced_but_the_first_goes_at_once(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    settings.CHAT_COALESCE_SECONDS = 0.05
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "[sim words=100 delay=2]")
    frames = await socket.receive_until("done")
    deltas = [f for f in frames if f["type"] == "delta"]
    # 100 upstream chunks over ~0.3 s become far fewer frames.
    assert len(deltas) < 40
    # The first at once: a word or so, where a coalesced frame holds many.
    assert len(deltas[0]["content"].split()) <= 3 < max(len(d["content"].split()) for d in deltas)
    assert len(text_of(frames, start["messages"][0]).split()) == 100
    await socket.close()


async def test_the_whole_conversation_goes_upstream(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await send(
        socket,
        "My name is Alice. [sim words=5]",
        params={"system": "Be brief.", "temperature": 0.3, "max_tokens": 64},
    )
    await socket.receive_until("done")
    await send(socket, "What is my name? [sim echo]")
    await socket.receive_until("done")
    request = simulator.requests[-1]
    roles = [m["role"] for m in request["messages"]]
    assert roles == ["user", "assistant", "user"]
    assert request["messages"][0]["content"] == "My name is Alice. [sim words=5]"
    assert request["messages"][1]["content"]
    assert request["model"] == "grok-3"
    first = simulator.requests[-2]
    assert first["messages"][0] == {"role": "system", "content": "Be brief."}
    assert first["temperature"] == 0.3 and first["max_tokens"] == 64 and first["stream"] is True
    await socket.close()


async def test_a_second_socket_sees_the_same_frames(
    alice: User, conversation: Conversation
) -> None:
    first, _ = await open_socket(alice, conversation.id)
    second, _ = await open_socket(alice, conversation.id)
    start = await send(first, "[sim words=20]")
    reply = start["messages"][0]
    frames_first = await first.receive_until("done")
    frames_second = await second.receive_until("done")
    assert frames_second[0]["type"] == "ack"
    assert text_of(frames_second, reply) == text_of(frames_first, reply) != ""
    await first.close()
    await second.close()


async def test_stop_cancels_upstream_and_keeps_the_partial_text(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    prompt = f"[sim words=400 delay=20] {uuid.uuid4()}"
    start = await send(socket, prompt)
    reply = start["messages"][0]
    frames = [await socket.receive() for _ in range(3)]
    await socket.send({"type": "stop"})
    frames += await socket.receive_until("done")
    assert frames[-1]["status"] == "stopped"
    stored = await reload(reply)
    assert stored.status == Message.Status.STOPPED
    assert stored.content == text_of(frames, reply)
    assert 0 < len(stored.content.split()) < 400
    for _ in range(100):
        if prompt in simulator.aborted:
            break
        await asyncio.sleep(0.05)
    assert list(simulator.aborted).count(prompt) == 1, "the upstream request should be closed"
    # The conversation takes a new message at once.
    await send(socket, "next [sim words=3]")
    assert (await socket.receive_until("done"))[-1]["status"] == "complete"
    await socket.close()


async def test_resume_gives_the_reply_whole_without_gap_or_duplicate(
    alice: User, conversation: Conversation
) -> None:
    first, _ = await open_socket(alice, conversation.id)
    start = await send(first, "[sim words=120 delay=10]")
    reply = start["messages"][0]
    early = [await first.receive() for _ in range(4)]
    held_seq = early[-1]["seq"]
    held = text_of(early, reply)
    await first.close()  # the tab goes away mid-reply; the reply goes on
    await asyncio.sleep(0.2)
    second, _ = await open_socket(alice, conversation.id)
    await second.send({"type": "resume", "message": reply, "seq": held_seq})
    frames = await second.receive_until("done")
    snapshot, after = split_at_snapshot(frames)
    assert snapshot["status"] == "streaming"
    # From the live generation: no checkpoint has been written yet, the snapshot is ahead.
    assert snapshot["seq"] >= held_seq
    assert snapshot["content"].startswith(held)
    assert [f["seq"] for f in after] == list(
        range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(after))
    )
    whole = snapshot["content"] + text_of(after, reply)
    stored = await reload(reply)
    assert whole == stored.content
    assert len(whole.split()) == 120
    await second.close()


async def test_a_slow_snapshot_joins_the_held_frames_on_both_sides_exactly(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Frames are held from the resume until the snapshot: some were published before the
    snapshot was taken (seq ≤ its seq, dropped), some after (sent). Both sides are forced:
    the request is slow to leave and the answer slow to come back."""
    ask, answer = frames.ask_snapshot, generation.Generation._answer

    async def slow_ask(*args: Any) -> None:
        await asyncio.sleep(0.25)
        await ask(*args)

    async def slow_answer(self: Any, channel: str, message: dict[str, Any]) -> None:
        if message["type"] == "chat.snapshot":
            await asyncio.sleep(0.25)
        await answer(self, channel, message)

    released: list[tuple[int, list[int]]] = []
    release = ResumeBuffer.release

    def spy(self: ResumeBuffer, message_id: str, seq: int) -> list[str] | None:
        released.append((seq, [e["seq"] for e in self.held.get(message_id, ())]))
        return release(self, message_id, seq)

    monkeypatch.setattr(frames, "ask_snapshot", slow_ask)
    monkeypatch.setattr(generation.Generation, "_answer", slow_answer)
    monkeypatch.setattr(ResumeBuffer, "release", spy)
    first, _ = await open_socket(alice, conversation.id)
    reply = (await send(first, "[sim words=150 delay=8]"))["messages"][0]
    await first.receive()  # the first delta: the reply is streaming
    second, _ = await open_socket(alice, conversation.id)
    await second.send({"type": "resume", "message": reply, "seq": 0})
    frames_seen = await second.receive_until("done")
    snapshot, after = split_at_snapshot(frames_seen)
    seq, held = released[0]
    assert seq == snapshot["seq"] and seq in held and seq + 1 in held, (seq, held)
    assert [f["seq"] for f in after] == list(range(seq + 1, seq + 1 + len(after)))
    stored = await reload(reply)
    assert snapshot["content"] + text_of(after, reply) == stored.content
    await first.receive_until("done")
    await first.close()
    await second.close()


async def test_resume_of_a_finished_reply_answers_from_the_database(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "[sim words=5]")
    await socket.receive_until("done")
    await socket.send({"type": "resume", "message": start["messages"][0], "seq": 0})
    snapshot = await socket.receive()
    done = await socket.receive()
    assert snapshot["type"] == "snapshot" and snapshot["status"] == "complete"
    assert len(snapshot["content"].split()) == 5
    assert done["type"] == "done" and done["html"]
    await socket.close()


async def test_a_resume_renders_a_stored_reply_once_and_never_a_question(
    alice: User, conversation: Conversation
) -> None:
    """A reply stored without its rendering (imported) is rendered at its first resume and
    kept: a socket asking again and again costs no rendering. A question never streams."""
    reply = await database_sync_to_async(add_exchange)(conversation, "Hi", "*Hello*")
    socket, _ = await open_socket(alice, conversation.id)
    for _ in range(2):
        await socket.send({"type": "resume", "message": str(reply.id), "seq": 0})
        done = (await socket.receive_until("done"))[-1]
        assert done["html"] == '<p dir="ltr"><em>Hello</em></p>\n'
        stored = await reload(str(reply.id))
        assert stored.rendered == done["html"] and stored.rendered_version == render.VERSION
    await socket.send({"type": "resume", "message": str(reply.parent_id), "seq": 0})
    assert (await socket.receive_until("error"))[-1]["code"] == "not_found"
    await socket.close()


async def test_a_socket_s_frames_past_its_allowance_are_refused_then_allowed_again(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    """A `resume` or a `stop` costs the database a read and no quota: a socket sending
    them without end is answered `rate_limited`, frame by frame, until its allowance
    refills; then it is read again."""
    settings.CHAT_FRAME_BURST = 3
    settings.CHAT_FRAMES_PER_SECOND = 2.0
    socket, _ = await open_socket(alice, conversation.id)
    missing = str(uuid.uuid4())
    for number in range(5):
        await socket.send({"type": "resume", "message": missing, "client_id": f"r{number}"})
    answers = [await socket.receive() for _ in range(5)]
    assert [a["code"] for a in answers] == ["not_found"] * 3 + ["rate_limited"] * 2
    assert [a["client_id"] for a in answers] == [f"r{number}" for number in range(5)]
    assert answers[3]["retry_after"] == 1 and "wait 1 second" in answers[3]["message"]
    await asyncio.sleep(0.6)  # one frame's worth, refilled
    await socket.send({"type": "resume", "message": missing})
    assert (await socket.receive())["code"] == "not_found"
    await socket.send({"type": "resume", "message": missing})
    assert (await socket.receive())["code"] == "rate_limited"
    await socket.close()


async def test_a_new_socket_does_not_fill_a_person_s_allowance_again(
    alice: User, bob: User, conversation: Conversation, settings: Any
) -> None:
    """The allowance is the person's, across their sockets: closing one and opening the
    next (97 times in 5 s) gave 578 reads a second instead of 5."""
    settings.CHAT_FRAME_BURST = 3
    settings.CHAT_FRAMES_PER_SECOND = 0.5
    missing = {"type": "resume", "message": str(uuid.uuid4())}
    codes = []
    for _ in range(3):
        socket, _ = await open_socket(alice, conversation.id)
        for _ in range(2):
            await socket.send(missing)
            codes.append((await socket.receive())["code"])
        await socket.close()
    assert codes == ["not_found"] * 3 + ["rate_limited"] * 3
    # Someone else's is their own.
    theirs = await Conversation.objects.acreate(owner=bob)
    socket, _ = await open_socket(bob, theirs.id)
    await socket.send(missing)
    assert (await socket.receive())["code"] == "not_found"
    await socket.close()


async def test_a_frame_past_the_allowance_is_refused_unread(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    """Parsing a large frame takes the event loop a while: one past the allowance is
    refused as it is, its client_id found in its text."""
    settings.CHAT_FRAME_BURST = 1
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send({"type": "resume", "message": str(uuid.uuid4())})
    assert (await socket.receive())["code"] == "not_found"
    await socket.communicator.send_to(text_data='not JSON {"client_id": "c9"' + " " * 10_000)
    refused = await socket.receive()
    assert refused["code"] == "rate_limited" and refused["client_id"] == "c9"
    await socket.close()


async def test_a_reply_whose_process_died_becomes_interrupted(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    settings.CHAT_LEASE_SECONDS = 0.6

    @database_sync_to_async
    def orphan() -> Message:
        with transaction.atomic():
            _, (reply,) = conversation.add_turn(
                content="hi", parent=None, model="grok-3", params={}, n=1, channel="gone.nobody"
            )
        Message.objects.filter(pk=reply.pk).update(content="half a rep", seq=3)
        return reply

    reply = await orphan()
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send({"type": "resume", "message": str(reply.id), "seq": 0})
    frames = await socket.receive_until("done", timeout=6)
    assert frames[-1]["status"] == "interrupted"
    stored = await reload(str(reply.id))
    assert stored.status == Message.Status.INTERRUPTED and stored.content == "half a rep"
    # The conversation accepts a new message at once.
    await send(socket, "again [sim words=2]")
    assert (await socket.receive_until("done"))[-1]["status"] == "complete"
    await socket.close()


async def test_an_unanswered_ping_alone_does_not_end_a_reply_whose_lease_holds(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    """A page reconnecting to a restarted server: the reply it was showing does not answer
    a ping, but a pong can be late behind a busy process, so its lease decides. It shows as
    interrupted once that runs out, its checkpoint's text kept."""
    settings.CHAT_LEASE_SECONDS = 3.0  # the watching socket looks every second

    @database_sync_to_async
    def orphan() -> Message:
        with transaction.atomic():
            _, (reply,) = conversation.add_turn(
                content="hi", parent=None, model="grok-3", params={}, n=1, channel=DEAD
            )
        lease = timezone.now() + timedelta(seconds=settings.CHAT_LEASE_SECONDS)
        Message.objects.filter(pk=reply.pk).update(content="half", seq=1, lease_until=lease)
        return reply

    reply = await orphan()
    socket, _ = await open_socket(alice, conversation.id)
    asked = time.monotonic()
    await socket.send({"type": "resume", "message": str(reply.id), "seq": 0})
    snapshot = (await socket.receive_until("snapshot", timeout=8))[-1]
    assert snapshot["status"] == "streaming" and snapshot["content"] == "half"
    assert (await reload(str(reply.id))).status == Message.Status.STREAMING
    frames = await socket.receive_until("done", timeout=10)
    assert frames[-1]["status"] == "interrupted"
    assert time.monotonic() - asked >= 2.5  # not before its lease ran out
    stored = await reload(str(reply.id))
    assert stored.status == Message.Status.INTERRUPTED and stored.content == "half"
    await socket.close()


@pytest.mark.skipif(
    bool(os.environ.get("REDIS_URL")), reason="with Redis, a ping reaches every process"
)
async def test_another_process_s_reply_is_left_to_its_lease_where_no_ping_reaches_it(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """The embedded default's channel layer is this process's alone: a reply of the process
    before it, draining on a restart, cannot be pinged. Its lease, which that process
    renews, says it lives: a resume serves its checkpoint, a send is busy, and its end,
    once stored, is shown."""
    from conversations import follow

    monkeypatch.setattr(follow, "SNAPSHOT_TIMEOUT", 0.05)
    settings.CHAT_LEASE_SECONDS = 0.9  # the watching socket looks every 0.3 s

    @database_sync_to_async
    def drained_elsewhere() -> Message:
        with transaction.atomic():
            _, (reply,) = conversation.add_turn(
                content="hi", parent=None, model="grok-3", params={}, n=1,
                channel="generation.0123456789ab..inmemory!other",
            )  # fmt: skip
        lease = timezone.now() + timedelta(seconds=60)  # renewed by the other process
        Message.objects.filter(pk=reply.pk).update(content="half", seq=1, lease_until=lease)
        return reply

    reply = str((await drained_elsewhere()).id)
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send({"type": "resume", "message": reply, "seq": 0})
    snapshot = (await socket.receive_until("snapshot"))[-1]
    assert snapshot["status"] == "streaming" and snapshot["content"] == "half"
    await socket.send({"type": "send", "content": "meanwhile", "client_id": "c2"})
    assert (await socket.receive_until("error"))[-1]["code"] == "busy"
    await asyncio.sleep(1)
    assert (await reload(reply)).status == Message.Status.STREAMING
    finished = Message.objects.filter(pk=reply).update
    await database_sync_to_async(finished)(status="complete", content="half and whole", seq=2)
    done = (await socket.receive_until("done", message=reply))[-1]
    assert done["status"] == "complete"
    await socket.close()


async def test_a_watching_socket_is_told_when_a_reply_dies_without_asking(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    """A socket that saw a reply start, and no frame since, finds out by itself when the
    reply's generation is gone: its lease runs out and the reply is shown interrupted."""
    settings.CHAT_LEASE_SECONDS = 0.9
    socket, _ = await open_socket(alice, conversation.id)
    reply = (await send(socket, "[sim words=400 delay=20]"))["messages"][0]
    await socket.receive()  # a delta: it streams
    for task in list(generation._running):  # the process dies: no stop, no save, no `done`
        task.cancel()
    frames = await socket.receive_until("done", timeout=10, message=reply)
    assert frames[-1]["status"] == "interrupted"
    stored = await reload(reply)
    assert stored.status == Message.Status.INTERRUPTED
    await socket.close()


async def test_an_upstream_error_keeps_the_message_and_says_why(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "hello [sim error=401]")
    frames = await socket.receive_until("done")
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == "upstream_auth"
    assert frames[-1]["status"] == "error" and frames[-1]["error"]["code"] == "upstream_auth"
    user_message, reply = await messages_of(conversation)
    assert user_message.content == "hello [sim error=401]"
    assert reply.status == Message.Status.ERROR and reply.error_code == "upstream_auth"
    assert str(reply.id) == start["messages"][0]
    await socket.close()


@pytest.mark.parametrize(
    ("directive", "code"),
    [
        ("error=400", "upstream_bad_request"),
        ("error=403", "upstream_balance"),
        ("error=429-retry-long", "upstream_rate_limited"),
        ("error=503", "upstream_unavailable"),
        ("fault=malformed", "upstream_protocol"),
    ],
)
async def test_each_upstream_error_code_reaches_the_person(
    alice: User, conversation: Conversation, directive: str, code: str
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, f"x [sim {directive}]")
    frames = await socket.receive_until("done")
    error = next(f for f in frames if f["type"] == "error")
    assert error["code"] == code and error["message"]
    if code == "upstream_rate_limited":
        assert error["retry_after"] == 120
    await socket.close()


async def test_a_fault_mid_reply_keeps_the_partial_text(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "x [sim fault=cut words=20]")
    frames = await socket.receive_until("done")
    reply = await reload(start["messages"][0])
    assert reply.status == Message.Status.ERROR and reply.error_code == "upstream_protocol"
    assert reply.content == text_of(frames, start["messages"][0]) != ""
    await socket.close()


async def test_n_candidates_stream_as_siblings(alice: User, conversation: Conversation) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "[sim words=10]", params={"n": 3})
    assert len(start["messages"]) == 3
    frames = []
    for _ in range(3):
        frames += await socket.receive_until("done")
    texts = {m: text_of(frames, m) for m in start["messages"]}
    assert len(set(texts.values())) == 3
    stored = await messages_of(conversation)
    parents = {m.parent_id for m in stored if m.role == "assistant"}
    assert len(parents) == 1
    await socket.close()


async def test_regenerate_makes_a_sibling_reply(alice: User, conversation: Conversation) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    first = (await send(socket, "[sim words=6]"))["messages"][0]
    await socket.receive_until("done")
    await socket.send({"type": "regenerate", "message": first})
    start = await socket.receive()
    assert start["type"] == "start"
    await socket.receive_until("done")
    old, new = await reload(first), await reload(start["messages"][0])
    assert old.parent_id == new.parent_id and old.id != new.id
    await database_sync_to_async(conversation.refresh_from_db)()
    assert conversation.current_leaf_id == new.id
    await socket.close()


async def test_editing_makes_a_new_branch(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "first [sim words=3]")
    await socket.receive_until("done")
    await send(socket, "second [sim words=3]")
    await socket.receive_until("done")
    # Edit the first message: a new root-level user message.
    await send(socket, "first, edited [sim echo]", parent=None)
    await socket.receive_until("done")
    assert [m["content"] for m in simulator.requests[-1]["messages"]] == [
        "first, edited [sim echo]"
    ]
    await socket.close()


async def test_a_disabled_model_is_refused(alice: User, conversation: Conversation) -> None:
    await database_sync_to_async(ChatModel.objects.filter(slug="grok-3").update)(enabled=False)
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send({"type": "send", "content": "hi", "model": "grok-3", "client_id": "c9"})
    error = await socket.receive()
    assert error == {
        "type": "error",
        "code": "model_unavailable",
        "message": "The model “Grok 3” is not available.",  # by its name, not its id
        "client_id": "c9",
    }
    assert await messages_of(conversation) == []
    await socket.close()


async def test_a_message_keeps_the_client_id_it_was_sent_as_for_its_owners_page_only(
    alice: User, conversation: Conversation
) -> None:
    """A page whose connection was lost finds its message by the id it sent it as."""
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "yes [sim words=2]", client_id="sent-as-this")
    await socket.receive_until("done")
    await socket.close()

    def pages() -> tuple[str, str]:
        owner = logged_in(alice)
        thread = owner.get(f"/c/{conversation.id}/", headers={"Accept": "application/json"})
        link = owner.post(
            f"/c/{conversation.id}/share/", headers={"Accept": "application/json"}
        ).json()
        return thread.json()["html"], Client().get(f"/s/{link['token']}/").content.decode()

    thread, shared = await database_sync_to_async(pages)()
    assert 'data-sent-as="sent-as-this"' in thread
    assert "yes [sim words=2]" in shared and "sent-as" not in shared


async def test_a_socket_whose_opening_fails_leaves_no_group_or_count_behind(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    def not_answering(*args: Any) -> None:
        raise OperationalError("the database is not answering")

    def members() -> set[str]:
        return {c for group in get_channel_layer().groups.values() for c in group}

    before, counted = members(), +consumers._open
    monkeypatch.setattr(ChatConsumer, "_conversation", not_answering)
    with pytest.raises(OperationalError):
        await open_socket(alice, conversation.id)
    assert members() <= before
    assert +consumers._open == counted


async def test_a_send_naming_no_model_goes_to_the_catalogs_first_enabled_model(
    alice: User, conversation: Conversation
) -> None:
    first = await database_sync_to_async(ChatModel.objects.first)()
    await database_sync_to_async(ChatModel.objects.filter(pk=first.pk).update)(enabled=False)
    wanted = await database_sync_to_async(ChatModel.objects.filter(enabled=True).first)()
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send({"type": "send", "content": "hi [sim words=2]", "client_id": "c0"})
    frames = await socket.receive_until("done")
    start = next(frame for frame in frames if frame["type"] == "start")
    assert start["model"] == wanted.slug != first.slug
    await database_sync_to_async(ChatModel.objects.update)(enabled=False)
    await socket.send({"type": "send", "content": "hi", "client_id": "c1"})
    error = await socket.receive()
    assert (error["code"], error["client_id"]) == ("model_unavailable", "c1")
    await socket.close()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", "invalid_request"),
        ("[1,2]", "invalid_request"),
        ({"type": "dance"}, "invalid_request"),
        ({"no": "type"}, "invalid_request"),
        ({"type": "send"}, "invalid_request"),
        ({"type": "send", "content": "   "}, "invalid_request"),
        ({"type": "send", "content": 42}, "invalid_request"),
        ({"type": "send", "content": "x" * 100_001}, "invalid_request"),
        ({"type": "send", "content": "hi", "model": "gpt-9"}, "model_unavailable"),
        ({"type": "send", "content": "hi", "model": 7}, "invalid_request"),
        ({"type": "send", "content": "hi", "params": []}, "invalid_request"),
        ({"type": "send", "content": "hi", "params": {"temperature": 3}}, "invalid_request"),
        ({"type": "send", "content": "hi", "params": {"temperature": "hot"}}, "invalid_request"),
        ({"type": "send", "content": "hi", "params": {"max_tokens": 0}}, "invalid_request"),
        ({"type": "send", "content": "hi", "params": {"max_tokens": True}}, "invalid_request"),
        ({"type": "send", "content": "hi", "params": {"n": 99}}, "invalid_request"),
        ({"type": "send", "content": "hi", "params": {"system": ["x"]}}, "invalid_request"),
        ({"type": "send", "content": "hi", "parent": "nope"}, "invalid_request"),
        ({"type": "send", "content": "hi", "parent": str(uuid.uuid4())}, "not_found"),
        ({"type": "regenerate"}, "invalid_request"),
        ({"type": "regenerate", "message": str(uuid.uuid4())}, "not_found"),
        ({"type": "resume", "message": "x", "seq": 1}, "invalid_request"),
        ({"type": "resume", "message": str(uuid.uuid4()), "seq": 1}, "not_found"),
    ],
)
async def test_a_bad_frame_gets_an_error_and_the_socket_stays_usable(
    alice: User, conversation: Conversation, frame: Any, code: str
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send(frame)
    error = await socket.receive()
    assert error["type"] == "error" and error["code"] == code and error["message"]
    await send(socket, "still here [sim words=2]")
    assert (await socket.receive_until("done"))[-1]["status"] == "complete"
    await socket.close()


async def test_a_binary_frame_gets_an_error(alice: User, conversation: Conversation) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await socket.communicator.send_to(bytes_data=b"\x00\x01")
    assert (await socket.receive())["code"] == "invalid_request"
    await socket.close()


async def test_someone_elses_message_ids_are_not_found(
    alice: User, charlie: User, conversation: Conversation
) -> None:
    theirs = await database_sync_to_async(Conversation.objects.create)(owner=charlie)
    socket, _ = await open_socket(charlie, theirs.id)
    mine, _ = await open_socket(alice, conversation.id)
    alice_reply = (await send(mine, "secret [sim words=3]"))["messages"][0]
    await mine.receive_until("done")
    for frame in (
        {"type": "resume", "message": alice_reply, "seq": 0},
        {"type": "regenerate", "message": alice_reply},
        {"type": "send", "content": "hi", "parent": alice_reply},
    ):
        await socket.send(frame)
        assert (await socket.receive())["code"] == "not_found"
    await socket.close()
    await mine.close()


async def test_a_stranger_is_closed_with_4404(charlie: User, conversation: Conversation) -> None:
    socket, _ = await open_socket(charlie, conversation.id)
    close = await socket.communicator.receive_output()
    assert close == {"type": "websocket.close", "code": 4404}


async def test_a_missing_conversation_is_closed_with_4404(alice: User) -> None:
    socket, _ = await open_socket(alice, uuid.uuid4())
    assert (await socket.communicator.receive_output())["code"] == 4404


async def test_anonymous_is_closed_with_4401(conversation: Conversation) -> None:
    socket, _ = await open_socket(None, conversation.id)
    assert (await socket.communicator.receive_output())["code"] == 4401


@pytest.mark.parametrize(
    "origin",
    [
        b"http://evil.example",
        b"http://localhost:8080",  # another port of the same host: another site
        b"https://localhost",  # another scheme
        b"http://localhost.evil.example",
        b"null",
        b"",
    ],
)
async def test_only_the_pages_own_origin_may_open_a_socket(
    alice: User, conversation: Conversation, origin: bytes
) -> None:
    _, connected = await open_socket(alice, conversation.id, origin=origin)
    assert not connected


def test_origin_rules_follow_djangos_csrf_check(settings: Any) -> None:
    from webchat.origin import allowed

    def scope(origin: str, host: str, scheme: str = "ws", **headers: str) -> dict:
        extra = [(k.replace("_", "-").encode(), v.encode()) for k, v in headers.items()]
        raw = [(b"origin", origin.encode()), (b"host", host.encode()), *extra]
        return {"type": "websocket", "scheme": scheme, "headers": raw}

    settings.ALLOWED_HOSTS = ["chat.example", "localhost"]
    assert allowed(scope("http://chat.example:8000", "chat.example:8000"))
    assert not allowed(scope("http://chat.example:8001", "chat.example:8000"))
    assert allowed(scope("https://chat.example", "chat.example", "wss"))
    assert allowed(scope("https://chat.example:443", "chat.example", "wss"))
    assert not allowed(scope("http://chat.example", "chat.example", "wss"))
    assert not allowed(scope("http://evil.example", "evil.example"))  # not an allowed host
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    assert allowed(scope("https://chat.example", "chat.example", x_forwarded_proto="https"))
    assert not allowed(scope("https://chat.example", "chat.example"))
    settings.CSRF_TRUSTED_ORIGINS = ["https://*.chat.example", "https://other.example:8443"]
    assert allowed(scope("https://eu.chat.example", "chat.example", x_forwarded_proto="https"))
    assert allowed(scope("https://other.example:8443", "chat.example", x_forwarded_proto="https"))
    assert not allowed(scope("https://other.example", "chat.example", x_forwarded_proto="https"))


async def test_a_dead_generation_whose_lease_ran_out_frees_the_conversation_at_once(
    alice: User, conversation: Conversation
) -> None:
    @database_sync_to_async
    def orphan() -> Message:
        # Its lease ran out a moment ago (no page load has ended it), and no process
        # answers on its channel.
        with transaction.atomic():
            _, (reply,) = conversation.add_turn(
                content="hi", parent=None, model="grok-3", params={}, n=1, channel=DEAD
            )
        past = timezone.now() - timedelta(seconds=1)
        Message.objects.filter(pk=reply.pk).update(content="kept", seq=1, lease_until=past)
        return reply

    reply = await orphan()
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "are you there? [sim words=3]")
    assert (await socket.receive_until("done"))[-1]["status"] == "complete"
    stored = await reload(str(reply.id))
    assert stored.status == Message.Status.INTERRUPTED and stored.content == "kept"
    await socket.close()


async def test_a_live_generation_keeps_the_conversation_busy(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "[sim words=300 delay=10]")
    await socket.send({"type": "send", "content": "interrupting", "client_id": "c2"})
    frames = await socket.receive_until("error")
    assert frames[-1]["code"] == "busy"
    assert (await reload(start["messages"][0])).status == Message.Status.STREAMING
    await socket.send({"type": "stop"})
    await socket.receive_until("done")
    await socket.close()


async def test_frames_do_not_wait_for_the_database_thread(
    alice: User, conversation: Conversation
) -> None:
    """While the one database thread is busy (a send's transaction, a checkpoint), frames
    still reach the socket: Channels' own dispatch would queue each behind that work."""
    socket, _ = await open_socket(alice, conversation.id)
    busy = asyncio.ensure_future(database_sync_to_async(time.sleep)(5))
    await asyncio.sleep(0.05)
    frame = {"type": "chat.frame", "text": '{"type":"probe"}', "message": None}
    await get_channel_layer().group_send(conversation_group(conversation.id), frame)
    received = await socket.receive(timeout=10)
    arrived_first = not busy.done()
    await busy
    await socket.close()
    assert received == {"type": "probe"}
    assert arrived_first, "the frame waited for the database thread to be free"


async def test_no_frame_is_cut_off_when_the_stream_ends_mid_publish(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With Redis a publish is a round trip; the reply's end must not cancel one halfway
    (the socket would see a gap in `seq` or miss the last words)."""
    group_send = InMemoryLayer.group_send

    async def round_trip(self: InMemoryLayer, group: str, message: dict[str, Any]) -> None:
        await asyncio.sleep(0.03)
        await group_send(self, group, message)

    monkeypatch.setattr(InMemoryLayer, "group_send", round_trip)
    socket, _ = await open_socket(alice, conversation.id)
    for _ in range(4):
        start = await send(socket, "[sim words=40 delay=2]")
        (reply,) = start["messages"]
        frames = await socket.receive_until("done", message=reply)
        seqs = [f["seq"] for f in frames if f["type"] == "delta"]
        assert seqs == list(range(1, len(seqs) + 1))
        assert frames[-1]["seq"] == seqs[-1]  # `done` carries the last seq
        stored = await reload(reply)
        assert text_of(frames, reply) == stored.content
        assert len(stored.content.split()) == 40
    await socket.close()


async def test_a_models_default_parameters_reach_the_upstream(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    defaults = {"top_p": 0.5, "stop": ["never"], "seed": 7, "temperature": 0.2}
    await database_sync_to_async(ChatModel.objects.filter(slug="grok-3").update)(
        default_params=defaults
    )
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "[sim words=3]", params={"temperature": 0.9, "max_tokens": 32})
    await socket.receive_until("done")
    request = simulator.requests[-1]
    assert request["top_p"] == 0.5 and request["stop"] == ["never"] and request["seed"] == 7
    # The person's own settings win over the defaults; a small max_tokens is served as asked.
    assert request["temperature"] == 0.9 and request["max_tokens"] == 32
    await socket.close()


async def test_only_a_busy_conversation_is_checked_for_a_dead_reply(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A plan's limit of replies at once also answers `busy`, but no dead generation of this
    conversation can be the cause: none is looked for and nothing is retried."""
    pinged: list[str] = []
    looked = []
    free = ChatConsumer._free_dead_generations

    async def alive(channel: str, timeout: float = 1.5) -> bool:
        pinged.append(channel)
        return True

    async def spy(self: ChatConsumer) -> bool:
        looked.append(self.conversation.id)
        return await free(self)

    monkeypatch.setattr(generation, "alive", alive)
    monkeypatch.setattr(ChatConsumer, "_free_dead_generations", spy)
    plans = Plan.objects.filter(pk=alice.plan_id)
    await database_sync_to_async(plans.update)(concurrent_generations=1)
    other = await database_sync_to_async(Conversation.objects.create)(owner=alice)
    elsewhere, _ = await open_socket(alice, other.id)
    await send(elsewhere, "[sim words=200 delay=20]")
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send({"type": "send", "content": "hi", "model": "grok-3", "client_id": "c2"})
    error = await socket.receive()
    assert error["code"] == "busy" and "at once" in error["message"]
    assert looked == [] and pinged == []
    # Busy in that very conversation: its reply is looked at, and, its lease holding, its
    # generation is not even pinged.
    await database_sync_to_async(plans.update)(concurrent_generations=5)
    await elsewhere.send({"type": "send", "content": "again", "model": "grok-3"})
    error = (await elsewhere.receive_until("error"))[-1]
    assert error["code"] == "busy" and "still being written" in error["message"]
    assert looked == [other.id] and pinged == []
    await elsewhere.send({"type": "stop"})
    await elsewhere.receive_until("done")
    await socket.close()
    await elsewhere.close()


async def test_regenerating_with_another_model_leaves_the_first_models_defaults_behind(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    """A reply's stored settings are the person's own; each model's defaults are applied
    afresh, so a reasoning model is never sent what only the first model takes."""
    await database_sync_to_async(ChatModel.objects.filter(slug="grok-3").update)(
        default_params={"stop": ["ZZSTOP"], "frequency_penalty": 1.5}
    )
    socket, _ = await open_socket(alice, conversation.id)
    reply = (await send(socket, "[sim words=3]", params={"temperature": 0.4}))["messages"][0]
    await socket.receive_until("done")
    first = simulator.requests[-1]
    assert first["stop"] == ["ZZSTOP"] and first["temperature"] == 0.4
    stored = await reload(reply)
    assert "stop" not in stored.params and stored.params["temperature"] == 0.4
    await socket.send({"type": "regenerate", "message": reply, "model": "grok-3-mini"})
    await socket.receive_until("done")
    again = simulator.requests[-1]
    assert again["model"] == "grok-3-mini" and again["temperature"] == 0.4
    assert "stop" not in again and "frequency_penalty" not in again
    await socket.close()


async def test_a_regenerate_with_settings_takes_them_as_they_are_now(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    """The settings panel as it is now: a field the person cleared is the model's default
    again, not the old reply's value; without `params` the reply's own are kept."""
    socket, _ = await open_socket(alice, conversation.id)
    settings = {"temperature": 0.4, "max_tokens": 50, "system": "Be terse."}
    reply = (await send(socket, "[sim words=3]", params=settings))["messages"][0]
    await socket.receive_until("done")
    await socket.send(
        {"type": "regenerate", "message": reply, "params": {"max_tokens": 60, "n": 1}}
    )
    await socket.receive_until("done")
    again = simulator.requests[-1]
    assert "temperature" not in again and again["max_tokens"] == 60
    assert again["messages"][0]["role"] != "system"
    await socket.send({"type": "regenerate", "message": reply})
    await socket.receive_until("done")
    kept = simulator.requests[-1]
    assert kept["temperature"] == 0.4 and kept["max_tokens"] == 50
    assert kept["messages"][0] == {"role": "system", "content": "Be terse."}
    await socket.close()


async def test_defaults_written_past_the_admin_are_checked_before_use(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    await database_sync_to_async(ChatModel.objects.filter(slug="grok-3").update)(
        default_params={"top_p": 0.7, "max_tokens": -5, "top_k": 3, "seed": "x"}
    )
    socket, _ = await open_socket(alice, conversation.id)
    await send(socket, "[sim words=3]")
    assert (await socket.receive_until("done"))[-1]["status"] == "complete"
    request = simulator.requests[-1]
    assert request["top_p"] == 0.7 and request["max_tokens"] > 0
    assert "top_k" not in request and "seed" not in request
    await socket.close()


@pytest.mark.parametrize(
    "frame",
    [
        '{"type":"send","content":"half a pair \\ud800","client_id":"c1"}',
        '{"type":"send","content":"hi","params":{"system":"\\udfff"},"client_id":"c1"}',
        '{"type":"send","content":"hi","client_id":"\\ud800"}',
        '{"type":"send","content":"hi","model":"grok-3\\u0000","client_id":"c1"}',
    ],
)
async def test_text_that_cannot_be_stored_or_sent_is_refused(
    alice: User, conversation: Conversation, frame: str
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send(frame)
    error = await socket.receive()
    assert error["type"] == "error" and error["code"] == "invalid_request"
    assert await messages_of(conversation) == []
    await send(socket, "still here [sim words=2]")
    assert (await socket.receive_until("done"))[-1]["status"] == "complete"
    await socket.close()


async def test_a_long_client_id_is_not_echoed(alice: User, conversation: Conversation) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send({"type": "dance", "client_id": "x" * 5000})
    error = await socket.receive()
    assert error["code"] == "invalid_request" and "client_id" not in error
    await socket.close()


async def test_sockets_past_the_cap_are_closed_with_4429(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    settings.CHAT_MAX_SOCKETS_PER_CONVERSATION = 2
    settings.CHAT_MAX_SOCKETS_PER_PERSON = 3
    first, _ = await open_socket(alice, conversation.id)
    second, _ = await open_socket(alice, conversation.id)
    third, _ = await open_socket(alice, conversation.id)
    assert (await third.communicator.receive_output())["code"] == 4429
    other = await Conversation.objects.acreate(owner=alice)
    fourth, _ = await open_socket(alice, other.id)
    assert await fourth.nothing(0.2)  # the third of the person, on another conversation
    fifth, _ = await open_socket(alice, other.id)
    assert (await fifth.communicator.receive_output())["code"] == 4429
    # A closed socket makes room again.
    await first.close()
    again, _ = await open_socket(alice, conversation.id)
    assert await again.nothing(0.2)
    for socket in (second, fourth, again):
        await socket.close()


async def test_continue_makes_a_new_version_that_goes_on_from_the_cut_text(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    cut_id = (await send(socket, "a story [sim words=40]", params={"max_tokens": 5}))["messages"][0]
    done = (await socket.receive_until("done"))[-1]
    assert done["finish_reason"] == "length"
    cut = await reload(cut_id)
    await socket.send({"type": "continue", "message": cut_id, "client_id": "k1"})
    start = await socket.receive()
    assert start["type"] == "start" and start["model"] == "grok-3"
    new_id = start["messages"][0]
    frames_ = await socket.receive_until("done")
    deltas = [f for f in frames_ if f["type"] == "delta"]
    # The new version first says what the old one said, then carries on, seq unbroken.
    assert deltas[0]["seq"] == 1 and deltas[0]["content"] == cut.content
    assert [f["seq"] for f in deltas] == list(range(1, len(deltas) + 1))
    new = await reload(new_id)
    assert new.content.startswith(cut.content) and len(new.content) > len(cut.content)
    # Carried on as words of their own, not glued to the last one nor started afresh.
    went_on = new.content[len(cut.content) :]
    assert went_on[0] == " " and not any(o in went_on for o in script._OPENERS)
    assert new.parent_id == cut.parent_id
    # Upstream, the cut reply is the assistant's last word, to be carried on, with room to
    # go on (not the max_tokens that cut it).
    request = simulator.requests[-1]
    assert request["messages"][-1] == {"role": "assistant", "content": cut.content}
    assert request["max_tokens"] > 5
    await database_sync_to_async(conversation.refresh_from_db)()
    assert conversation.current_leaf_id == new.id
    assert (await reload(cut_id)).content == cut.content  # the cut version is kept
    await socket.close()


async def test_a_reply_the_allowance_cut_short_says_so_and_keeps_what_was_asked(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    # Room for a short reply only: it is given less than asked, not refused.
    await database_sync_to_async(Plan.objects.filter(pk=alice.plan_id).update)(tokens_per_day=300)
    socket, _ = await open_socket(alice, conversation.id)
    cut_id = (await send(socket, "a story [sim words=400]", params={"max_tokens": 2000}))[
        "messages"
    ][0]
    done = (await socket.receive_until("done"))[-1]
    assert done["finish_reason"] == "length" and done["limited_by"] == "allowance"
    assert simulator.requests[-1]["max_tokens"] < 300
    cut = await reload(cut_id)
    assert cut.limited_by == "allowance" and cut.params["max_tokens"] == 2000
    # Resumed from the database, it says the same.
    await socket.send({"type": "resume", "message": cut_id, "seq": 0})
    assert (await socket.receive_until("done"))[-1]["limited_by"] == "allowance"
    # Its length limit alone (room to spare) is not the allowance.
    await database_sync_to_async(Plan.objects.filter(pk=alice.plan_id).update)(
        tokens_per_day=200_000
    )
    await send(socket, "another [sim words=40]", params={"max_tokens": 5})
    done = (await socket.receive_until("done"))[-1]
    assert done["finish_reason"] == "length" and "limited_by" not in done
    # A regeneration once there is room asks what the person asked, not what was left.
    await socket.send({"type": "regenerate", "message": cut_id})
    await socket.receive_until("done")
    assert simulator.requests[-1]["max_tokens"] == 2000
    await socket.close()


async def test_a_reply_the_model_service_broke_off_can_be_continued(
    alice: User, conversation: Conversation, simulator: Simulator
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    broken_id = (await send(socket, "a story [sim words=20]"))["messages"][0]
    await socket.receive_until("done")
    # As a connection dropped partway leaves it (tests/test_faults.py): its words, an error.
    await database_sync_to_async(Message.objects.filter(pk=broken_id).update)(
        status=Message.Status.ERROR, error_code="upstream_unavailable", finish_reason=""
    )
    broken = await reload(broken_id)
    await socket.send({"type": "continue", "message": broken_id, "client_id": "k2"})
    start = await socket.receive()
    assert start["type"] == "start"
    await socket.receive_until("done")
    new = await reload(start["messages"][0])
    assert new.status == Message.Status.COMPLETE and new.content.startswith(broken.content)
    assert simulator.requests[-1]["messages"][-1] == {
        "role": "assistant",
        "content": broken.content,
    }
    await socket.close()


async def test_continue_is_refused_for_what_cannot_be_continued(
    alice: User, bob: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    start = await send(socket, "hi [sim words=3]")
    await socket.receive_until("done")
    question = (await messages_of(conversation))[0]
    theirs = await database_sync_to_async(Conversation.objects.create)(owner=bob)
    other = await database_sync_to_async(Message.objects.create)(
        conversation=theirs, role="assistant", content="secret", parent=None
    )
    cases = [
        ({"message": start["messages"][0]}, "invalid_request"),  # whole: nothing was cut
        ({"message": str(question.id)}, "not_found"),  # a question, not a reply
        ({"message": str(other.id)}, "not_found"),  # someone else's reply
        ({"message": "nope"}, "invalid_request"),
        ({}, "invalid_request"),
    ]
    for fields, code in cases:
        await socket.send({"type": "continue", "client_id": "x", **fields})
        error = await socket.receive()
        assert error["type"] == "error" and error["code"] == code, (fields, error)
    # A reply still being written cannot be continued either.
    await socket.send({"type": "regenerate", "message": start["messages"][0]})
    streaming = (await socket.receive())["messages"][0]
    await socket.send({"type": "continue", "message": streaming, "client_id": "y"})
    frames_ = await socket.receive_until("error")
    assert frames_[-1]["code"] in ("invalid_request", "conversation_busy")
    await socket.receive_until("done", message=streaming)
    await socket.close()


async def test_a_reasoning_reply_stores_how_long_it_thought(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    reply_id = (await send(socket, "why? [sim words=5 delay=10]", model="grok-3-mini"))["messages"][
        0
    ]
    await socket.receive_until("done")
    reply = await reload(reply_id)
    assert reply.reasoning and reply.reasoning_ms is not None
    # 20 words of thinking at 10 ms each, before the first word of the reply.
    assert 150 <= reply.reasoning_ms < 5000
    plain = (await send(socket, "and? [sim words=5]"))["messages"][0]
    await socket.receive_until("done")
    assert (await reload(plain)).reasoning_ms is None
    await socket.close()


async def test_a_stopped_continue_is_charged_for_what_it_wrote_not_for_the_copy(
    alice: User, conversation: Conversation
) -> None:
    from webchat.models import UsageRecord

    socket, _ = await open_socket(alice, conversation.id)
    long_text = "word " * 3000
    cut_id = (
        await send(socket, f"{long_text}[sim repeat delay=0 ttft=300]", params={"max_tokens": 2000})
    )["messages"][0]
    await socket.receive_until("done")
    assert (await reload(cut_id)).finish_reason == "length"
    # Continued, then stopped before the model says anything new (a long first wait).
    await socket.send({"type": "continue", "message": cut_id})
    new_id = (await socket.receive())["messages"][0]
    await socket.send({"type": "stop"})
    await socket.receive_until("done", message=new_id)
    record = await database_sync_to_async(UsageRecord.objects.order_by("-pk").first)()
    cut = await reload(cut_id)
    assert record.status == "stopped" and (await reload(new_id)).prefix_chars == len(cut.content)
    # The copy went upstream as prompt; as completion only the framing of nothing new.
    assert record.completion_tokens < 100, record.completion_tokens
    await socket.close()


async def test_a_continue_counts_its_copy_against_storage(
    alice: User, conversation: Conversation
) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    cut_id = (await send(socket, "story [sim words=400]", params={"max_tokens": 300}))["messages"][
        0
    ]
    await socket.receive_until("done")
    size = len((await reload(cut_id)).content)
    # Room for what is stored, not for one more copy of the reply.
    from conversations import storage

    used = await database_sync_to_async(storage.used)(alice, fresh=True)
    await database_sync_to_async(Plan.objects.filter(users=alice).update)(storage_mb=1)
    await database_sync_to_async(
        lambda: Message.objects.create(
            conversation=conversation,
            role="user",
            content="x" * (storage.MB - used - size // 2),
            parent=None,
        )
    )()
    await database_sync_to_async(storage.stored)(alice)
    await socket.close()
    socket, _ = await open_socket(alice, conversation.id)  # sees the plan as it is now
    await socket.send({"type": "continue", "message": cut_id, "client_id": "s1"})
    error = await socket.receive()
    assert error["type"] == "error" and error["code"] == "quota_exceeded", error
    assert "storage is full" in error["message"]
    await socket.close()


async def test_a_generation_that_never_answers_a_snapshot_leaves_no_gap(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """Its frames flow but its snapshots never come (its process is busy draining, say),
    and the checkpoint is behind what the socket holds: the socket keeps holding rather
    than serve the stale checkpoint with a gap, and gives the whole reply at its end."""
    from conversations import follow

    answer = generation.Generation._answer

    async def no_snapshots(self: Any, channel: str, message: dict[str, Any]) -> None:
        if message["type"] != "chat.snapshot":
            await answer(self, channel, message)

    monkeypatch.setattr(generation.Generation, "_answer", no_snapshots)
    monkeypatch.setattr(follow, "SNAPSHOT_TIMEOUT", 0.1)
    settings.CHAT_CHECKPOINT_SECONDS = 60  # the stored text stays at its start
    first, _ = await open_socket(alice, conversation.id)
    reply = (await send(first, "[sim words=120 delay=10]"))["messages"][0]
    await first.receive_until("delta", seq=5)
    second, _ = await open_socket(alice, conversation.id)
    await second.send({"type": "resume", "message": reply, "seq": 0})
    seen = await second.receive_until("done")
    text, seq = "", 0
    for frame in seen:
        if frame.get("message") != reply:
            continue
        if frame["type"] == "snapshot":
            assert frame["seq"] >= seq
            text, seq = frame["content"], frame["seq"]
        elif frame["type"] == "delta" and frame["seq"] > seq:
            assert frame["seq"] == seq + 1, f"a gap: {seq} then {frame['seq']}"
            text, seq = text + frame["content"], frame["seq"]
    assert text == (await reload(reply)).content
    await first.receive_until("done")
    await first.close()
    await second.close()


async def test_a_lost_snapshot_request_of_a_silent_reply_is_asked_again_not_replaced(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """A reply between two words (no frame flows) whose generation did not get the
    snapshot request (Redis's pub/sub keeps no message for a moment without subscriber):
    the checkpoint is behind the words published before the socket joined, so serving it
    would leave a gap. The generation answers a ping, so the socket asks again."""
    from conversations import follow

    answer = generation.Generation._answer
    requests: list[str] = []

    async def first_snapshot_lost(self: Any, channel: str, message: dict[str, Any]) -> None:
        if message["type"] == "chat.snapshot":
            requests.append(channel)
            if len(requests) == 1:
                return
        await answer(self, channel, message)

    monkeypatch.setattr(generation.Generation, "_answer", first_snapshot_lost)
    monkeypatch.setattr(follow, "SNAPSHOT_TIMEOUT", 0.05)
    settings.CHAT_CHECKPOINT_SECONDS = 60  # the stored text stays at its start
    first, _ = await open_socket(alice, conversation.id)
    reply = (await send(first, "[sim words=5 delay=900 ttft=10]"))["messages"][0]
    await first.receive_until("delta", seq=2)
    second, _ = await open_socket(alice, conversation.id)
    await second.send({"type": "resume", "message": reply, "seq": 0})
    seen = [f for f in await second.receive_until("done") if f.get("message") == reply]
    assert len(requests) == 2
    assert [f["type"] for f in seen].count("snapshot") == 1, seen
    assert seen[0]["type"] == "snapshot" and seen[0]["seq"] >= 2, seen[0]
    text, seq = seen[0]["content"], seen[0]["seq"]
    for frame in seen[1:-1]:
        assert frame["type"] == "delta" and frame["seq"] == seq + 1, (seq, frame)
        text, seq = text + frame["content"], frame["seq"]
    assert text == (await reload(reply)).content and len(text.split()) == 5
    await first.receive_until("done")
    await first.close()
    await second.close()


async def test_a_ping_that_fails_ends_no_reply(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch, settings: Any
) -> None:
    """The snapshot request lost and the ping failing (the layer down a moment): nothing
    says the generation died, so its reply goes on; the checkpoint is served meanwhile."""
    from conversations import follow

    answer = generation.Generation._answer

    async def snapshots_lost(self: Any, channel: str, message: dict[str, Any]) -> None:
        if message["type"] != "chat.snapshot":
            await answer(self, channel, message)

    async def layer_down(channel: str, timeout: float = 1.5) -> bool:
        raise ConnectionError("the layer is restarting")

    monkeypatch.setattr(generation.Generation, "_answer", snapshots_lost)
    monkeypatch.setattr(generation, "alive", layer_down)
    monkeypatch.setattr(follow, "SNAPSHOT_TIMEOUT", 0.05)
    first, _ = await open_socket(alice, conversation.id)
    reply = (await send(first, "[sim words=6 delay=300 ttft=10]"))["messages"][0]
    await first.receive_until("delta", seq=1)
    second, _ = await open_socket(alice, conversation.id)
    await second.send({"type": "resume", "message": reply, "seq": 0})
    assert (await second.receive_until("snapshot"))[-1]["status"] == "streaming"
    assert (await first.receive_until("done"))[-1]["status"] == "complete"
    assert (await reload(reply)).status == Message.Status.COMPLETE
    await first.close()
    await second.close()


async def test_a_live_generation_whose_snapshots_are_lost_is_asked_less_and_less_often(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    from conversations import follow

    answer = generation.Generation._answer
    requests = 0

    async def snapshots_lost(self: Any, channel: str, message: dict[str, Any]) -> None:
        nonlocal requests
        if message["type"] == "chat.snapshot":
            requests += 1
            return
        await answer(self, channel, message)

    monkeypatch.setattr(generation.Generation, "_answer", snapshots_lost)
    monkeypatch.setattr(follow, "SNAPSHOT_TIMEOUT", 0.05)
    first, _ = await open_socket(alice, conversation.id)
    reply = (await send(first, "[sim words=3 delay=10 ttft=4000]"))["messages"][0]
    second, _ = await open_socket(alice, conversation.id)
    await second.send({"type": "resume", "message": reply, "seq": 0})
    await asyncio.sleep(3.5)  # the model thinks: no frame flows
    assert 4 <= requests <= 8, requests  # 0.05 s, then twice as long each time: not 70
    seen = await second.receive_until("done", timeout=10)
    assert seen[-1]["status"] == "complete"
    await first.receive_until("done")
    await first.close()
    await second.close()


async def test_a_send_racing_the_end_of_the_reply_before_it_goes_through(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The send finds the reply still being written; it has ended by the time the socket
    looks again: the conversation is free, and the send is taken."""
    streaming_channels = ChatConsumer.__dict__["_streaming_channels"]

    async def late(self: ChatConsumer) -> tuple[list[str], set[str]]:
        await asyncio.sleep(1.2)  # the reply ends meanwhile
        return await streaming_channels.__get__(self, ChatConsumer)()

    monkeypatch.setattr(ChatConsumer, "_streaming_channels", late)
    socket, _ = await open_socket(alice, conversation.id)
    reply = (await send(socket, "[sim words=8 delay=50]"))["messages"][0]
    await socket.receive_until("delta", seq=1)
    await socket.send({"type": "send", "content": "next [sim words=2]", "client_id": "c2"})
    answer = await socket.receive_until("ack", client_id="c2")
    assert not [f for f in answer if f["type"] == "error"], answer
    assert (await reload(reply)).status == Message.Status.COMPLETE
    assert (await socket.receive_until("done"))[-1]["status"] == "complete"
    await socket.close()


async def test_a_closed_socket_leaves_its_consumer_to_reference_counting(
    alice: User, conversation: Conversation
) -> None:
    """Nothing of a closed socket waits for the collector, whose full passes stop the loop."""
    import gc

    from conversations.follow import Follower

    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        for _ in range(5):
            socket, _ = await open_socket(alice, conversation.id)
            await socket.close()
        del socket
        gc.collect()
        left = [o for o in gc.garbage if isinstance(o, ChatConsumer | Follower | asyncio.Task)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
    assert left == []
