"""Load and soak: many people chatting at once for minutes, checked for every word.

Each simulated person has an account and a live socket on a conversation, and sends a
message, reads the reply to its end, pauses, and sends again; after ten exchanges they start
a new conversation, until the time is up. The upstream is the simulator in its own process,
which stamps every word with the moment it sent it.

Checked, and the run fails (exit 1) otherwise:
- no error frame, no refused send, no broken socket;
- every reply arrives whole, in order, without a gap in `seq` or a repeated word;
- every reply is stored complete, and the ledger holds exactly one settled row per reply
  whose completion tokens add up to the words received;
- the server's resident memory is flat after warm-up (the last fifth of the samples within
  15% and 24 MiB of the samples at the end of the first fifth).

    python bench/soak.py [--users 100] [--minutes 10] [--services]
"""

import argparse
import asyncio
import json
import random
import re
import statistics
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import websockets

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.streams import app_on_mock_upstream, cpu_seconds, pct  # noqa: E402
from tests.live import LiveServer  # noqa: E402

WORDS = 60  # per reply, at 50 words/s
EXCHANGES = 10  # per conversation
REQUEST_ID = re.compile(r"\[[^]]*\] ")  # in a log line, after the logger's name
KINDS_SHOWN = 12  # of failures, and of the server's complaints, when a run fails


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


class Tally:
    def __init__(self) -> None:
        self.replies = 0
        self.words = 0
        self.failures: list[str] = []
        self.when: list[float] = []  # seconds into the run, one per failure
        self.started = time.monotonic()
        self.firsts: list[float] = []
        self.lags: list[float] = []
        self.conversations: list[str] = []

    def fail(self, problem: str) -> None:
        self.failures.append(problem)
        self.when.append(time.monotonic() - self.started)

    def failure_summary(self) -> list[str]:
        """Each kind of failure once: how often, and from when to when in the run."""
        kinds: dict[str, list[float]] = {}
        for problem, at in zip(self.failures, self.when, strict=True):
            kinds.setdefault(problem, []).append(at)
        common = sorted(kinds.items(), key=lambda item: -len(item[1]))[:KINDS_SHOWN]
        return [
            f"{len(times)} times between {min(times):.0f} s and {max(times):.0f} s: {problem}"
            for problem, times in common
        ]


async def person(server: LiveServer, session: str, deadline: float, tally: Tally) -> None:
    """One person: a few exchanges in a conversation, then a new one, until the time is up
    (conversations that grew for ever would make every prompt, and the memory, grow)."""
    await asyncio.sleep(random.uniform(0, 3))  # people do not all start at once
    while time.monotonic() < deadline:
        conversation = await asyncio.to_thread(server.new_conversation, session)
        tally.conversations.append(conversation)
        async with websockets.connect(
            server.socket_url(conversation),
            additional_headers={"Cookie": f"sessionid={session}", "Origin": server.url},
            max_size=None,
        ) as sock:
            for _ in range(EXCHANGES):
                if time.monotonic() >= deadline:
                    break
                await exchange(sock, tally)
                await asyncio.sleep(random.uniform(1.0, 3.0))  # reading, then typing


async def exchange(sock: Any, tally: Tally) -> None:
    """Send one message and read its reply to the end, checking every word."""
    sent = time.perf_counter()
    await sock.send(json.dumps({"type": "send", "content": f"[sim words={WORDS} delay=20 stamp]"}))
    seq, words, first = 0, [], None
    while True:
        frame = json.loads(await asyncio.wait_for(sock.recv(), 60))
        if frame["type"] == "error":
            tally.fail(f"error {frame['code']}: {frame['message']}")
            break
        if frame["type"] == "delta":
            wall = time.time()
            first = first or time.perf_counter() - sent
            if frame["seq"] != seq + 1:
                tally.fail(f"gap: seq {seq} then {frame['seq']}")
            seq = frame["seq"]
            for word in frame["content"].split():
                tally.lags.append(wall - float(word))
                words.append(float(word))
        if frame["type"] == "done":
            if frame["status"] != "complete":
                tally.fail(f"reply ended {frame['status']}")
            break
    if len(words) != WORDS or words != sorted(set(words)):
        tally.fail(f"reply of {len(words)} words, not {WORDS} in order")
    tally.replies += 1
    tally.words += len(words)
    if first is not None:
        tally.firsts.append(first)


async def sample_memory(pids: list[int], deadline: float, samples: list[float]) -> None:
    while time.monotonic() < deadline:
        samples.append(sum(rss_mib(pid) for pid in pids))
        await asyncio.sleep(5)


