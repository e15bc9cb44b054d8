"""Quota math over the ledger: reservations, limits, settling."""

from datetime import datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.utils import timezone

from conversations.models import Conversation, Message
from webchat import quotas
from webchat.errors import QuotaError
from webchat.models import ChatModel, Plan, UsageRecord, User
from webchat.quotas import MIN_REPLY_TOKENS

pytestmark = pytest.mark.django_db


@pytest.fixture
def plan() -> Plan:
    return Plan.objects.create(
        name="Small",
        tokens_per_day=10_000,
        tokens_per_month=50_000,
        requests_per_minute=100,
        concurrent_generations=10,
        max_tokens_cap=4_000,
    )


@pytest.fixture
def grok3() -> ChatModel:
    return ChatModel.objects.get(slug="grok-3")


def reserve(
    user: User, model: ChatModel, prompt: int = 100, max_tokens: int = 1000, n: int = 1
) -> UsageRecord:
    return UsageRecord.objects.reserve(
        user=user, chat_model=model, prompt_tokens=prompt, max_tokens=max_tokens, n=n
    )


def refused(user: User, model: ChatModel, **kwargs: int) -> QuotaError:
    with pytest.raises(QuotaError) as caught:
        reserve(user, model, **kwargs)
    return caught.value


def test_a_reservation_holds_prompt_and_all_candidates(
    alice: User, plan: Plan, grok3: ChatModel
) -> None:
    alice.plan = plan
    alice.save()
    record = reserve(alice, grok3, prompt=100, max_tokens=1000, n=3)
    assert (
        record.status == "running" and record.reserved_tokens == 3100 and record.max_tokens == 1000
    )
    assert UsageRecord.objects.remaining(alice)["used_today"] == 3100


def test_max_tokens_is_capped_by_the_plan(alice: User, plan: Plan, grok3: ChatModel) -> None:
    alice.plan = plan
    alice.save()
    assert reserve(alice, grok3, max_tokens=9_000).max_tokens == 4_000


def test_near_the_limit_the_reply_is_shortened_not_refused(
    alice: User, plan: Plan, grok3: ChatModel
) -> None:
    alice.plan = plan
    alice.save()
    reserve(alice, grok3, prompt=0, max_tokens=4_000)
    reserve(alice, grok3, prompt=0, max_tokens=4_000)
    last = reserve(alice, grok3, prompt=500, max_tokens=4_000)
    assert last.max_tokens == 1_500 and last.reserved_tokens == 2_000
    error = refused(alice, grok3)
    assert error.code == "quota_exceeded" and "tokens for the day" in error.message
    midnight = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0) + timedelta(
        days=1
    )
    assert abs(error.retry_after - (midnight - timezone.now()).total_seconds()) < 5


def test_a_settled_call_counts_what_it_used(alice: User, plan: Plan, grok3: ChatModel) -> None:
    alice.plan = plan
    alice.save()
    record = reserve(alice, grok3, prompt=100, max_tokens=4_000)
    assert UsageRecord.objects.settle(
        record.pk, status="complete", prompt_tokens=120, completion_tokens=380
    )
    record.refresh_from_db()
    assert record.status == "complete" and record.total_tokens == 500 and record.settled
    # grok-3: $3 in, $15 out per million.
    assert record.cost == Decimal("0.006060")
    assert UsageRecord.objects.remaining(alice)["used_today"] == 500


def test_settling_twice_changes_nothing(alice: User, plan: Plan, grok3: ChatModel) -> None:
    alice.plan = plan
    alice.save()
    record = reserve(alice, grok3)
    assert UsageRecord.objects.settle(
        record.pk, status="complete", prompt_tokens=10, completion_tokens=20
    )
    assert not UsageRecord.objects.settle(
        record.pk, status="error", prompt_tokens=999, completion_tokens=999
    )
    record.refresh_from_db()
    assert record.status == "complete" and record.total_tokens == 30


def test_an_unknown_prompt_size_falls_back_to_the_estimate(
    alice: User, plan: Plan, grok3: ChatModel
) -> None:
    alice.plan = plan
    alice.save()
    record = reserve(alice, grok3, prompt=77)
    UsageRecord.objects.settle(record.pk, status="stopped", prompt_tokens=None, completion_tokens=5)
    record.refresh_from_db()
    assert record.prompt_tokens == 77 and record.completion_tokens == 5


def test_the_month_limit_counts_bonus_tokens(alice: User, plan: Plan, grok3: ChatModel) -> None:
    plan.tokens_per_day = 1_000_000
    plan.tokens_per_month = 5_000
    plan.save()
    alice.plan = plan
    alice.save()
    record = reserve(alice, grok3, prompt=0, max_tokens=4_000)
    UsageRecord.objects.settle(
        record.pk, status="complete", prompt_tokens=0, completion_tokens=4_990
    )
    error = refused(alice, grok3)
    assert error.code == "quota_exceeded" and "tokens for the month" in error.message
    alice.bonus_tokens = 2_000
    alice.save()
    assert reserve(alice, grok3, prompt=0, max_tokens=4_000).max_tokens == 2_010


