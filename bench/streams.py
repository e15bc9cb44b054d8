"""The streaming benchmark: what webchat adds between the upstream and the browser.

Starts a mock upstream (the simulator in its own process, its CPU reported so it is known
not to be the bottleneck) and the app as `make run` serves it (one daphne, SQLite,
in-memory layer) or, with --services, scaled out (two daphnes on PostgreSQL and Redis, the
sockets split between them). Drives real websockets as the browser does, checks every
stream arrived whole and in order and every reply was stored whole, and prints one table,
with the database writes per reply (bench/db_writes.py) and the first-load weight of the
pages (bench/page_weight.py).

    python bench/streams.py [--quick] [--services] [--first]
"""

import argparse
import asyncio
import itertools
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

import httpx
import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests import services  # noqa: E402
from tests.live import LiveServer, free_port, two_processes  # noqa: E402

TICKS = 100  # os.sysconf("SC_CLK_TCK") on Linux


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


def pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] if ordered else float("nan")


class Bench:
    def __init__(self, servers: list[LiveServer], upstream: str, session: str) -> None:
        self.servers, self.upstream, self.session = servers, upstream, session
        self.server = servers[0]

    async def socket(self, conversation: str, index: int = 0, session: str | None = None):
        """A socket on one of the processes, in turn by `index` (the run's person's, or the
        `session`'s)."""
        server = self.servers[index % len(self.servers)]
        return await websockets.connect(
            server.socket_url(conversation),
            additional_headers={
                "Cookie": f"sessionid={session or self.session}",
                "Origin": server.url,
            },
            max_size=None,
        )

    def cpu(self) -> float:
        return sum(cpu_seconds(server.process.pid) for server in self.servers)

    def stored_whole(self, conversations: list[str], words: int) -> int:
        """How many of these conversations' replies the database holds complete."""
        rows = self.server.query(
            "SELECT conversation_id, status, content FROM conversations_message "
            "WHERE role = 'assistant'"
        )
        wanted = {uuid.UUID(c) for c in conversations}
        rows = [(status, content) for c, status, content in rows if uuid.UUID(str(c)) in wanted]
        return sum(
            1 for status, content in rows if status == "complete" and len(content.split()) == words
        )

    async def direct_first_token(self, client: httpx.AsyncClient, prompt: str) -> float:
        body = {
            "model": "grok-3",
            "stream": True,
            "messages": [{"role": "user", "content": prompt}],
        }
        started = time.perf_counter()
        first = None
        async with client.stream(
            "POST", f"{self.upstream}/chat/completions", json=body
        ) as response:
            async for line in response.aiter_lines():
                if first is None and '"content"' in line:
                    first = time.perf_counter() - started
        return first

    async def stream(self, sock, prompt: str, words: int) -> dict:
        """One reply: first delta, and with `[sim stamp]` each word's lag behind the moment
        the upstream sent it (every word is that moment); whole, in order, no duplicate."""
        stamped = "stamp" in prompt
        started = time.perf_counter()
        await sock.send(json.dumps({"type": "send", "content": prompt, "model": "grok-3"}))
        first, seq, received, lags, error = None, 0, [], [], None
        while True:
            frame = json.loads(await asyncio.wait_for(sock.recv(), 120))
            if frame["type"] == "error":
                error = frame["code"]
                break
            if frame["type"] == "delta":
                now, wall = time.perf_counter(), time.time()
                if first is None:
                    first = now - started
                if frame["seq"] != seq + 1:
                    error = "gap"
                seq = frame["seq"]
                for word in frame["content"].split():
                    received.append(word)
                    if stamped:
                        lags.append(wall - float(word))
            if frame["type"] == "done":
                break
        if len(received) != words:
            error = error or "lost"
        elif stamped and any(float(a) >= float(b) for a, b in itertools.pairwise(received)):
            error = error or "out of order or duplicated"
        elapsed = time.perf_counter() - started
        return {"first": first, "lags": lags, "error": error, "frames": seq, "elapsed": elapsed}


