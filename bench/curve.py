"""How cost grows with work: the same burst at 1, 10, 25, 50, 100, 200 and 400 streams.

At each level, that many sockets (one conversation each, already open) send at the same
instant; the simulator answers each with 60 stamped words at 50 words/s. For each level it
prints the server CPU per reply, the first delta's p50 and p99, the lag p99 of every word
behind the moment the upstream sent it (and of each tenth of a reply's words), and the
errors (a lost, repeated or reordered word is one). First, the memory an idle open socket costs.

    python bench/curve.py [--services] [--levels 1,10,25] [--people N] [--json FILE] [--svg FILE]
                          [--profile DIR]

With --profile DIR, py-spy (installed apart: `pip install py-spy`) samples the first
process during each burst alone, not while its sockets are opened, and writes the samples
as collapsed stacks to DIR/level-<N>-<streams>.txt.

With --services, two daphne processes on PostgreSQL and Redis take the sockets in turn.
With --people N, the sockets belong to N people in turn (one by default, whose row every
send locks).
`--svg` draws the curves of one or more `--json` results (`--plot a.json b.json`), so one
chart holds both setups: that is how docs/curve.svg is made.
"""

import argparse
import asyncio
import json
import shutil
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.streams import Bench, app_on_mock_upstream, pct, peak_rss_mib  # noqa: E402

LEVELS = (1, 10, 25, 50, 100, 200, 400)
WORDS = 60
IDLE_SOCKETS = 1000


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


