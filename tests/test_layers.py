"""The embedded in-memory channel layer: Channels' semantics, cheaper per frame."""

from typing import Any

import pytest

from webchat import layers
from webchat.layers import InMemoryLayer


async def test_a_group_send_reaches_every_member_with_its_own_copy() -> None:
    layer = InMemoryLayer()
    a, b = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("conv.x", a)
    await layer.group_add("conv.x", b)
    await layer.group_send("conv.x", {"type": "chat.frame", "text": "hi"})
    first, second = await layer.receive(a), await layer.receive(b)
    assert first == second == {"type": "chat.frame", "text": "hi"}
    first["text"] = "changed"
    assert second["text"] == "hi"


async def test_a_full_member_misses_frames_and_the_others_do_not() -> None:
    layer = InMemoryLayer(capacity=1)
    slow, fast = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("conv.y", slow)
    await layer.group_add("conv.y", fast)
    await layer.group_send("conv.y", {"type": "one"})
    assert (await layer.receive(fast))["type"] == "one"
    await layer.group_send("conv.y", {"type": "two"})  # slow is full: skipped, no error
    assert (await layer.receive(fast))["type"] == "two"
    assert (await layer.receive(slow))["type"] == "one"


async def test_expired_messages_are_still_swept(monkeypatch: Any) -> None:
    monkeypatch.setattr(layers, "SWEEP_SECONDS", 0)
    layer = InMemoryLayer(expiry=-1)  # every message is born expired
    channel = await layer.new_channel()
    await layer.group_add("conv.z", channel)
    await layer.send(channel, {"type": "old"})
    layer._clean_expired()
    assert channel not in layer.channels
    assert channel not in layer.groups.get("conv.z", {})


async def test_bad_messages_are_refused() -> None:
    layer = InMemoryLayer()
    with pytest.raises(AssertionError):
        await layer.group_send("conv.a", "not a dict")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        await layer.send("bad channel name!", {"type": "x"})
