"""A session that ends ends everywhere: its sockets close with 4401 and its replies stop,
whether it ends by logout, expiry or a password change or reset (which closes every
socket: the page whose session survives reconnects); a plan deleted closes
its people's sockets with 1008."""

import asyncio
from datetime import timedelta

import pytest
from channels.db import database_sync_to_async
from django.contrib.sessions.models import Session
from django.test import AsyncClient, Client
from django.utils import timezone

from conversations.models import Conversation, Message
from tests.helpers import Socket, logged_in, open_socket, send
from webchat import sessions
from webchat.models import Plan, User

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("finish_generations"),
]

PASSWORD = "correct horse battery"  # conftest's


async def session(user: User) -> Client:
    return await database_sync_to_async(logged_in)(user)


async def streaming(socket: Socket) -> str:
    """Starts a long reply; its id."""
    start = await send(socket, "[sim words=2000 delay=20]")
    await socket.receive()
    return start["messages"][0]


async def close_code(socket: Socket, timeout: float = 5) -> int:
    """The close code, past the frames of a reply still streaming."""
    async with asyncio.timeout(timeout):
        while True:
            output = await socket.communicator.receive_output(timeout)
            if output["type"] == "websocket.close":
                return output["code"]


async def status_of(message_id: str) -> str:
    for _ in range(100):
        reply = await database_sync_to_async(Message.objects.get)(pk=message_id)
        if reply.status != "streaming":
            break
        await asyncio.sleep(0.05)
    return reply.status


async def test_logout_closes_that_sessions_sockets_and_stops_its_reply(
    alice: User, conversation: Conversation
) -> None:
    leaving, staying = await session(alice), await session(alice)
    socket, _ = await open_socket(alice, conversation.id, client=leaving)
    other, _ = await open_socket(alice, conversation.id, client=staying)
    reply = await streaming(socket)
    await database_sync_to_async(leaving.post)("/accounts/logout/")
    assert await close_code(socket) == 4401
    assert await status_of(reply) == "stopped"
    # The other session's socket saw the reply end, and stays open.
    await other.receive_until("done")
    assert await other.nothing(0.3)
    await other.close()


