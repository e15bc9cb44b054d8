"""The delay a frame gains by crossing processes: two daphnes on PostgreSQL + Redis.

A socket on process A (which runs the generation) and a socket on process B watch the
same conversation; for every frame (message, seq) the arrival on B minus the arrival on A
is what crossing processes adds. Prints p50/p99 over at least FRAMES frames.

    python bench/cross_process.py [--frames 1000]   (needs PostgreSQL and Redis, see tests/services.py)
"""

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import services  # noqa: E402
from tests.live import LiveServer, two_processes  # noqa: E402


async def watch(
    url: str, origin: str, session: str, arrivals: dict, ready: asyncio.Future, done: asyncio.Queue
) -> None:
    async with websockets.connect(
        url, additional_headers={"Cookie": f"sessionid={session}", "Origin": origin}
    ) as sock:
        ready.set_result(sock)
        async for raw in sock:
            now = time.perf_counter()
            frame = json.loads(raw)
            if frame["type"] == "delta":
                arrivals[(frame["message"], frame["seq"])] = now
            elif frame["type"] == "done":
                await done.put(frame["message"])


async def run(a: LiveServer, b: LiveServer, frames: int) -> None:
    session = a.sign_up(f"bench{time.time_ns()}")
    conversation = a.new_conversation(session)
    on_a: dict = {}
    on_b: dict = {}
    done_a: asyncio.Queue = asyncio.Queue()
    done_b: asyncio.Queue = asyncio.Queue()
    loop = asyncio.get_running_loop()
    ready_a, ready_b = loop.create_future(), loop.create_future()
    watchers = [
        asyncio.create_task(
            watch(a.socket_url(conversation), a.url, session, on_a, ready_a, done_a)
        ),
        asyncio.create_task(
            watch(b.socket_url(conversation), b.url, session, on_b, ready_b, done_b)
        ),
    ]
    sender = await ready_a  # the socket on A sends; both sockets read everything
    await ready_b
    replies = 0
    while min(len(on_a), len(on_b)) < frames:
        await sender.send(json.dumps({"type": "send", "content": "[sim words=400 delay=10]"}))
        await asyncio.wait_for(done_a.get(), 60)
        await asyncio.wait_for(done_b.get(), 60)
        replies += 1
    for task in watchers:
        task.cancel()
    common = sorted(set(on_a) & set(on_b))
    delays = sorted((on_b[k] - on_a[k]) * 1000 for k in common)
    missing = len(set(on_a) ^ set(on_b))
    print(
        f"{len(common)} frames in {replies} replies seen on both processes ({missing} seen on one only)"
    )
    print(
        f"  added delay on B (crossing processes) vs A: p50 {statistics.median(delays):6.2f} ms, "
        f"p99 {delays[int(len(delays) * 0.99)]:6.2f} ms, max {delays[-1]:6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=1000)
    args = parser.parse_args()
    reason = services.unavailable()
    if reason:
        sys.exit(f"needs PostgreSQL and Redis: {reason}")
    env = {"REDIS_URL": f"{services.REDIS_URL}/4", "REDIS_PREFIX": f"bench-{uuid.uuid4().hex[:6]}"}
    with two_processes(Path(tempfile.mkdtemp()), "webchat_bench", **env) as (a, b):
        asyncio.run(run(a, b, args.frames))


if __name__ == "__main__":
    main()
