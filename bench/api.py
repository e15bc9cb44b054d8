"""What the API (/v1/chat/completions) adds over calling the upstream directly.

The upstream is the simulator in its own process, answering at once (TTFT 0, no pause
between words); the app is served as `make run` serves it (one daphne, SQLite). The same
request goes to both, alternating, over kept-alive connections:

- time to the first chunk: through the API minus direct, p50 and p95;
- server CPU per 1,000 chunks: a stream of 2,000 words through the API (one chunk each),
  the daphne process's CPU time over the chunks the client received.

    python bench/api.py [--samples 60]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from streams import cpu_seconds, pct  # noqa: E402

from tests.live import LiveServer, free_port  # noqa: E402


def first_chunk(http: httpx.Client, url: str, body: dict, headers: dict) -> tuple[float, int]:
    """Seconds to the first chunk with text, and the chunks with text in all."""
    started = time.perf_counter()
    first, chunks = 0.0, 0
    with http.stream("POST", url, json=body, headers=headers) as response:
        assert response.status_code == 200, response.read()[:300]
        for line in response.iter_lines():
            if not line.startswith("data: {"):
                continue
            choices = json.loads(line[6:]).get("choices") or [{}]
            if choices[0].get("delta", {}).get("content"):
                chunks += 1
                if chunks == 1:
                    first = time.perf_counter() - started
    return first, chunks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=60)
    args = parser.parse_args()
    port = free_port()
    upstream = f"http://127.0.0.1:{port}"
    simulator = subprocess.Popen(
        [sys.executable, "-m", "webchat.simulator", "--port", str(port), "--ttft-ms", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    server = LiveServer(Path(tempfile.mkdtemp()), GROK_SIMULATOR="off", GROK_API_BASE=upstream)
    try:
        server.start()
        server.sign_up("bench")
        server.query(
            "UPDATE webchat_plan SET requests_per_minute = 100000, tokens_per_day = 2000000000, "
            "tokens_per_month = 2000000000"
        )
        key = server.api_key("bench")
        auth = {"Authorization": f"Bearer {key}"}
        short = {
            "model": "grok-3",
            "messages": [{"role": "user", "content": "[sim words=5 delay=0 ttft=0] hi"}],
            "stream": True,
        }
        api, direct = [], []
        with httpx.Client(timeout=60) as http:
            for n in range(args.samples + 5):  # the first five warm both paths up
                through = first_chunk(http, f"{server.url}/v1/chat/completions", short, auth)[0]
                straight = first_chunk(http, f"{upstream}/chat/completions", short, {})[0]
                if n >= 5:
                    api.append(through)
                    direct.append(straight)
            long = {
                **short,
                "messages": [{"role": "user", "content": "[sim words=2000 delay=0 ttft=0] go"}],
                "max_tokens": 8000,
            }
            per_thousand = []
            for _ in range(5):
                cpu = cpu_seconds(server.process.pid)
                _, chunks = first_chunk(http, f"{server.url}/v1/chat/completions", long, auth)
                per_thousand.append((cpu_seconds(server.process.pid) - cpu) / chunks * 1000)
    finally:
        server.stop()
        simulator.terminate()
    added = [a - d for a, d in zip(sorted(api), sorted(direct), strict=True)]
    print("The API over a direct client (simulator upstream, TTFT 0)")
    print(
        f"  first chunk added  p50 {statistics.median(added) * 1000:.1f} ms, "
        f"p95 {pct(added, 0.95) * 1000:.1f} ms "
        f"(direct {statistics.median(direct) * 1000:.1f} ms, "
        f"API {statistics.median(api) * 1000:.1f} ms; {len(added)} calls)"
    )
    print(
        f"  server CPU         {statistics.median(per_thousand):.3f} CPU-s per 1,000 chunks "
        f"(median of 5 streams of 2,000; {min(per_thousand):.3f} to {max(per_thousand):.3f})"
    )


if __name__ == "__main__":
    main()