async def run(bench: Bench, quick: bool, first_only: bool = False) -> list[tuple[str, str]]:
    rows: list[tuple[str, str]] = []
    runs = 20 if quick else 50

    # 1. Time to first delta, added over a direct client.
    for ttft in (0, 200):
        prompt = f"[sim words=3 delay=1 ttft={ttft}]"
        # A warm client with a kept-alive connection, as the app's own is.
        async with httpx.AsyncClient() as client:
            await bench.direct_first_token(client, prompt)
            direct = [await bench.direct_first_token(client, prompt) for _ in range(runs)]
        conversation = bench.server.new_conversation(bench.session)
        async with await bench.socket(conversation) as sock:
            await bench.stream(sock, prompt, 3)
            through = [(await bench.stream(sock, prompt, 3))["first"] for _ in range(runs)]
        added = [t - d for t, d in zip(sorted(through), sorted(direct), strict=True)]
        rows.append(
            (f"first delta added (upstream TTFT {ttft} ms)",
             f"p50 {statistics.median(added) * 1000:.1f} ms, p95 {pct(added, 0.95) * 1000:.1f} ms "
             f"(direct {statistics.median(direct) * 1000:.1f} ms, app {statistics.median(through) * 1000:.1f} ms)")
        )  # fmt: skip

    # The same, with a new socket for each message: opening it (the handshake, the
    # session and the conversation read) counts too.
    prompt = "[sim words=3 delay=1 ttft=0]"
    async with httpx.AsyncClient() as client:
        await bench.direct_first_token(client, prompt)
        direct = [await bench.direct_first_token(client, prompt) for _ in range(runs)]
    conversation = bench.server.new_conversation(bench.session)
    through = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        async with await bench.socket(conversation) as sock:
            result = await bench.stream(sock, prompt, 3)
            through.append(time.perf_counter() - started - (result["elapsed"] - result["first"]))
    through = through[1:]  # the first pays for warming up
    added = [t - d for t, d in zip(sorted(through), sorted(direct), strict=True)]
    rows.append(
        ("first delta added, opening the socket too",
         f"p50 {statistics.median(added) * 1000:.1f} ms, p95 {pct(added, 0.95) * 1000:.1f} ms "
         f"(direct {statistics.median(direct) * 1000:.1f} ms, app {statistics.median(through) * 1000:.1f} ms)")
    )  # fmt: skip

    if first_only:
        return rows

    # 2. One burst of 2,000 chunks.
    conversation = bench.server.new_conversation(bench.session)
    async with await bench.socket(conversation) as sock:
        cpu = bench.cpu()
        started = time.perf_counter()
        result = await bench.stream(sock, "[sim words=2000 delay=0 ttft=0]", 2000)
        elapsed = time.perf_counter() - started
        cpu = bench.cpu() - cpu
    rows.append(
        ("burst of 2,000 chunks",
         f"{2000 / elapsed:,.0f} chunks/s, {result['frames']} frames, "
         f"{cpu / 2:.3f} server CPU-s per 1,000 chunks, {'whole' if not result['error'] else result['error']}")
    )  # fmt: skip

    # 3. Concurrent streams at 50 tokens/s.
    words = 60 if quick else 100
    for count in (50, 200):
        conversations = [bench.server.new_conversation(bench.session) for _ in range(count)]
        sockets = [await bench.socket(c, i) for i, c in enumerate(conversations)]
        cpu = bench.cpu()
        results = await asyncio.gather(
            *(
                bench.stream(s, f"[sim words={words} delay=20 ttft=0 stamp]", words)
                for s in sockets
            ),
            return_exceptions=True,
        )
        cpu = bench.cpu() - cpu
        for sock in sockets:
            await sock.close()
        ok = [r for r in results if isinstance(r, dict) and not r["error"]]
        errors = len(results) - len(ok)
        kinds = Counter(r["error"] if isinstance(r, dict) else type(r).__name__ for r in results)
        kinds.pop(None, None)
        firsts = [r["first"] for r in ok]
        lags = [lag for r in ok for lag in r["lags"]]
        rows.append(
            (f"{count} concurrent streams, 50 tok/s",
             f"first delta p50 {statistics.median(firsts) * 1000:.0f} ms p99 {pct(firsts, 0.99) * 1000:.0f} ms; "
             f"added lag p50 {pct(lags, 0.5) * 1000:.0f} ms p99 {pct(lags, 0.99) * 1000:.0f} ms; "
             f"errors or lost/duplicated {errors}{' ' + str(dict(kinds)) if kinds else ''}; "
             f"server CPU {cpu:.1f} s; "
             f"stored whole {bench.stored_whole(conversations, words)}/{count}"
             if ok else f"all {errors} failed: {results[:1]}")
        )  # fmt: skip
    peak = max(peak_rss_mib(server.process.pid) for server in bench.servers)
    rows.append(("server peak resident memory (per process)", f"{peak:.0f} MiB"))
    return rows


