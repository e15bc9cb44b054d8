"""Many sends by one person at once, near the limit: nobody spends past it.

Real concurrency: each thread has its own database connection, and they all reserve at
the same moment (a barrier). Runs on SQLite (a file, IMMEDIATE transactions) and, in the
services pass, on PostgreSQL (a row lock on the person).

Only the PostgreSQL pass guards the row lock in `UsageRecord.objects.reserve`: on SQLite
every write transaction takes the database's one write lock when it begins, so the
reservations queue with or without `select_for_update` (which SQLite ignores), and this
test passes either way there. Removing the lock fails it on PostgreSQL (checked).
"""

import random
import threading

import pytest
from django.db import connection

from webchat.errors import QuotaError
from webchat.models import ChatModel, Plan, UsageRecord, User

pytestmark = pytest.mark.django_db(transaction=True)

THREADS = 16
LIMIT = 20_000
PROMPT, MAX_TOKENS = 500, 2_000  # a reservation holds 2,500: eight fit in the limit


def reserve_at_once(user: User, model: ChatModel) -> tuple[list[UsageRecord], list[str]]:
    """THREADS reservations released together; (granted, refusal codes)."""
    barrier = threading.Barrier(THREADS)
    granted: list[UsageRecord] = []
    refused: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def send() -> None:
        try:
            barrier.wait()
            record = UsageRecord.objects.reserve(
                user=user, chat_model=model, prompt_tokens=PROMPT, max_tokens=MAX_TOKENS, n=1
            )
            with lock:
                granted.append(record)
        except QuotaError as error:
            with lock:
                refused.append(error.code)
        except BaseException as error:
            with lock:
                failures.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=send) for _ in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert failures == [], failures
    assert len(granted) + len(refused) == THREADS
    assert set(refused) <= {"quota_exceeded"}
    return granted, refused


def settle_all(records: list[UsageRecord]) -> None:
    # Each call uses up to what it reserved, never more: its max_tokens went upstream.
    for record in records:
        UsageRecord.objects.settle(
            record.pk,
            status="complete",
            prompt_tokens=PROMPT,
            completion_tokens=random.randint(0, record.max_tokens),
        )


def test_concurrent_reservations_never_pass_the_limit(alice: User) -> None:
    alice.plan = Plan.objects.create(
        name="Tight",
        tokens_per_day=LIMIT,
        tokens_per_month=10 * LIMIT,
        requests_per_minute=1_000,
        concurrent_generations=1_000,
        max_tokens_cap=MAX_TOKENS,
    )
    alice.save()
    model = ChatModel.objects.get(slug="grok-3")

    # Sixteen at once, none settled: what is held can never pass the limit.
    first, refused = reserve_at_once(alice, model)
    held = sum(r.reserved_tokens for r in first)
    assert held <= LIMIT, f"reservations {held} passed the limit {LIMIT}"
    assert len(first) == LIMIT // (PROMPT + MAX_TOKENS) and len(refused) == THREADS - len(first)

    # The calls end, using less than they held; the room they leave is taken again at once.
    settle_all(first)
    second, _ = reserve_at_once(alice, model)
    settled = UsageRecord.objects.filter(user=alice, status="complete").tokens()
    assert settled + sum(r.reserved_tokens for r in second) <= LIMIT
    settle_all(second)

    spent = UsageRecord.objects.filter(user=alice).tokens()
    overspend = spent - LIMIT
    assert overspend <= 0, f"spent {spent}, {overspend} past the limit"
    print(
        f"\nlimit {LIMIT}: round 1 granted {len(first)}/{THREADS} holding {held}; "
        f"round 2 granted {len(second)}; spent {spent}; largest overspend {max(0, overspend)}"
    )