async def level(bench: Bench, count: int, people: list[str], profile: Path | None = None) -> dict:
    owners = [people[i % len(people)] for i in range(count)]
    conversations = [bench.server.new_conversation(owner) for owner in owners]
    sockets = [await bench.socket(c, i, owners[i]) for i, c in enumerate(conversations)]
    spy = sampling(bench.server.process.pid, profile) if profile else None
    cpu = bench.cpu()
    prompt = f"[sim words={WORDS} delay=20 ttft=0 stamp]"
    stalls: list[float] = []
    watch = asyncio.create_task(client_stalls(stalls))
    results = await asyncio.gather(
        *(bench.stream(s, prompt, WORDS) for s in sockets), return_exceptions=True
    )
    watch.cancel()
    cpu = bench.cpu() - cpu
    if spy:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it sampled, and ends
        spy.wait()
    for sock in sockets:
        await sock.close()
    ok = [r for r in results if isinstance(r, dict) and not r["error"]]
    firsts = sorted(r["first"] for r in ok)
    lags = [lag for r in ok for lag in r["lags"]]
    # The lag p99 of each tenth of a reply's words: where in a reply the tail is.
    tenths = [[lag for r in ok for lag in r["lags"][t * WORDS // 10 : (t + 1) * WORDS // 10]]
              for t in range(10)]  # fmt: skip
    return {
        "streams": count,
        "cpu_ms_per_reply": cpu / count * 1000,
        "first_p50_ms": statistics.median(firsts) * 1000 if firsts else None,
        "first_p99_ms": pct(firsts, 0.99) * 1000 if firsts else None,
        "lag_p99_ms": pct(lags, 0.99) * 1000 if lags else None,
        "lag_p99_ms_by_tenth": [round(pct(t, 0.99) * 1000) if t else None for t in tenths],
        "errors": count - len(ok),
        # Frames a reply sends each socket: its deltas, and ack, start and done.
        "frames_per_reply": statistics.mean(r["frames"] for r in ok) + 3 if ok else None,
        "stored_whole": bench.stored_whole(conversations, WORDS),
        # This benchmark's own event loop, late to wake: a word read late by the client
        # counts in its lag, though the server sent it in time.
        "client_stall_p99_ms": pct(stalls, 0.99) * 1000 if stalls else None,
        "client_stall_max_ms": max(stalls) * 1000 if stalls else None,
    }


async def client_stalls(out: list[float], every: float = 0.005) -> None:
    """How late this process's event loop wakes from each of its sleeps, into `out`."""
    loop = asyncio.get_running_loop()
    while True:
        started = loop.time()
        await asyncio.sleep(every)
        out.append(loop.time() - started - every)


def sampling(pid: int, out: Path) -> subprocess.Popen:
    """py-spy sampling every thread of `pid` into `out` until it is interrupted."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    command = [spy, "record", "-p", str(pid), "--threads", "-r", "200", "-f", "raw"]
    process = subprocess.Popen([*command, "-o", str(out)], stdout=subprocess.DEVNULL)
    time.sleep(0.5)  # attached
    return process


async def idle_socket_kib(bench: Bench) -> float:
    """Resident memory per idle open socket, on the first process."""
    pid = bench.server.process.pid
    conversations = [bench.server.new_conversation(bench.session) for _ in range(IDLE_SOCKETS)]
    before = rss_kib(pid)
    sockets = [await bench.socket(c) for c in conversations]
    await asyncio.sleep(1)
    after = rss_kib(pid)
    for sock in sockets:
        await sock.close()
    return (after - before) / IDLE_SOCKETS


async def run(
    bench: Bench, levels: list[int], people: list[str], profile: Path | None = None
) -> dict:
    # Warm: the first send of a process pays for imports and connections.
    warm = await bench.socket(bench.server.new_conversation(bench.session))
    await bench.stream(warm, "[sim words=3 delay=1 ttft=0]", 3)
    await warm.close()
    idle = await idle_socket_kib(bench)  # first: later levels leave memory to reuse
    rows = []
    for n, count in enumerate(levels, 1):
        out = profile / f"level-{n}-{count}.txt" if profile else None
        rows.append(await level(bench, count, people, out))
        row = rows[-1]
        print(
            f"  {count:>4} streams: {row['cpu_ms_per_reply']:6.1f} CPU-ms/reply, first delta "
            f"p50 {row['first_p50_ms'] or 0:7.0f} ms p99 {row['first_p99_ms'] or 0:7.0f} ms, "
            f"lag p99 {row['lag_p99_ms'] or 0:5.0f} ms, {row['frames_per_reply'] or 0:.0f} frames a reply, "
            f"errors {row['errors']}, "
            f"stored whole {row['stored_whole']}/{count}",
            flush=True,
        )
        print(f"         lag p99 by tenth of a reply, ms: {row['lag_p99_ms_by_tenth']}", flush=True)
        print(
            f"         this benchmark's own loop late to wake: p99 "
            f"{row['client_stall_p99_ms'] or 0:.0f} ms, at most {row['client_stall_max_ms'] or 0:.0f} ms",
            flush=True,
        )
        await asyncio.sleep(1)  # the last replies' saves
    return {"levels": rows, "idle_socket_kib": idle}


# --- The chart -------------------------------------------------------------------------------
COLOURS = ("#2563eb", "#dc2626", "#059669", "#d97706")
# Each panel: its title, the figures drawn (solid, then dashed), and a log scale or not.
PANELS = (
    ("first delta p50 (solid), p99 (dashed), ms", ("first_p50_ms", "first_p99_ms"), True),
    ("lag per word p99, ms", ("lag_p99_ms",), False),
    ("server CPU per reply, ms", ("cpu_ms_per_reply",), False),
)


def svg(results: list[dict]) -> str:
    """Three panels side by side, streams on a log axis, one line per setup."""
    import math

    width, height, pad = 300, 220, 44
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width * 3}" height="{height + 40}" '
        'font-family="sans-serif" font-size="11">',
        f'<rect width="{width * 3}" height="{height + 40}" fill="#fff"/>',
    ]
    streams = sorted({row["streams"] for r in results for row in r["levels"]})
    xs = [math.log10(s) for s in streams]

    def x(panel: int, count: int) -> float:
        span = (max(xs) - min(xs)) or 1
        return panel * width + pad + (math.log10(count) - min(xs)) / span * (width - pad - 12)

    for panel, (title, keys, log) in enumerate(PANELS):
        values = [row[k] for r in results for row in r["levels"] for k in keys if row[k]]
        top = max(values) * 1.1 if values else 1
        left = panel * width + pad

        def y(value: float, top: float = top, log: bool = log) -> float:
            # On a log scale, 1 ms at the bottom and a decade a step.
            share = math.log10(max(value, 1)) / math.log10(top) if log else value / top
            return 20 + (1 - share) * (height - 40)

        out.append(f'<text x="{left}" y="12" font-weight="bold">{title}</text>')
        out.append(
            f'<line x1="{left}" y1="{y(0)}" x2="{left + width - pad - 12}" y2="{y(0)}" stroke="#888"/>'
        )
        out.append(f'<line x1="{left}" y1="20" x2="{left}" y2="{y(0)}" stroke="#888"/>')
        ticks = [10**k for k in range(int(math.log10(top)) + 1)] if log else None
        for value in ticks or [top * tick / 4 for tick in range(5)]:
            out.append(
                f'<text x="{left - 4}" y="{y(value) + 4}" text-anchor="end">{value:,.0f}</text>'
            )
        for count in streams:
            out.append(
                f'<text x="{x(panel, count)}" y="{y(0) + 14}" text-anchor="middle">{count}</text>'
            )
        if panel == 0 and top > 150:
            out.append(
                f'<line x1="{left}" y1="{y(150)}" x2="{left + width - pad - 12}" y2="{y(150)}" '
                'stroke="#999" stroke-dasharray="2,3"/>'
                f'<text x="{left + width - pad - 14}" y="{y(150) - 3}" text-anchor="end" '
                'fill="#666">150 ms</text>'
            )
        for index, result in enumerate(results):
            colour = COLOURS[index % len(COLOURS)]
            for style, key in zip(("", ' stroke-dasharray="5,3"'), keys, strict=False):
                points = " ".join(
                    f"{x(panel, row['streams']):.1f},{y(row[key]):.1f}"
                    for row in result["levels"]
                    if row[key] is not None
                )
                out.append(
                    f'<polyline points="{points}" fill="none" stroke="{colour}" '
                    f'stroke-width="2"{style}/>'
                )
    for index, result in enumerate(results):
        colour = COLOURS[index % len(COLOURS)]
        out.append(
            f'<text x="{pad + index * 320}" y="{height + 30}" fill="{colour}">'
            f"■ {result['setup']}</text>"
        )
    out.append(
        f'<text x="{width * 3 - 12}" y="{height + 30}" text-anchor="end" fill="#666">'
        "streams sent at the same instant (log scale)</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--services", action="store_true", help="two daphnes, PostgreSQL, Redis")
    parser.add_argument("--levels", default=",".join(map(str, LEVELS)))
    parser.add_argument(
        "--people", type=int, default=1, help="spread each level's sockets over this many people"
    )
    parser.add_argument("--json", help="write the figures to this file")
    parser.add_argument("--plot", nargs="+", help="draw these --json results as one chart")
    parser.add_argument("--svg", help="where --plot writes the chart")
    parser.add_argument("--profile", type=Path, help="py-spy each burst into this folder")
    args = parser.parse_args()
    if args.plot:
        results = [json.loads(Path(p).read_text()) for p in args.plot]
        Path(args.svg or "curve.svg").write_text(svg(results))
        return
    levels = [int(n) for n in args.levels.split(",")]
    if args.people < 1:
        parser.error("--people must be 1 or more")
    with app_on_mock_upstream(args.services, "curve") as (servers, _upstream, setup):
        print(f"webchat concurrency curve: {setup}, {WORDS} words a reply at 50 words/s")
        people = [servers[0].sign_up(f"curve{time.time_ns()}") for _ in range(args.people)]
        bench = Bench(servers, servers[0].env["GROK_API_BASE"], people[0])
        if args.profile:
            args.profile.mkdir(parents=True, exist_ok=True)
        result = asyncio.run(run(bench, levels, people, args.profile))
        result["setup"] = setup
        result["peak_mib"] = max(peak_rss_mib(s.process.pid) for s in servers)
    print(f"  idle open socket: {result['idle_socket_kib']:.0f} KiB resident")
    print(f"  peak resident memory per process: {result['peak_mib']:.0f} MiB")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
