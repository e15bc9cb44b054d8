"""How long the page takes to show a reply, from its text to the laid-out DOM, in Chromium.

A streaming reply is shown again at every animation frame, so what one showing costs is
what the page stays busy for while it streams. Ordinary replies, and replies built to be
slow to show (thousands of list items, table rows, formulas or code spans): the page's own
renderer (static/js/render.js) on each, the median of a few showings.

    python bench/page_paint.py                  # this checkout
    python bench/page_paint.py --compare REV    # and a git revision, in the same run
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from playwright.sync_api import sync_playwright  # noqa: E402

from bench.checkouts import checkouts  # noqa: E402
from tests.live import CHROMIUM, CHROMIUM_ARGS, LiveServer  # noqa: E402

TEXTS = {
    "an ordinary reply (100 paragraphs and lists)": (
        "Some words here and *there*, with `code` and $x^2$.\n\n- one\n- two\n\n" * 100
    ),
    "a table of 4,000 rows": "|x|y|\n|-|-|\n" + "|x|y|\n" * 4000,
    "a list of 6,250 items": "- a\n" * 6250,
    "6,250 formulas in a paragraph": "$x$ " * 6250,
    "10,000 code spans in a paragraph": "`a` " * 10000,
    "5,000 task items": "- [ ] a\n" * 5000,
}

# Both the page's renderer of now (showMarkdown) and the one before it (renderMarkdown).
SHOW = """async ([texts, rounds]) => {
  const src = document.querySelector('script[type=module][src*="chat"]').src;
  const page = await import(new URL("render.js", src).href);
  await page.loadExtras();
  const host = document.createElement("div");
  host.className = "content markdown";
  document.getElementById("thread").append(host);
  const show = (text) => {
    host.replaceChildren();
    const started = performance.now();
    if (page.showMarkdown) page.showMarkdown(host, text);
    else host.innerHTML = page.renderMarkdown(text);
    host.getBoundingClientRect(); // laid out
    return performance.now() - started;
  };
  for (const text of Object.values(texts)) show(text.slice(0, 2000)); // warmed up
  const shown = {};
  for (const [name, text] of Object.entries(texts)) {
    const times = [];
    for (let round = 0; round < rounds; round++) times.push(show(text));
    shown[name] = times.sort((a, b) => a - b)[Math.floor(rounds / 2)];
  }
  return shown;
}"""


def measure(root: Path, rounds: int) -> dict[str, float]:
    server = LiveServer(Path(tempfile.mkdtemp()), root=root)
    server.start()
    try:
        session = server.sign_up(f"bench{time.monotonic_ns()}")
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            page = browser.new_context(base_url=server.url).new_page()
            page.context.add_cookies([{"name": "sessionid", "value": session, "url": server.url}])
            page.goto("/")
            shown = page.evaluate(SHOW, [TEXTS, rounds])
            browser.close()
    finally:
        server.stop()
    return shown


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=3, help="showings of each text")
    parser.add_argument("--compare", metavar="REV", help="a git revision to measure too")
    args = parser.parse_args()
    with checkouts(args.compare) as roots:
        results = {name: measure(root, args.rounds) for name, root in roots.items()}
    print("A reply's text to the laid-out page, in Chromium (median of each text's showings)")
    names = list(results)
    print(f"  {'':46}" + "".join(f"{name:>16}" for name in names))
    for text in TEXTS:
        print(f"  {text:46}" + "".join(f"{results[n][text]:13.0f} ms" for n in names))


if __name__ == "__main__":
    main()
