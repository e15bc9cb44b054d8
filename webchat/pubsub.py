"""channels_redis's pub/sub channel layer, with the publishes of a process sent together.

channels_redis sends each publish as a round trip of its own, one at a time per Redis
shard (under the shard's lock). With a few hundred replies streaming, their frames queue
behind each other, and each costs the event loop a write, a read and a wake-up. Here the
publishes that arrive while the one before is on its way go in the next round trip
together: one pipeline, one write, their answers read at once. The order of the publishes
is kept (a batch goes after the one before it, and after any subscription waiting for the
lock before it), and each caller still waits until its publish is sent and learns of its
own failure (a lost connection is everyone's). Everything else is channels_redis's own.
"""

from __future__ import annotations

import asyncio
from typing import Any

from channels_redis import pubsub
from channels_redis.utils import _wrap_close, decode_hosts

# A publish waiting for its round trip: the channel's name, the message, when it is sent.
_Publish = tuple[bytes, bytes, "asyncio.Future[None]"]


class RedisPubSubLayer(pubsub.RedisPubSubChannelLayer):
    def _get_layer(self) -> pubsub.RedisPubSubLoopLayer:
        loop = asyncio.get_running_loop()
        layer = self._layers.get(loop)
        if layer is None:
            layer = self._layers[loop] = _LoopLayer(*self._args, **self._kwargs, channel_layer=self)
            _wrap_close(self, loop)
        return layer


class _LoopLayer(pubsub.RedisPubSubLoopLayer):
    def __init__(self, hosts: Any = None, *args: Any, **kwargs: Any) -> None:
        super().__init__(hosts, *args, **kwargs)
        self._shards = [_Shard(host, self) for host in decode_hosts(hosts)]


class _Shard(pubsub.RedisSingleShardConnection):
    def __init__(self, host: dict[str, Any], channel_layer: _LoopLayer) -> None:
        super().__init__(host, channel_layer)
        self._batch: list[_Publish] | None = None  # gathering, not yet sent
        self._senders: set[asyncio.Task[None]] = set()
        self.round_trips = 0

    async def publish(self, channel: str, message: bytes) -> None:
        name = channel.encode()  # a name Redis cannot take fails its own caller alone
        if self._batch is None:
            batch = self._batch = []
            sender = asyncio.ensure_future(self._send(batch))
            self._senders.add(sender)
            sender.add_done_callback(lambda task: self._sent_or_not(task, batch))
        done = asyncio.get_running_loop().create_future()
        # Read even when its caller was cancelled: no "never retrieved" warning.
        done.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._batch.append((name, message, done))
        # A caller cancelled (a reply stopped) leaves its frame to go with the others.
        await asyncio.shield(done)

    async def _send(self, batch: list[_Publish]) -> None:
        async with self._lock:
            self._batch = None  # what comes from now on waits for the next round trip
            results: list[Any]
            try:
                self._ensure_redis()
                self.round_trips += 1
                if len(batch) == 1:
                    results = [await self._redis.publish(*batch[0][:2])]
                else:
                    pipeline = self._redis.pipeline(transaction=False)
                    for name, message, _ in batch:
                        pipeline.publish(name, message)
                    # A command Redis refuses is its caller's; a lost connection everyone's.
                    results = await pipeline.execute(raise_on_error=False)
            except Exception as error:
                results = [error] * len(batch)
        for (_, _, done), result in zip(batch, results, strict=True):
            if isinstance(result, Exception):
                done.set_exception(result)
            else:
                done.set_result(None)

    def _sent_or_not(self, sender: asyncio.Task[None], batch: list[_Publish]) -> None:
        """A sender cancelled (the loop closing), maybe before it even started: its callers
        are told, and the next publish starts a batch of its own."""
        self._senders.discard(sender)
        if self._batch is batch:
            self._batch = None
        for _, _, done in batch:
            if not done.done():
                done.cancel()