async def test_a_password_change_ends_the_other_sessions(
    alice: User, conversation: Conversation
) -> None:
    changing, elsewhere = await session(alice), await session(alice)
    mine, _ = await open_socket(alice, conversation.id, client=changing)
    theirs, _ = await open_socket(alice, conversation.id, client=elsewhere)
    reply = await streaming(theirs)
    new = "another long passphrase 43"
    response = await database_sync_to_async(changing.post)(
        "/accounts/password/",
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response.status_code == 302
    assert await close_code(theirs) == 4401
    assert await close_code(mine) == 4401
    assert await status_of(reply) == "stopped"
    # The session that made the change holds (under a new key): its page reconnects.
    again, connected = await open_socket(alice, conversation.id, client=changing)
    assert connected and await again.nothing(0.3)
    await again.close()
    refused, _ = await open_socket(alice, conversation.id, client=elsewhere)
    assert await close_code(refused) == 4401


async def test_a_password_reset_ends_every_session(alice: User, conversation: Conversation) -> None:
    socket, _ = await open_socket(alice, conversation.id)
    reply = await streaming(socket)
    alice.set_password("another long passphrase 43")
    await database_sync_to_async(alice.save)()
    assert await close_code(socket) == 4401
    assert await status_of(reply) == "stopped"


async def test_a_page_finding_the_password_changed_behind_it_ends_the_session(
    alice: User, conversation: Conversation
) -> None:
    client = await session(alice)
    socket, _ = await open_socket(alice, conversation.id, client=client)
    reply = await streaming(socket)
    # Changed without the model's signals (an update, another tool): the next page the
    # session opens finds it out, on the event loop.
    await User.objects.filter(pk=alice.pk).aupdate(password="changed elsewhere")
    page = AsyncClient()
    page.cookies = client.cookies
    assert (await page.get("/settings/")).status_code == 302
    assert await close_code(socket) == 4401
    assert await status_of(reply) == "stopped"


async def test_an_expiring_session_closes_its_socket(
    alice: User, conversation: Conversation
) -> None:
    client = await session(alice)
    soon = timezone.now() + timedelta(seconds=1)
    key = client.cookies["sessionid"].value
    await database_sync_to_async(Session.objects.filter(pk=key).update)(expire_date=soon)
    socket, connected = await open_socket(alice, conversation.id, client=client)
    assert connected
    reply = await streaming(socket)
    assert await close_code(socket) == 4401
    assert await status_of(reply) == "stopped"


async def test_an_expired_session_opens_no_socket(alice: User, conversation: Conversation) -> None:
    client = await session(alice)
    key = client.cookies["sessionid"].value
    past = timezone.now() - timedelta(seconds=1)
    await database_sync_to_async(Session.objects.filter(pk=key).update)(expire_date=past)
    socket, _ = await open_socket(alice, conversation.id, client=client)
    assert await close_code(socket) == 4401


async def test_a_logout_right_after_the_handshake_read_the_session_opens_no_socket(
    alice: User, conversation: Conversation, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The logout lands between the handshake's read of the session and the socket joining
    the session's group: its message reaches no socket, and the socket must not open."""
    client = await session(alice)
    key = client.cookies["sessionid"].value
    read = sessions.SessionStore._get_session_from_db

    def read_then_log_out(store: sessions.SessionStore) -> Session | None:
        row = read(store)
        sessions.SessionStore(key).delete()  # the logout: its row gone, its group told
        return row

    monkeypatch.setattr(sessions.SessionStore, "_get_session_from_db", read_then_log_out)
    socket, _ = await open_socket(alice, conversation.id, client=client)
    assert await close_code(socket) == 4401


async def test_an_extended_session_keeps_its_socket(
    alice: User, conversation: Conversation
) -> None:
    client = await session(alice)
    key = client.cookies["sessionid"].value
    rows = Session.objects.filter(pk=key)
    await database_sync_to_async(rows.update)(expire_date=timezone.now() + timedelta(seconds=1))
    socket, _ = await open_socket(alice, conversation.id, client=client)
    await database_sync_to_async(rows.update)(expire_date=timezone.now() + timedelta(days=1))
    assert await socket.nothing(2.5)
    await socket.close()


async def test_deleting_a_plan_closes_its_peoples_sockets(
    alice: User, conversation: Conversation
) -> None:
    plan = await database_sync_to_async(Plan.objects.create)(name="doomed")
    alice.plan = plan
    await database_sync_to_async(alice.save)()
    socket, _ = await open_socket(alice, conversation.id)
    reply = await streaming(socket)
    await database_sync_to_async(plan.delete)()
    assert await close_code(socket) == 1008
    assert await status_of(reply) == "stopped"


async def test_someone_else_logging_in_over_a_session_closes_its_sockets(
    alice: User, bob: User, conversation: Conversation
) -> None:
    browser = await session(alice)
    socket, _ = await open_socket(alice, conversation.id, client=browser)
    response = await database_sync_to_async(browser.post)(
        "/accounts/login/", {"username": "bob", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert await close_code(socket) == 4401


async def test_deleting_the_account_ends_everything_it_had_open(
    alice: User, conversation: Conversation
) -> None:
    """Every session's sockets close, the reply stops, and whoever follows one of its
    links live is cut off; a page that reconnects at once finds no one to be."""
    from conversations.models import Share
    from tests.test_share_consumer import follow

    deleting, elsewhere = await session(alice), await session(alice)
    mine, _ = await open_socket(alice, conversation.id, client=deleting)
    theirs, _ = await open_socket(alice, conversation.id, client=elsewhere)
    reply = await streaming(theirs)
    await database_sync_to_async(conversation.refresh_from_db)()
    share = await database_sync_to_async(Share.objects.create)(
        conversation=conversation, leaf_id=conversation.current_leaf_id
    )
    reader, connected = await follow(share.token)
    assert connected
    response = await database_sync_to_async(deleting.post)(
        "/accounts/delete/", {"confirmation": PASSWORD}
    )
    assert response.status_code == 200 and b"Account deleted" in response.content
    assert await close_code(mine) == 4401 and await close_code(theirs) == 4401
    assert await close_code(reader) == 4404
    assert not await database_sync_to_async(Message.objects.filter(pk=reply).exists)()
    again, connected = await open_socket(alice, conversation.id, client=elsewhere)
    assert not connected or await close_code(again) == 4401
