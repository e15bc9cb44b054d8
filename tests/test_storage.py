"""A plan's storage allowance: forks and sends that would go past it are refused, with a
sentence, and nothing is stored."""

import pytest
from channels.db import database_sync_to_async

from conversations import storage
from conversations.models import Conversation, Message, Share
from tests.helpers import add_exchange, logged_in, open_socket
from webchat.models import Plan, User

pytestmark = pytest.mark.django_db(transaction=True)


def small_plan(user: User, mb: int | None = 1) -> None:
    user.plan = Plan.objects.create(name=f"small-{user.pk}", storage_mb=mb)
    user.save()


def big_share(owner: User, chars: int) -> Share:
    conversation = Conversation.objects.create(owner=owner, title="big")
    add_exchange(conversation, "q", "x" * chars)
    return Share.objects.create(conversation=conversation, leaf=conversation.current_leaf)


def test_a_fork_past_the_allowance_is_refused_and_nothing_is_copied(alice: User, bob: User) -> None:
    small_plan(bob)
    share = big_share(alice, 1_200_000)
    response = logged_in(bob).post(f"/s/{share.token}/fork/", headers={"Accept": "text/html"})
    assert response.status_code == 403
    assert "Your storage is full" in response.content.decode()
    assert not Conversation.objects.filter(owner=bob).exists()


def test_a_fork_within_the_allowance_counts_for_the_next(alice: User, bob: User) -> None:
    small_plan(bob)
    share = big_share(alice, 600_000)
    client = logged_in(bob)
    assert client.post(f"/s/{share.token}/fork/").status_code == 302
    assert storage.used(bob) >= 600_000
    assert client.post(f"/s/{share.token}/fork/").status_code == 403
    assert Conversation.objects.filter(owner=bob).count() == 1


def test_no_limit_means_no_limit(alice: User, bob: User) -> None:
    small_plan(bob, mb=None)
    share = big_share(alice, 1_200_000)
    assert logged_in(bob).post(f"/s/{share.token}/fork/").status_code == 302


async def test_a_send_when_storage_is_full_is_refused_in_words(alice: User) -> None:
    @database_sync_to_async
    def fill() -> Conversation:
        small_plan(alice)
        conversation = Conversation.objects.create(owner=alice)
        add_exchange(conversation, "q", "x" * (storage.MB + 1))
        return conversation

    conversation = await fill()
    socket, _ = await open_socket(alice, conversation.id)
    await socket.send({"type": "send", "content": "one more", "client_id": "c"})
    answer = await socket.receive()
    assert answer["code"] == "quota_exceeded" and "storage is full" in answer["message"]
    await socket.close()
    assert await Message.objects.filter(conversation=conversation).acount() == 2


def test_a_system_prompt_counts_and_forks_are_rate_limited(
    alice: User, bob: User, settings: object
) -> None:
    small_plan(bob)
    conversation = Conversation.objects.create(owner=alice, title="prompted")
    add_exchange(conversation, "q", "a")
    Message.objects.filter(conversation=conversation).update(params={"system": "s" * 300_000})
    share = Share.objects.create(
        conversation=conversation, leaf=conversation.current_leaf, include_system=True
    )
    client = logged_in(bob)
    assert client.post(f"/s/{share.token}/fork/").status_code == 302
    assert storage.used(bob, fresh=True) > 600_000
    assert client.post(f"/s/{share.token}/fork/").status_code == 403
    settings.RATE_LIMITS = {**settings.RATE_LIMITS, "share": "1/h"}
    Plan.objects.filter(users=bob).update(storage_mb=None)
    assert client.post(f"/s/{share.token}/fork/").status_code == 302
    assert client.post(f"/s/{share.token}/fork/").status_code == 429
