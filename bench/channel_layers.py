"""Which Redis channel layer for our traffic: channels_redis core vs pub/sub.

Our traffic is one group per conversation with one to a few sockets, often on other
processes, receiving small frames (a few words each) every few tens of milliseconds.
Two layer instances stand for two daphne processes: A publishes to the group, a socket
channel on A and one on B receive. Prints delivery latency and throughput for each.

    python bench/channel_layers.py [--redis redis://127.0.0.1:6379/3] [--frames 2000]
"""

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "webchat.settings")

import django  # noqa: E402

django.setup()

from channels_redis.core import RedisChannelLayer  # noqa: E402
from channels_redis.pubsub import RedisPubSubChannelLayer  # noqa: E402

FRAME = '{"type":"delta","message":"6f1c0a8e-0000-4000-8000-000000000000","seq":%d,"content":" a few words here","reasoning":""}'


async def run(kind: str, url: str, frames: int, pace: float) -> dict[str, float]:
    make = RedisChannelLayer if kind == "core" else RedisPubSubChannelLayer
    a = make(hosts=[url], prefix=f"bench-{kind}")
    b = make(hosts=[url], prefix=f"bench-{kind}")
    group = f"conv.bench{time.time_ns()}"
    on_a = await a.new_channel()
    on_b = await b.new_channel()
    await a.group_add(group, on_a)
    await b.group_add(group, on_b)
    await asyncio.sleep(0.2)
    latencies: dict[str, list[float]] = {"a": [], "b": []}

    async def drain(layer: object, channel: str, key: str) -> None:
        for _ in range(frames):
            message = await layer.receive(channel)
            latencies[key].append(time.perf_counter() - message["sent"])

    readers = [asyncio.create_task(drain(a, on_a, "a")), asyncio.create_task(drain(b, on_b, "b"))]
    cpu, started = time.process_time(), time.perf_counter()
    for seq in range(frames):
        await a.group_send(
            group, {"type": "chat.frame", "text": FRAME % seq, "sent": time.perf_counter()}
        )
        if pace:
            await asyncio.sleep(pace)
    await asyncio.wait_for(asyncio.gather(*readers), 60)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    await a.flush()
    await b.flush()
    b_lat = sorted(latencies["b"])
    return {
        "p50_ms": statistics.median(b_lat) * 1000,
        "p99_ms": b_lat[int(len(b_lat) * 0.99)] * 1000,
        "frames_per_s": frames / elapsed,
        "cpu_ms_per_1000": cpu / frames * 1e6,
    }


async def main(url: str, frames: int) -> None:
    print(f"{frames} group frames, two layer instances (A sends; sockets on A and B receive)")
    print(
        f"{'layer':8} {'traffic':14} {'p50 ms':>8} {'p99 ms':>8} {'frames/s':>10} {'CPU ms/1000':>12}"
    )
    for pace, label in ((0.0, "burst"), (0.002, "every 2 ms")):
        for kind in ("core", "pubsub"):
            r = await run(kind, url, frames, pace)
            print(
                f"{kind:8} {label:14} {r['p50_ms']:8.2f} {r['p99_ms']:8.2f} "
                f"{r['frames_per_s']:10.0f} {r['cpu_ms_per_1000']:12.1f}"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/3")
    parser.add_argument("--frames", type=int, default=2000)
    args = parser.parse_args()
    asyncio.run(main(args.redis, args.frames))