async def run(
    servers: list[LiveServer], users: int, minutes: float
) -> tuple[Tally, list[float], float, float]:
    """The people's chatting, and the servers' CPU-seconds and the seconds it took: their
    accounts are made first, outside both (a password's hash is most of a second's CPU)."""
    tally, memory = Tally(), []
    people = []
    for i in range(users):
        server = servers[i % len(servers)]
        people.append((server, server.sign_up(f"soak{i}-{uuid.uuid4().hex[:6]}")))
    pids = [server.process.pid for server in servers]
    cpu = sum(cpu_seconds(pid) for pid in pids)
    started = time.monotonic()
    deadline = started + minutes * 60
    sampler = asyncio.create_task(sample_memory(pids, deadline, memory))
    results = await asyncio.gather(
        *(person(*someone, deadline, tally) for someone in people), return_exceptions=True
    )
    elapsed = time.monotonic() - started
    cpu = sum(cpu_seconds(pid) for pid in pids) - cpu
    await sampler
    for result in results:
        if isinstance(result, BaseException):
            tally.fail(f"socket broke: {result!r}")
    return tally, memory, cpu, elapsed


def check_store(server: LiveServer, tally: Tally) -> list[str]:
    problems = []
    wanted = {uuid.UUID(c) for c in tally.conversations}
    rows = server.query(
        "SELECT conversation_id, status, content FROM conversations_message "
        "WHERE role = 'assistant'"
    )
    replies = [(s, c) for conv, s, c in rows if uuid.UUID(str(conv)) in wanted]
    incomplete = [s for s, c in replies if s != "complete" or len(c.split()) != WORDS]
    if len(replies) != tally.replies or incomplete:
        problems.append(
            f"{len(replies)} replies stored for {tally.replies}; {len(incomplete)} not whole"
        )
    ledger = server.query("SELECT status, completion_tokens FROM webchat_usagerecord")
    unsettled = [s for s, _ in ledger if s != "complete"]
    tokens = sum(t or 0 for _, t in ledger)
    if len(ledger) != tally.replies or unsettled or tokens != tally.words:
        problems.append(
            f"ledger: {len(ledger)} rows for {tally.replies} replies, {len(unsettled)} unsettled, "
            f"{tokens} tokens for {tally.words} words received"
        )
    return problems


def server_complaints(servers: list[LiveServer], tracebacks: int = 2) -> list[str]:
    """What the servers logged above INFO, each kind once with how often, and the first
    tracebacks: what a failed run in CI needs to be understood."""
    counts: dict[str, int] = {}
    traces: list[str] = []
    for server in servers:
        lines = server.log.read_text(errors="replace").splitlines()
        for i, line in enumerate(lines):
            parts = line.split(None, 3)
            if len(parts) < 4 or parts[2] not in ("WARNING", "ERROR", "CRITICAL"):
                continue
            # Without the request's id, which differs on every line.
            kind = parts[2] + " " + REQUEST_ID.sub("", parts[3], count=1)
            counts[kind] = counts.get(kind, 0) + 1
            if counts[kind] == 1 and len(traces) < tracebacks:
                follow = []
                for after in lines[i + 1 : i + 40]:
                    if after[:4].isdigit():  # the next timestamped line
                        break
                    follow.append(after)
                if follow:
                    traces += [line, *follow[-12:]]
    common = sorted(counts.items(), key=lambda item: -item[1])[:KINDS_SHOWN]
    return [f"{n} times: {kind}" for kind, n in common] + traces


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument("--minutes", type=float, default=10)
    parser.add_argument("--services", action="store_true", help="two daphnes, PostgreSQL, Redis")
    args = parser.parse_args()
    with app_on_mock_upstream(args.services, "soak") as (servers, _, setup):
        tally, memory, cpu, elapsed = asyncio.run(run(servers, args.users, args.minutes))
        problems = tally.failure_summary() + check_store(servers[0], tally)
        server_log = server_complaints(servers) if problems else []

    fifth = max(1, len(memory) // 5)
    warm = statistics.mean(memory[fifth - 1 : fifth + 1]) if memory else 0.0
    end = statistics.mean(memory[-fifth:]) if memory else 0.0
    if end - warm > max(24, warm * 0.15):
        problems.append(f"memory grew after warm-up: {warm:.0f} → {end:.0f} MiB")
    print(f"webchat soak: {args.users} people for {elapsed / 60:.1f} min on {setup}")
    print(
        f"  replies                {tally.replies:,} ({tally.words:,} words), {len(tally.failures)} failures"
    )
    print(
        f"  first delta            p50 {pct(tally.firsts, 0.5) * 1000:.0f} ms, p99 {pct(tally.firsts, 0.99) * 1000:.0f} ms"
    )
    print(
        f"  added lag per word     p50 {pct(tally.lags, 0.5) * 1000:.0f} ms, p99 {pct(tally.lags, 0.99) * 1000:.0f} ms"
    )
    print(
        f"  server CPU             {cpu:.0f} s ({cpu / elapsed * 100:.0f}% of one core), "
        f"{cpu / max(tally.replies, 1) * 1000:.1f} ms a reply"
    )
    print(
        f"  resident memory        {warm:.0f} MiB after warm-up, {end:.0f} MiB at the end, peak {max(memory, default=0):.0f} MiB"
    )
    minutes = " ".join(f"{m:.0f}" for m in memory[:: 60 // 5])
    print(f"  memory each minute     {minutes} MiB")
    print(
        "  stored and ledger      "
        + ("every reply whole, one settled row each" if not problems else "see below")
    )
    for problem in problems:
        print(f"  FAILED: {problem}")
    for line in server_log:
        print(f"  server: {line}")
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