def test_yesterday_does_not_count_today(alice: User, plan: Plan, grok3: ChatModel) -> None:
    alice.plan = plan
    alice.save()
    record = reserve(alice, grok3, prompt=0, max_tokens=4_000)
    UsageRecord.objects.settle(
        record.pk, status="complete", prompt_tokens=0, completion_tokens=9_000
    )
    UsageRecord.objects.filter(pk=record.pk).update(
        created=timezone.now() - timedelta(days=1, hours=1)
    )
    left = UsageRecord.objects.remaining(alice)
    assert left["used_today"] == 0
    assert left["used_month"] in (0, 9_000)  # depends on whether yesterday was this month


@pytest.mark.parametrize("zone", ["Pacific/Kiritimati", "Pacific/Pago_Pago"])
def test_a_reader_s_time_zone_moves_no_one_s_day(alice: User, plan: Plan, zone: str) -> None:
    """The pages show times in the reader's zone (the `tz` cookie, which they write): the
    plans' days and months stay the server's, or a person could make a new day at will."""
    alice.plan = plan
    alice.save()
    call(alice, "complete", timezone.now(), 0, 9_000)
    served = UsageRecord.objects.remaining(alice)
    with timezone.override(ZoneInfo(zone)):
        assert UsageRecord.objects.remaining(alice) == served
        assert quotas.day_start(timezone.now()) == served["resets_today"] - timedelta(days=1)
        refusal = str(quotas.quota_exceeded({**served, "binding": "day"}, timezone.now()))
    assert served["used_today"] == 9_000
    assert served["resets_today"].astimezone(ZoneInfo("UTC")).hour == 0
    # The refusal names the moment in the reader's zone, and the zone.
    assert f"({zone})" in refusal


def call(user: User, status: str, created: datetime, reserved: int, used: int) -> None:
    record = UsageRecord.objects.create(
        user=user, model="grok-3", status=status, reserved_tokens=reserved, prompt_tokens=used
    )
    UsageRecord.objects.filter(pk=record.pk).update(created=created)


def test_the_sums_count_each_call_where_it_belongs(alice: User) -> None:
    """Running calls at their reservation whenever they began; settled ones at their usage,
    in the day and month they began; the last minute across the month's start."""
    now = datetime(2026, 3, 1, 0, 0, 20, tzinfo=timezone.get_current_timezone())
    call(alice, "complete", now - timedelta(days=3), reserved=1, used=10)  # last month
    call(alice, "running", now - timedelta(days=3), reserved=20, used=0)  # last month, stuck
    call(alice, "complete", now - timedelta(seconds=30), reserved=1, used=40)  # last month
    call(alice, "error", now - timedelta(seconds=10), reserved=1, used=300)
    call(alice, "running", now - timedelta(seconds=5), reserved=5_000, used=0)
    call(bob := User.objects.create_user("bob"), "running", now, reserved=7, used=7)
    totals = UsageRecord.objects.totals(alice, now)
    assert totals == {"running": 2, "recent": 3, "today": 5_300, "month": 5_300}
    later = now + timedelta(days=1)
    assert UsageRecord.objects.totals(alice, later) == {
        "running": 2,
        "recent": 0,
        "today": 0,
        "month": 5_300,
    }
    assert UsageRecord.objects.totals(bob, now)["month"] == 7


@pytest.mark.skipif(connection.vendor != "sqlite", reason="counts SQLite's steps")
def test_the_sums_read_nothing_of_earlier_months(alice: User) -> None:
    """A send's reservation costs the same after years of use: the sums never read a
    settled call of an earlier month (counted in SQLite's steps, not in time)."""
    now = timezone.now()
    for _ in range(20):
        call(alice, "complete", now, reserved=1, used=1)

    def steps() -> int:
        counted = 0

        def count() -> int:
            nonlocal counted
            counted += 1
            return 0

        connection.ensure_connection()
        connection.connection.set_progress_handler(count, 1)
        try:
            UsageRecord.objects.totals(alice, now)
        finally:
            connection.connection.set_progress_handler(None, 0)
        return counted

    before = steps()
    last = UsageRecord.objects.latest("pk").pk
    UsageRecord.objects.bulk_create(
        UsageRecord(user=alice, model="grok-3", status="complete", prompt_tokens=1)
        for _ in range(2_000)
    )
    earlier = quotas.month_start(now) - timedelta(days=40)
    UsageRecord.objects.filter(pk__gt=last).update(created=earlier)
    assert UsageRecord.objects.filter(user=alice).count() == 2_020
    assert steps() == before


