"""Following a shared reply live over /ws/shares/<token>/, and losing it when revoked."""

from typing import Any

import pytest
from channels.db import database_sync_to_async
from channels.testing import WebsocketCommunicator

from conversations.models import Conversation, Message, Share, with_files
from tests.helpers import Socket, add_exchange, open_socket, send, split_at_snapshot, text_of
from webchat.models import Plan, User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("finish_generations"),
]


async def follow(token: str, forwarded_for: str = "") -> tuple[Socket, bool]:
    """A reader of the link, through a proxy on 127.0.0.1 when `forwarded_for` is given."""
    from webchat.asgi import application

    headers = [(b"origin", b"http://localhost"), (b"host", b"localhost")]
    if forwarded_for:
        headers.append((b"x-forwarded-for", forwarded_for.encode()))
    communicator = WebsocketCommunicator(application, f"/ws/shares/{token}/", headers=headers)
    communicator.scope["client"] = ("127.0.0.1", 40000)
    connected, _ = await communicator.connect()
    return Socket(communicator), connected


@database_sync_to_async
def share_now(conversation: Conversation) -> Share:
    conversation.refresh_from_db()
    return Share.objects.create(conversation=conversation, leaf=conversation.current_leaf)


async def test_an_anonymous_viewer_follows_a_streaming_reply_to_its_end(
    alice: User, conversation: Conversation
) -> None:
    owner, _ = await open_socket(alice, conversation.id)
    reply = (await send(owner, "[sim words=80 delay=10]"))["messages"][0]
    await owner.receive()
    share = await share_now(conversation)
    viewer, connected = await follow(share.token)
    assert connected
    await viewer.send({"type": "resume", "message": reply, "seq": 0})
    frames = await viewer.receive_until("done")
    snapshot, after = split_at_snapshot(frames)
    assert [f["seq"] for f in after] == list(
        range(snapshot["seq"] + 1, snapshot["seq"] + 1 + len(after))
    )
    whole = snapshot["content"] + text_of(after, reply)
    stored = await database_sync_to_async(Message.objects.get)(pk=reply)
    assert whole == stored.content and frames[-1]["status"] == "complete"
    assert len(whole.split()) == 80
    await viewer.close()
    await owner.close()


async def test_the_viewer_sees_only_the_shared_reply(
    alice: User, conversation: Conversation
) -> None:
    owner, _ = await open_socket(alice, conversation.id)
    await send(owner, "[sim words=3]")
    await owner.receive_until("done")
    share = await share_now(conversation)
    viewer, _ = await follow(share.token)
    await send(owner, "a later, private question [sim words=5]")
    await owner.receive_until("done")
    assert await viewer.nothing(0.3), "frames of later messages must not reach the share"
    await viewer.send({"type": "send", "content": "let me in"})
    assert (await viewer.receive())["code"] == "invalid_request"
    await viewer.send({"type": "resume", "message": str(conversation.id), "seq": 0})
    assert (await viewer.receive())["code"] == "not_found"
    await viewer.close()
    await owner.close()


async def test_revoking_cuts_off_a_live_viewer(alice: User, conversation: Conversation) -> None:
    owner, _ = await open_socket(alice, conversation.id)
    reply = (await send(owner, "[sim words=400 delay=20]"))["messages"][0]
    share = await share_now(conversation)
    viewer, _ = await follow(share.token)
    await viewer.send({"type": "resume", "message": reply, "seq": 0})
    await viewer.receive()
    assert await database_sync_to_async(_revoke)(alice, share.token) == 302
    while True:
        output = await viewer.communicator.receive_output(5)
        if output["type"] == "websocket.close":
            break
    assert output["code"] == 4404
    again, _ = await follow(share.token)
    assert (await again.communicator.receive_output())["code"] == 4404
    await owner.send({"type": "stop"})
    await owner.receive_until("done")
    await owner.close()


def _revoke(user: User, token: str) -> int:
    from django.db import connection

    from tests.helpers import logged_in

    try:
        return logged_in(user).post(f"/s/{token}/revoke/").status_code
    finally:
        connection.close()  # the test client keeps this thread's connection open


async def test_a_wrong_token_is_closed_with_4404() -> None:
    viewer, _ = await follow("no-such-token")
    assert (await viewer.communicator.receive_output())["code"] == 4404


