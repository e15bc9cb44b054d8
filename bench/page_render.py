"""A 200-message conversation page, its replies' HTML stored vs rendered on every view.

Runs the app in-process on a temporary SQLite file: a conversation of 100 questions and
100 replies written the way a model writes (paragraphs, lists, a table, code, math), then
GET /c/<id>/ many times with each reply's rendering as stored when it ended, and as many
times with the stored rendering set aside (as every view did before it was stored).
Prints milliseconds per view (median and p90) and the ratio, and what rendering one
reply costs (this one, and 60 plain words as the simulator writes), as a reply's end pays.

    python bench/page_render.py [--views 30]
"""

import argparse
import statistics
import sys
import time
import timeit
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import django_on_a_scratch_database  # noqa: E402

django_on_a_scratch_database(DEBUG="false", ALLOWED_HOSTS="testserver")

from django.conf import settings  # noqa: E402

# Static files from the finders (the page's <script> tags), not a collected manifest.
settings.STORAGES = {
    **settings.STORAGES,
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

from django.core.management import call_command  # noqa: E402
from django.test import Client  # noqa: E402

from conversations import render  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402
from webchat.models import User  # noqa: E402

REPLY = """Here is how I would approach it.

1. **Measure first**: the slow part is rarely where you expect.
2. Then change *one* thing at a time, and keep what helps.

| option | cost | speed |
|:--|--:|:-:|
| cache | low | fast |
| index | medium | faster |

The growth is $O(n \\log n)$, and the expected cost is

$$E[X] = \\sum_{i=1}^{n} p_i x_i$$

```python
def median(values: list[float]) -> float:
    ordered = sorted(values)
    middle = len(ordered) // 2
    return (ordered[middle - 1] + ordered[middle]) / 2 if len(ordered) % 2 == 0 else ordered[middle]
```

See https://docs.python.org/3/library/statistics.html for the library's own.
"""


def build() -> tuple[Client, Conversation]:
    call_command("migrate", verbosity=0)
    user = User.objects.create_user("reader", password="a long enough passphrase 42")
    conversation = Conversation.objects.create(owner=user, title="long")
    parent = None
    for i in range(100):
        question = Message.objects.create(
            conversation=conversation, parent=parent, role="user", content=f"Question {i}?"
        )
        parent = Message.objects.create(
            conversation=conversation,
            parent=question,
            role="assistant",
            content=REPLY,
            model="grok-3",
            rendered=render.render_markdown(REPLY),
            rendered_version=render.VERSION,
        )
    conversation.current_leaf = parent
    conversation.save()
    client = Client()
    client.force_login(user)
    return client, conversation


def views(client: Client, url: str, count: int, stale: Conversation | None = None) -> list[float]:
    """Milliseconds per view; with `stale`, its stored renderings set aside before each
    (a view stores what it renders)."""
    client.get(url)  # warm
    times = []
    for _ in range(count):
        if stale is not None:
            Message.objects.filter(conversation=stale).update(rendered_version=0)
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200 and response.content.count(b"<math") >= 200
    return times


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--views", type=int, default=30)
    args = parser.parse_args()
    client, conversation = build()
    url = f"/c/{conversation.id}/"
    stored = views(client, url, args.views)
    rendered = views(client, url, args.views, stale=conversation)

    def line(label: str, times: list[float]) -> str:
        p90 = statistics.quantiles(times, n=10)[-1]
        return f"  {label:28} {statistics.median(times):7.1f} ms median, {p90:7.1f} ms p90"

    print(f"GET of a 200-message conversation page ({args.views} views each)")
    print(line("rendered on every view", rendered))
    print(line("stored when the reply ended", stored))
    print(f"  ratio: {statistics.median(rendered) / statistics.median(stored):.1f}x faster")
    words = " ".join(f"word{i}" for i in range(60))
    for label, text in (("this reply", REPLY), ("60 plain words", words)):
        best = min(timeit.repeat(lambda t=text: render.render_markdown(t), number=200, repeat=5))
        print(f"  one reply rendered, {label}: {best / 200 * 1000:.3f} ms")


if __name__ == "__main__":
    main()
