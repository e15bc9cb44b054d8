"""Reserve before an upstream call, settle after it; rate and concurrency limits.

The ledger (UsageRecord) is the truth: what a person has used is a sum over their rows,
counting a running call at its reservation and a settled one at its real usage. A
reservation is taken inside a transaction that locks the person's row, so concurrent
sends queue, and none can pass the limit by more than what was reserved.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import connections, models, transaction
from django.db.models import Case, Count, F, Max, Min, Sum, When
from django.utils import timezone

if TYPE_CHECKING:
    from webchat.models import ChatModel, UsageRecord, User

# Below this many tokens of room a reply is not worth starting.
MIN_REPLY_TOKENS = 64
MILLION = Decimal(1_000_000)


class Refused(Exception):
    """A request refused with a stable error code, a message for a person, and maybe when
    to try again. The socket sends it as an `error` frame."""

    def __init__(self, code: str, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after


class QuotaError(Refused):
    """A limit of the person's plan."""


def estimate_tokens(texts: list[str]) -> int:
    """A generous guess of the prompt's tokens (about 3 characters a token, plus framing)."""
    return sum(math.ceil(len(text) / 3) + 8 for text in texts)


def day_start(now: datetime) -> datetime:
    return timezone.localtime(now).replace(hour=0, minute=0, second=0, microsecond=0)


def month_start(now: datetime) -> datetime:
    return day_start(now).replace(day=1)


def next_month(now: datetime) -> datetime:
    start = month_start(now)
    return (start + timedelta(days=32)).replace(day=1)


@dataclass
class Spent:
    today: int
    month: int


# Running calls count at their reservation, settled ones at their real usage.
_TOKENS = Case(
    When(status="running", then=F("reserved_tokens")),
    default=F("prompt_tokens") + F("completion_tokens"),
)
# UsageRecordQuerySet.totals(), counting tokens as _TOKENS does.
_TOTALS_SQL = """
    SELECT
        COUNT(CASE WHEN status = 'running' THEN 1 END),
        COUNT(CASE WHEN created >= %s THEN 1 END),
        SUM(CASE WHEN created < %s THEN NULL WHEN status = 'running' THEN reserved_tokens
            ELSE prompt_tokens + completion_tokens END),
        SUM(CASE WHEN created < %s THEN NULL WHEN status = 'running' THEN reserved_tokens
            ELSE prompt_tokens + completion_tokens END)
    FROM webchat_usagerecord
    WHERE user_id = %s AND (created >= %s OR status = 'running')
"""