async def test_a_finished_shared_reply_is_given_once_per_socket(
    alice: User, conversation: Conversation
) -> None:
    """Anyone with the link could otherwise make the server read and render the reply
    again with every cheap `resume` frame."""
    owner, _ = await open_socket(alice, conversation.id)
    reply = (await send(owner, "[sim words=20]"))["messages"][0]
    await owner.receive_until("done")
    share = await share_now(conversation)
    viewer, _ = await follow(share.token)
    for _ in range(20):
        await viewer.send({"type": "resume", "message": reply, "seq": 0})
    frames = await viewer.receive_until("done")
    while not await viewer.nothing(0.5):
        frames.append(await viewer.receive())
    # Those that came after the end are told so, in a word.
    assert [f["type"] for f in frames if f["type"] != "error"] == ["snapshot", "done"]
    assert {f["code"] for f in frames if f["type"] == "error"} <= {"invalid_request"}
    await viewer.send({"type": "resume", "message": reply, "seq": 0, "client_id": "again"})
    again = await viewer.receive()
    assert again["code"] == "invalid_request" and again["client_id"] == "again"
    assert "ended" in again["message"]
    await viewer.close()
    await owner.close()


async def test_a_reader_is_not_told_the_owner_s_allowance_cut_the_reply_nor_a_fork_keeps_it(
    alice: User, bob: User, conversation: Conversation
) -> None:
    await database_sync_to_async(Plan.objects.filter(pk=alice.plan_id).update)(tokens_per_day=300)
    owner, _ = await open_socket(alice, conversation.id)
    reply = (await send(owner, "[sim words=400 delay=2]", params={"max_tokens": 2000}))["messages"][
        0
    ]
    share = await share_now(conversation)
    viewer, _ = await follow(share.token)
    await viewer.send({"type": "resume", "message": reply, "seq": 0})
    owners = (await owner.receive_until("done"))[-1]
    assert owners["limited_by"] == "allowance"  # the owner is told
    # Live or from the database, the reader's end of it says nothing of the owner's plan.
    ended = (await viewer.receive_until("done"))[-1]
    assert "limited_by" not in ended and ended["usage"] is None
    later, _ = await follow(share.token)
    await later.send({"type": "resume", "message": reply, "seq": 0})
    ended = (await later.receive_until("done"))[-1]
    assert "limited_by" not in ended and ended["usage"] is None
    copy = await database_sync_to_async(lambda: share.fork(bob, with_files(share.messages())))()
    forked = await database_sync_to_async(lambda: copy.messages.get(role="assistant"))()
    assert forked.limited_by == "" and forked.finish_reason == "length"
    for socket in (viewer, later, owner):
        await socket.close()


async def test_readers_of_one_link_are_capped(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    await database_sync_to_async(add_exchange)(conversation, "q", "a")
    share = await share_now(conversation)
    settings.CHAT_MAX_SOCKETS_PER_SHARE = 2
    first, _ = await follow(share.token)
    second, _ = await follow(share.token)
    third, _ = await follow(share.token)
    assert (await third.communicator.receive_output())["code"] == 4429
    for socket in (first, second):
        await socket.close()


async def test_each_reader_of_a_link_has_an_allowance_of_their_own(
    alice: User, conversation: Conversation, settings: Any
) -> None:
    """Readers come through the site's proxy: their allowance of frames is kept per address
    as the proxy names it, not the proxy's (one reader's frames refused every other's)."""
    settings.TRUSTED_PROXIES = ["127.0.0.1"]
    settings.CHAT_FRAME_BURST = 2
    owner, _ = await open_socket(alice, conversation.id)
    await send(owner, "[sim words=5]")
    await owner.receive_until("done")
    share = await share_now(conversation)
    elsewhere = {"type": "resume", "message": str(conversation.id)}  # not the link's reply

    async def answers(address: str, frames: int) -> list[str]:
        reader, _ = await follow(share.token, forwarded_for=f"10.9.9.9, {address}")
        codes = []
        for _ in range(frames):
            await reader.send(elsewhere)
            codes.append((await reader.receive())["code"])
        await reader.close()
        return codes

    assert await answers("203.0.113.5", 3) == ["not_found", "not_found", "rate_limited"]
    assert await answers("203.0.113.6", 1) == ["not_found"]
    assert await answers("203.0.113.5", 1) == ["rate_limited"]  # the same reader again
    await owner.close()
