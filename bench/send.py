"""What one send costs the database's thread: `turns.begin` on a quiet process.

A send's transaction runs in the one thread every other send waits for, so its time there
bounds how many sends a process starts per second. This stores new messages in fresh
conversations (a temporary SQLite file, the app's settings), prints the statements one
send runs and the median time of a send, then the slowest functions of a profile. With
`--turns N` each conversation already holds N turns (a question and its answer each), so
the send reads that history for its prompt. With `--old-calls N` the person has made N
calls in earlier months, which the reservation's sums must not read.

    python bench/send.py [--sends 300] [--turns 0] [--old-calls 0] [--profile]
"""

import argparse
import cProfile
import pstats
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from bench.scratch import django_on_a_scratch_database  # noqa: E402

django_on_a_scratch_database(LOG_LEVEL="WARNING")

from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import CaptureQueriesContext  # noqa: E402
from django.utils import timezone  # noqa: E402

from conversations import turns  # noqa: E402
from conversations.models import Conversation, Message  # noqa: E402
from webchat import quotas  # noqa: E402
from webchat.models import Plan, UsageRecord, User  # noqa: E402


def with_history(person: User, pairs: int) -> Conversation:
    """A conversation of `pairs` questions and answers, written at once."""
    conversation = Conversation.objects.create(owner=person, title="history")
    messages, parent = [], None
    for i in range(pairs):
        for role, words in (
            ("user", "a question of some length " * 4),
            ("assistant", "an answer " * 40),
        ):
            parent = Message(
                conversation=conversation,
                parent=parent,
                role=role,
                content=f"{i} {words}",
                status=Message.Status.COMPLETE,
            )
            messages.append(parent)
    Message.objects.bulk_create(messages)
    if parent is not None:
        Conversation.objects.filter(pk=conversation.pk).update(current_leaf=parent)
    return conversation


def old_calls(person: User, calls: int) -> None:
    """`calls` settled calls, spread over the months before this one."""
    UsageRecord.objects.bulk_create(
        UsageRecord(user=person, model="grok-3", status="complete", prompt_tokens=50)
        for _ in range(calls)
    )
    start = quotas.month_start(timezone.now())
    ids = list(UsageRecord.objects.values_list("pk", flat=True))
    for months, first in enumerate(range(0, len(ids), 1000)):
        when = start - timedelta(days=30 * months + 1)
        batch = ids[first : first + 1000]
        UsageRecord.objects.filter(pk__in=batch).update(created=when, settled=when)


def main(sends: int, pairs: int, old: int, profile: bool) -> None:
    call_command("migrate", verbosity=0)
    person = User.objects.create_user("bench", password="bench passphrase 1234")
    old_calls(person, old)
    Plan.objects.update(
        requests_per_minute=10**6,
        concurrent_generations=10**6,
        tokens_per_day=2 * 10**9,
        tokens_per_month=2 * 10**9,
    )
    conversations = [with_history(person, pairs) for _ in range(2 * sends + 2)]
    request = turns.TurnRequest(content="hello there " * 5, model="grok-3")

    def send(conversation: Conversation) -> int:
        return turns.begin(conversation, request, "generation.bench").usage_record

    def settle(record: int) -> None:
        """As the reply's end does, out of the send's time: the ledger holds settled calls."""
        UsageRecord.objects.settle(
            record, status="complete", prompt_tokens=60, completion_tokens=80
        )

    send(conversations.pop())  # warm
    with CaptureQueriesContext(connection) as queries:
        send(conversations.pop())
    print(
        f"one send after {pairs} turns: {len(queries.captured_queries)} statements "
        "(with BEGIN and COMMIT)"
    )
    took = []
    for conversation in conversations[:sends]:
        started = time.perf_counter()
        record = send(conversation)
        took.append(time.perf_counter() - started)
        settle(record)
    print(f"time in the database's thread: median {statistics.median(took) * 1000:.2f} ms")
    if profile:
        profiler = cProfile.Profile()
        profiler.runcall(lambda: [send(c) for c in conversations[sends:]])
        pstats.Stats(profiler).sort_stats("tottime").print_stats(15)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--sends", type=int, default=300)
    parser.add_argument("--turns", type=int, default=0, help="turns each conversation holds")
    parser.add_argument("--old-calls", type=int, default=0, help="calls of earlier months")
    parser.add_argument("--profile", action="store_true")
    args = parser.parse_args()
    main(args.sends, args.turns, args.old_calls, args.profile)
