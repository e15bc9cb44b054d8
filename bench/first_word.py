"""From Enter to the first word of the reply on screen, measured in the page.

In Chromium, `performance.now()` is read when Enter goes down in the composer and again
when the first character of the reply is in the DOM (a MutationObserver on the thread).
The upstream is the simulator in its own process, answering at once (TTFT 0), so what is
measured is webchat: the socket, the send transaction, the generation, the page.

    python bench/first_word.py                  # this checkout
    python bench/first_word.py --compare REV    # and a git revision, in the same run

With --compare, both are served in turn from the same machine state, several rounds
alternating, and the ratio of the medians is printed: the only figure worth comparing on
a shared, noisy machine.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.checkouts import checkouts  # noqa: E402
from tests.live import CHROMIUM, CHROMIUM_ARGS, LiveServer, free_port  # noqa: E402

ARM = """() => {
  window.firstWord = null;
  const prompt = document.getElementById("prompt");
  prompt.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && !event.shiftKey) window.sentAt = performance.now();
  }, { capture: true, once: true });
  const thread = document.getElementById("thread");
  const before = new Set([...thread.querySelectorAll("article.message.assistant")]);
  const observer = new MutationObserver(() => {
    for (const article of thread.querySelectorAll("article.message.assistant")) {
      if (before.has(article)) continue;
      if (article.querySelector(".content").textContent.trim()) {
        window.firstWord = performance.now() - window.sentAt;
        observer.disconnect();
        return;
      }
    }
  });
  observer.observe(thread, { childList: true, subtree: true, characterData: true });
}"""


def measure(server: LiveServer, samples: int) -> list[float]:
    session = server.sign_up(f"bench{time.monotonic_ns()}")
    server.query("UPDATE webchat_plan SET requests_per_minute = 100000")
    times: list[float] = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_context(base_url=server.url).new_page()
        page.context.add_cookies([{"name": "sessionid", "value": session, "url": server.url}])
        page.goto(f"/c/{server.new_conversation(session)}/")
        for n in range(samples + 2):  # the first two warm the path up
            page.evaluate(ARM)
            page.fill("#prompt", f"question {n} [sim words=5 delay=0 ttft=0]")
            page.press("#prompt", "Enter")
            page.wait_for_function("() => window.firstWord !== null")
            first = page.evaluate("() => window.firstWord")
            page.wait_for_function(
                "() => !document.querySelector('article.message.assistant[data-status=\"streaming\"]')"
            )
            if n >= 2:
                times.append(first)
        browser.close()
    return times


def serve(root: Path, upstream: str) -> LiveServer:
    server = LiveServer(
        Path(tempfile.mkdtemp()), root=root, GROK_SIMULATOR="off", GROK_API_BASE=upstream
    )
    server.start()
    return server


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]
    return f"p50 {statistics.median(times):6.1f} ms, p95 {p95:6.1f} ms ({len(times)} sends)"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--samples", type=int, default=30, help="sends per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compare", metavar="REV", help="a git revision to measure too")
    args = parser.parse_args()

    port = free_port()
    simulator = subprocess.Popen(
        [sys.executable, "-m", "webchat.simulator", "--port", str(port), "--ttft-ms", "0"],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
    )
    try:
        with checkouts(args.compare) as roots:
            results: dict[str, list[float]] = {name: [] for name in roots}
            time.sleep(0.5)
            servers = {
                name: serve(root, f"http://127.0.0.1:{port}") for name, root in roots.items()
            }
            try:
                for _ in range(args.rounds):
                    for name, server in servers.items():
                        results[name] += measure(server, args.samples)
            finally:
                for server in servers.values():
                    server.stop()
    finally:
        simulator.terminate()
    print("Enter → first word of the reply on screen (Chromium, upstream TTFT 0)")
    for name, times in results.items():
        print(f"  {name:15} {summary(times)}")
    if args.compare:
        ratio = statistics.median(results["this checkout"]) / statistics.median(
            results[args.compare]
        )
        print(f"  ratio of medians, this checkout / {args.compare}: {ratio:.2f}")


if __name__ == "__main__":
    main()
