"""Time to first delta: straight from the simulator vs through the app (daphne + websocket).

Starts a simulator process (first token at once, so only our overhead is measured) and the
app on the embedded defaults (SQLite, in-memory channel layer) pointed at it, then times
RUNS replies each way and prints medians.

    python bench/first_delta.py [--runs 50]
"""

import argparse
import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.live import LiveServer, free_port  # noqa: E402

PROMPT = "[sim words=5 delay=1 ttft=0]"


async def direct(simulator: str) -> float:
    body = {"model": "grok-3", "stream": True, "messages": [{"role": "user", "content": PROMPT}]}
    async with httpx.AsyncClient() as client:
        started = time.perf_counter()
        async with client.stream("POST", f"{simulator}/chat/completions", json=body) as response:
            first = None
            async for line in response.aiter_lines():
                if first is None and '"content"' in line:
                    first = time.perf_counter() - started
    return first


async def through_app(base: str, cookie: str, conversation: str, runs: int) -> list[float]:
    url = base.replace("http", "ws") + f"/ws/conversations/{conversation}/"
    headers = {"Cookie": f"sessionid={cookie}", "Origin": base}
    times = []
    async with websockets.connect(url, additional_headers=headers) as socket:
        for _ in range(runs):
            started = time.perf_counter()
            await socket.send(json.dumps({"type": "send", "content": PROMPT, "model": "grok-3"}))
            first = None
            while True:
                frame = json.loads(await socket.recv())
                if frame["type"] == "delta" and first is None:
                    first = time.perf_counter() - started
                if frame["type"] == "error":
                    raise RuntimeError(frame)
                if frame["type"] == "done":
                    break
            times.append(first)
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=50)
    args = parser.parse_args()
    port = free_port()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "webchat.simulator", "--port", str(port), "--ttft-ms", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    sim_url = f"http://127.0.0.1:{port}"
    server = LiveServer(Path(tempfile.mkdtemp()), GROK_SIMULATOR="off", GROK_API_BASE=sim_url)
    try:
        base = server.start()
        # The benchmark sends more than a person's default plan allows in a minute.
        server.query("UPDATE webchat_plan SET requests_per_minute = 100000")
        cookie = server.sign_up(f"bench{time.time_ns()}")
        conversation = server.new_conversation(cookie)

        async def measure() -> tuple[list[float], list[float]]:
            await direct(sim_url)  # warm up both paths
            await through_app(base, cookie, conversation, 3)
            straight = [await direct(sim_url) for _ in range(args.runs)]
            app = await through_app(base, cookie, conversation, args.runs)
            return straight, app

        straight, app = asyncio.run(measure())
    finally:
        server.stop()
        simulator.terminate()
    ms = lambda values: statistics.median(values) * 1000  # noqa: E731
    print(f"time to first delta, median of {args.runs} (simulator first token at 0 ms)")
    print(f"  straight from the simulator (httpx):      {ms(straight):7.2f} ms")
    print(f"  through the app (daphne websocket):       {ms(app):7.2f} ms")
    print(f"  added by the app:                         {ms(app) - ms(straight):7.2f} ms")
    print(
        f"  through the app, p95:                     {sorted(app)[int(len(app) * 0.95)] * 1000:7.2f} ms"
    )


if __name__ == "__main__":
    main()