class UsageRecordQuerySet(models.QuerySet["UsageRecord"]):
    def tokens(self) -> int:
        return int(self.aggregate(total=Sum(_TOKENS))["total"] or 0)

    def totals(self, user: User, now: datetime) -> dict[str, int]:
        """Every figure the limits need, in one query: calls running, calls in the last
        minute, tokens today and this month.

        Written out in SQL: it runs inside every send's transaction, and building the same
        five filtered aggregates through the ORM cost twenty times the query itself."""
        connection = connections[self.db]
        adapt = connection.ops.adapt_datetimefield_value
        minute, day, month = (
            adapt(t) for t in (now - timedelta(minutes=1), day_start(now), month_start(now))
        )
        with connection.cursor() as cursor:
            cursor.execute(_TOTALS_SQL, [minute, day, month, user.pk, month])
            running, recent, today, this_month = cursor.fetchone()
        return {
            "running": running,
            "recent": recent,
            "today": int(today or 0),
            "month": int(this_month or 0),
        }

    def oldest_recent(self, user: User, now: datetime) -> datetime:
        """When the oldest call of the last minute started (for a rate limit's wait)."""
        recent = self.filter(user=user, created__gte=now - timedelta(minutes=1))
        return recent.aggregate(oldest=Min("created"))["oldest"] or now

    def spent(self, user: User, now: datetime | None = None) -> Spent:
        totals = self.totals(user, now or timezone.now())
        return Spent(today=int(totals["today"]), month=int(totals["month"]))

    @transaction.atomic
    def reserve(
        self,
        *,
        user: User,
        chat_model: ChatModel,
        prompt_tokens: int,
        max_tokens: int,
        n: int,
        conversation: Any = None,
        generation: str = "",
    ) -> UsageRecord:
        """Take room for one call, or raise QuotaError. The record's max_tokens may be less
        than asked when little room is left: the reply is then cut short, not refused."""
        from webchat.models import User

        # Locks the person's row: their concurrent reservations run one after another.
        user = User.objects.select_for_update(of=("self",)).select_related("plan").get(pk=user.pk)
        plan = user.plan
        if plan is None or not user.is_active:
            raise QuotaError(
                "quota_exceeded", "Your account has no plan. An administrator can give you one."
            )
        if not plan.allows(chat_model):
            raise QuotaError("model_unavailable", f"Your plan does not include {chat_model}.")
        now = timezone.now()
        totals = self.totals(user, now)
        running = totals["running"]
        if running >= plan.concurrent_generations:
            raise QuotaError(
                "busy",
                f"You have {running} replies being written; your plan allows "
                f"{plan.concurrent_generations} at once. Wait for one to finish.",
                retry_after=5,
            )
        if totals["recent"] >= plan.requests_per_minute:
            oldest = self.oldest_recent(user, now)
            wait = 60 - (now - oldest).total_seconds()
            raise QuotaError(
                "rate_limited",
                f"Your plan allows {plan.requests_per_minute} messages a minute. "
                f"Try again in {math.ceil(wait)} s.",
                retry_after=max(1, math.ceil(wait)),
            )
        spent = Spent(today=int(totals["today"]), month=int(totals["month"]))
        room_today = plan.tokens_per_day - spent.today
        room_month = plan.tokens_per_month + user.bonus_tokens - spent.month
        room = min(room_today, room_month)
        per_candidate = min(max_tokens, plan.max_tokens_cap, (room - prompt_tokens) // n)
        if per_candidate < MIN_REPLY_TOKENS:
            if room_today <= room_month:
                resets = day_start(now) + timedelta(days=1)
                when = "tomorrow"
            else:
                resets = next_month(now)
                when = "next month"
            raise QuotaError(
                "quota_exceeded",
                f"You have used your tokens for now; they renew {when} "
                f"({timezone.localtime(resets):%Y-%m-%d %H:%M %Z}).",
                retry_after=math.ceil((resets - now).total_seconds()),
            )
        return self.create(
            user=user,
            model=chat_model.slug,
            conversation=conversation,
            generation=generation,
            prompt_estimate=prompt_tokens,
            max_tokens=per_candidate,
            reserved_tokens=prompt_tokens + per_candidate * n,
            price_input=chat_model.price_input,
            price_output=chat_model.price_output,
        )

    def settle(
        self,
        record_id: int,
        *,
        status: str,
        prompt_tokens: int | None,
        completion_tokens: int,
        upstream_id: str = "",
        error_code: str = "",
        ttft_ms: int | None = None,
        duration_ms: int | None = None,
    ) -> bool:
        """Record what the call really used. Idempotent: only a running row is settled."""
        record = self.filter(pk=record_id, status="running").first()
        if record is None:
            return False
        prompt = record.prompt_estimate if prompt_tokens is None else prompt_tokens
        cost = (prompt * record.price_input + completion_tokens * record.price_output) / MILLION
        return bool(
            self.filter(pk=record_id, status="running").update(
                status=status,
                prompt_tokens=prompt,
                completion_tokens=completion_tokens,
                cost=cost.quantize(Decimal("0.000001")),
                upstream_id=upstream_id[:100],
                error_code=error_code,
                ttft_ms=ttft_ms,
                duration_ms=duration_ms,
                settled=timezone.now(),
            )
        )

    def per_model(self, user: User, since: datetime) -> list[dict[str, Any]]:
        return list(
            self.filter(user=user, created__gte=since)
            .values("model")
            .annotate(
                requests=Count("id"),
                prompt=Sum("prompt_tokens"),
                completion=Sum("completion_tokens"),
                cost=Sum("cost"),
                last=Max("created"),
            )
            .order_by("model")
        )


def remaining(user: User, now: datetime | None = None) -> dict[str, Any] | None:
    """What a person has left today and this month, and when each renews (None: no plan)."""
    from webchat.models import UsageRecord

    plan = user.plan
    if plan is None:
        return None
    now = now or timezone.now()
    spent = UsageRecord.objects.spent(user, now)
    month_limit = plan.tokens_per_month + user.bonus_tokens
    return {
        "plan": plan.name,
        "used_today": spent.today,
        "used_month": spent.month,
        "limit_today": plan.tokens_per_day,
        "limit_month": month_limit,
        "left_today": max(0, plan.tokens_per_day - spent.today),
        "left_month": max(0, month_limit - spent.month),
        "left": max(0, min(plan.tokens_per_day - spent.today, month_limit - spent.month)),
        "resets_today": day_start(now) + timedelta(days=1),
        "resets_month": next_month(now),
        "time_zone": settings.TIME_ZONE,
    }
