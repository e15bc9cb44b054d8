"""The Redis pub/sub channel layer of the scaled-out setup (webchat/pubsub.py): a process's
publishes go to Redis together, in order, each caller told of its own failure. Two layer
instances stand for two processes."""

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError as Unreachable

from webchat.pubsub import RedisPubSubLayer

pytestmark = pytest.mark.skipif(
    not os.environ.get("REDIS_URL"),
    reason="runs in the PostgreSQL + Redis pass (make pytest-services)",
)


@pytest.fixture
async def processes() -> AsyncIterator[tuple[RedisPubSubLayer, RedisPubSubLayer]]:
    prefix = f"test-pubsub-{uuid.uuid4().hex[:8]}"
    config = {"hosts": [os.environ.get("REDIS_URL", "")], "prefix": prefix}
    a, b = RedisPubSubLayer(**config), RedisPubSubLayer(**config)
    yield a, b
    await a.flush()
    await b.flush()


def shard(layer: RedisPubSubLayer) -> object:
    return layer._get_layer()._shards[0]


async def member(layer: RedisPubSubLayer, group: str) -> str:
    """A channel of `layer`'s process in `group`, once Redis has its subscription."""
    channel = await layer.new_channel()
    await layer.group_add(group, channel)
    await asyncio.sleep(0.2)
    return channel


async def received(layer: RedisPubSubLayer, channel: str, count: int) -> list[dict]:
    return [await asyncio.wait_for(layer.receive(channel), 5) for _ in range(count)]


async def test_publishes_made_together_go_together_and_in_order(
    processes: tuple[RedisPubSubLayer, RedisPubSubLayer],
) -> None:
    a, b = processes
    groups, frames = 100, 20
    members = {}
    for g in range(groups):
        members[g] = await b.new_channel()
        await b.group_add(f"conv.{g}", members[g])
    await asyncio.sleep(0.2)  # the subscriptions are in

    async def reply(g: int) -> None:  # as a generation publishes: one frame after another
        for seq in range(frames):
            await a.group_send(f"conv.{g}", {"type": "chat.frame", "seq": seq})

    await asyncio.gather(*(reply(g) for g in range(groups)))
    for g in range(groups):
        got = await received(b, members[g], frames)
        assert [m["seq"] for m in got] == list(range(frames))
    # Far fewer round trips than publishes: those made while one was on its way went in
    # the next together.
    assert shard(a).round_trips < groups * frames / 4, shard(a).round_trips


async def test_a_cancelled_caller_s_frame_still_goes(
    processes: tuple[RedisPubSubLayer, RedisPubSubLayer],
) -> None:
    a, b = processes
    channel = await member(b, "conv.cancel")
    sending = asyncio.create_task(a.group_send("conv.cancel", {"type": "chat.frame", "n": 1}))
    await asyncio.sleep(0)  # in the batch, not yet sent
    sending.cancel()
    await a.group_send("conv.cancel", {"type": "chat.frame", "n": 2})
    assert [m["n"] for m in await received(b, channel, 2)] == [1, 2]


async def test_each_caller_hears_that_redis_is_unreachable() -> None:
    layer = RedisPubSubLayer(hosts=["redis://127.0.0.1:9/0"])  # nothing listens on port 9
    results = await asyncio.wait_for(
        asyncio.gather(
            *(layer.group_send(f"conv.{n}", {"type": "x"}) for n in range(5)),
            return_exceptions=True,
        ),
        10,
    )
    assert all(isinstance(r, Unreachable) for r in results), results
    # And the next publish tries again rather than finding the last one's failure.
    with pytest.raises(Unreachable):
        await asyncio.wait_for(layer.send("specific.x", {"type": "x"}), 10)
    await layer.flush()


async def test_a_batch_cancelled_before_its_turn_leaves_the_next_publish_to_go(
    processes: tuple[RedisPubSubLayer, RedisPubSubLayer],
) -> None:
    a, b = processes
    channel = await member(b, "conv.turn")
    connection = shard(a)
    async with connection._lock:  # a subscription on its way, say
        waiting = asyncio.create_task(a.group_send("conv.turn", {"type": "x", "n": 1}))
        await asyncio.sleep(0)
        for sender in list(connection._senders):  # as a loop shutting down would
            sender.cancel()
        with pytest.raises(asyncio.CancelledError):  # told, not left waiting
            await asyncio.wait_for(waiting, 5)
    await asyncio.wait_for(a.group_send("conv.turn", {"type": "x", "n": 2}), 5)
    assert [m["n"] for m in await received(b, channel, 1)] == [2]


async def test_a_publish_redis_cannot_take_fails_its_caller_alone(
    processes: tuple[RedisPubSubLayer, RedisPubSubLayer],
) -> None:
    a, b = processes
    channel = await member(b, "conv.fine")
    results = await asyncio.gather(
        *(a.group_send("conv.fine", {"type": "x", "n": n}) for n in range(3)),
        a.group_send("conv.bad\ud800", {"type": "x"}),  # no UTF-8 for a lone surrogate
        return_exceptions=True,
    )
    assert results[:3] == [None] * 3 and isinstance(results[3], UnicodeEncodeError)
    assert [m["n"] for m in await received(b, channel, 3)] == [0, 1, 2]
