"""Database writes for one 1,000-token reply, streamed at 50 tokens/s through the consumer.

Runs the app in-process on a temporary SQLite file with the simulator on a loopback port,
counts every INSERT/UPDATE/DELETE that reaches the database while the reply streams, and
prints them by kind.

    python bench/db_writes.py [--tokens 1000] [--delay-ms 20]
"""

import argparse
import asyncio
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import django_on_a_scratch_database  # noqa: E402

django_on_a_scratch_database()

from asgiref.sync import sync_to_async  # noqa: E402
from channels.testing import WebsocketCommunicator  # noqa: E402
from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db.backends.signals import connection_created  # noqa: E402
from django.test import Client  # noqa: E402

from conversations.models import Conversation  # noqa: E402
from webchat.asgi import application  # noqa: E402
from webchat.models import User  # noqa: E402
from webchat.simulator import Simulator  # noqa: E402

writes: Counter[str] = Counter()
statements = 0  # every statement, reads included
counting = False


def count_writes(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
    global statements
    if counting:
        statements += 1
        verb = sql.lstrip().split(" ", 1)[0].upper()
        if verb in ("INSERT", "UPDATE", "DELETE"):
            table = sql.split('"')[1] if '"' in sql else "?"
            writes[f"{verb} {table}"] += 1
    return execute(sql, params, many, context)


def instrument(sender, connection, **kwargs):  # type: ignore[no-untyped-def]
    connection.execute_wrappers.append(count_writes)


async def main(tokens: int, delay_ms: float) -> None:
    global counting
    sim = Simulator()
    settings.GROK_API_BASE = await sim.start()
    connection_created.connect(instrument)
    await sync_to_async(call_command)("migrate", verbosity=0)

    def setup() -> tuple[str, str]:
        user = User.objects.create_user("bench", password="bench passphrase 1234")
        client = Client()
        client.force_login(user)
        return client.cookies["sessionid"].value, str(Conversation.objects.create(owner=user).id)

    cookie, conversation = await sync_to_async(setup)()
    communicator = WebsocketCommunicator(
        application,
        f"/ws/conversations/{conversation}/",
        headers=[
            (b"origin", b"http://localhost"),
            (b"host", b"localhost"),
            (b"cookie", f"sessionid={cookie}".encode()),
        ],
    )
    connected, code = await communicator.connect()
    assert connected, f"the socket was refused ({code})"
    counting = True
    started = time.perf_counter()
    prompt = f"[sim words={tokens} delay={delay_ms} ttft=0]"
    await communicator.send_to(text_data=json.dumps({"type": "send", "content": prompt}))
    frames = Counter()
    while True:
        frame = json.loads(await communicator.receive_from(timeout=tokens * delay_ms / 1000 + 30))
        frames[frame["type"]] += 1
        if frame["type"] == "done":
            break
    elapsed = time.perf_counter() - started
    await asyncio.sleep(0.2)
    counting = False
    await communicator.disconnect()
    await sim.close()
    print(f"one reply of {tokens} tokens at {1000 / delay_ms:.0f} tokens/s, {elapsed:.1f} s")
    print(f"  frames to the browser: {dict(frames)}")
    print(f"  database statements: {statements} (BEGIN and COMMIT not counted)")
    print(f"  database writes: {sum(writes.values())}")
    for kind, count in sorted(writes.items()):
        print(f"    {count:4d}  {kind}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tokens", type=int, default=1000)
    parser.add_argument("--delay-ms", type=float, default=20)
    args = parser.parse_args()
    asyncio.run(main(args.tokens, args.delay_ms))