def other_figures() -> list[tuple[str, str]]:
    """Database writes for a 1,000-token reply, and the first-load weight of the pages."""
    rows = []
    writes = subprocess.run(
        [sys.executable, "bench/db_writes.py"], cwd=ROOT, capture_output=True, text=True
    )
    for line in writes.stdout.splitlines():
        if "database writes:" in line:
            rows.append(("database writes, 1,000-token reply", line.split(":", 1)[1].strip()))
    weight = subprocess.run(
        [sys.executable, "bench/page_weight.py"], cwd=ROOT, capture_output=True, text=True
    )
    for line in weight.stdout.splitlines():
        if " KB in " in line:
            label, figure = line.strip().split("  ", 1)
            rows.append((f"first load of {label}, empty cache", figure.strip()))
    if not weight.stdout.strip():
        rows.append(("first load of the pages", f"not measured: {weight.stderr.strip()[-200:]}"))
    return rows


@contextmanager
def app_on_mock_upstream(
    scaled: bool, name: str
) -> Iterator[tuple[list[LiveServer], subprocess.Popen, str]]:
    """The mock upstream in its own process and the app on it: one daphne on SQLite, or
    (scaled) two on PostgreSQL and Redis, with plan limits lifted, and the sockets
    and frames one person may hold and send (these runs measure holding up, not quotas). Yields the servers, the upstream process and the setup in
    words."""
    if scaled and (reason := services.unavailable()):
        sys.exit(f"--services needs PostgreSQL and Redis: {reason}")
    port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, "-m", "webchat.simulator", "--port", str(port), "--ttft-ms", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    app = {
        "GROK_SIMULATOR": "off",
        "GROK_API_BASE": f"http://127.0.0.1:{port}",
        # One person holds every socket of the run, and sends on all of them at once.
        "CHAT_MAX_SOCKETS_PER_PERSON": "100000",
        "CHAT_FRAME_BURST": "100000",
    }
    workdir = Path(tempfile.mkdtemp())
    with ExitStack() as stack:
        stack.callback(upstream.terminate)
        if scaled:
            redis = {
                "REDIS_URL": f"{services.REDIS_URL}/5",
                "REDIS_PREFIX": f"{name}-{uuid.uuid4().hex[:6]}",
            }
            servers = list(
                stack.enter_context(two_processes(workdir, f"webchat_{name}", **app, **redis))
            )
            setup = "two daphne processes, PostgreSQL, Redis"
        else:
            servers = [LiveServer(workdir, **app)]
            stack.callback(servers[0].stop)
            servers[0].start()
            setup = "one daphne process, SQLite, in-memory channel layer"
        servers[0].query(
            "UPDATE webchat_plan SET requests_per_minute = 1000000, concurrent_generations = 1000, "
            "tokens_per_day = 2000000000, tokens_per_month = 2000000000"
        )
        yield servers, upstream, setup


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="fewer runs, shorter replies")
    parser.add_argument(
        "--services", action="store_true", help="two daphne processes on PostgreSQL and Redis"
    )
    parser.add_argument(
        "--first", action="store_true", help="only the first delta added (a quick A/B)"
    )
    args = parser.parse_args()
    with app_on_mock_upstream(args.services, "bench") as (servers, upstream, setup):
        session = servers[0].sign_up(f"bench{time.time_ns()}")
        upstream_cpu = cpu_seconds(upstream.pid)
        upstream_url = servers[0].env["GROK_API_BASE"]
        rows = asyncio.run(run(Bench(servers, upstream_url, session), args.quick, args.first))
        rows.append(
            (
                "mock upstream CPU for all of the above",
                f"{cpu_seconds(upstream.pid) - upstream_cpu:.1f} s",
            )
        )
    if not args.quick and not args.services and not args.first:
        rows += other_figures()
    width = max(len(name) for name, _ in rows)
    print(f"webchat streaming benchmark ({'quick' if args.quick else 'full'}): {setup}")
    for name, value in rows:
        print(f"  {name:<{width}}  {value}")


if __name__ == "__main__":
    main()