def test_the_rate_limit_answers_with_retry_after(alice: User, plan: Plan, grok3: ChatModel) -> None:
    plan.requests_per_minute = 2
    plan.save()
    alice.plan = plan
    alice.save()
    for _ in range(2):
        UsageRecord.objects.settle(
            reserve(alice, grok3).pk, status="complete", prompt_tokens=1, completion_tokens=1
        )
    error = refused(alice, grok3)
    assert error.code == "rate_limited" and 1 <= error.retry_after <= 60


def test_the_concurrency_cap_answers_busy(alice: User, plan: Plan, grok3: ChatModel) -> None:
    plan.concurrent_generations = 1
    plan.save()
    alice.plan = plan
    alice.save()
    first = reserve(alice, grok3)
    error = refused(alice, grok3)
    assert error.code == "busy" and error.retry_after
    UsageRecord.objects.settle(first.pk, status="complete", prompt_tokens=1, completion_tokens=1)
    assert reserve(alice, grok3).status == "running"


def test_no_plan_no_sending(alice: User, grok3: ChatModel) -> None:
    alice.plan = None
    alice.save()
    assert refused(alice, grok3).code == "quota_exceeded"
    assert UsageRecord.objects.remaining(alice) is None


def test_a_plan_can_leave_models_out(alice: User, plan: Plan, grok3: ChatModel) -> None:
    plan.allowed_models.set([ChatModel.objects.get(slug="grok-3-mini")])
    alice.plan = plan
    alice.save()
    assert refused(alice, grok3).code == "model_unavailable"
    assert reserve(alice, ChatModel.objects.get(slug="grok-3-mini")).status == "running"


def test_below_the_smallest_useful_reply_it_refuses(
    alice: User, plan: Plan, grok3: ChatModel
) -> None:
    plan.tokens_per_day = 100 + MIN_REPLY_TOKENS - 1
    plan.save()
    alice.plan = plan
    alice.save()
    assert refused(alice, grok3, prompt=100).code == "quota_exceeded"


def test_an_interrupted_generation_is_settled_from_its_text(
    alice: User, plan: Plan, grok3: ChatModel
) -> None:
    alice.plan = plan
    alice.save()
    conversation = Conversation.objects.create(owner=alice)
    _, (reply,) = conversation.add_turn(
        content="hi", parent=None, model="grok-3", params={}, n=1, channel="gen.x"
    )
    Message.objects.filter(pk=reply.pk).update(
        content="x" * 300, lease_until=timezone.now() - timedelta(seconds=1)
    )
    record = UsageRecord.objects.reserve(
        user=alice, chat_model=grok3, prompt_tokens=50, max_tokens=1000, n=1, generation="gen.x"
    )
    Message.objects.interrupt("gen.x")
    record.refresh_from_db()
    assert record.status == "interrupted" and record.prompt_tokens == 50
    assert record.completion_tokens == 108  # 300 characters at ~3 a token, plus framing


def test_the_default_plan_is_unique(plan: Plan) -> None:
    standard = Plan.objects.get(is_default=True)
    plan.is_default = True
    plan.save()
    standard.refresh_from_db()
    assert not standard.is_default and Plan.objects.filter(is_default=True).get() == plan


def test_a_small_max_tokens_is_served_as_asked(alice: User, plan: Plan, grok3: ChatModel) -> None:
    alice.plan = plan
    alice.save()
    record = reserve(alice, grok3, prompt=100, max_tokens=32)
    assert record.max_tokens == 32 and record.reserved_tokens == 132
    assert reserve(alice, grok3, prompt=100, max_tokens=1).max_tokens == 1


def test_a_small_request_is_refused_only_for_lack_of_room(
    alice: User, plan: Plan, grok3: ChatModel
) -> None:
    plan.tokens_per_day = 100 + 20
    plan.save()
    alice.plan = plan
    alice.save()
    assert refused(alice, grok3, prompt=100, max_tokens=32).code == "quota_exceeded"
    assert reserve(alice, grok3, prompt=100, max_tokens=20).max_tokens == 20


@pytest.mark.parametrize(
    ("room", "prompt", "n", "asked", "granted"),
    [
        (10_000, 100, 1, 1_000, 1_000),  # plenty of room: what was asked
        (1_600, 100, 1, 4_000, 1_500),  # near the limit: shortened, not refused
        (1_600, 100, 3, 4_000, 500),  # shared between the candidates
        (163, 100, 1, 1_000, 0),  # 63 of room: not worth a reply
        (10_000, 100, 1, 32, 32),  # a small request is served as asked
        (130, 100, 1, 32, 0),  # 30 of room for 32 asked: refused
        (0, 100, 1, 32, 0),
    ],
)
def test_the_rule_for_a_replys_room(
    room: int, prompt: int, n: int, asked: int, granted: int
) -> None:
    assert quotas.reply_tokens(room, prompt, n, asked) == granted


def test_nothing_is_granted_for_nothing_asked() -> None:
    assert quotas.reply_tokens(10_000, 100, 1, 0) == 0
    assert quotas.reply_tokens(10_000, 100, 1, -5) == 0
