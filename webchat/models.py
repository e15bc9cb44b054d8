import json
import logging
import math
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.contrib.auth.models import UserManager as BaseUserManager
from django.core.exceptions import ValidationError
from django.db import NotSupportedError, connections, models, transaction
from django.db.models import (
    DEFERRED,
    BooleanField,
    Case,
    Count,
    ExpressionWrapper,
    F,
    Max,
    Min,
    Q,
    Sum,
    When,
)
from django.db.models.functions import Lower
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from webchat import grok, quotas, sql
from webchat.errors import QuotaError

log = logging.getLogger(__name__)

# The most ChatModel.prompt_ratio may learn: twice the plain estimate.
PROMPT_RATIO_MAX = 2.0


class Plan(models.Model):
    """How much a person may use. New accounts get the default plan."""

    name = models.CharField(max_length=100, unique=True)
    tokens_per_day = models.PositiveIntegerField(default=200_000)
    tokens_per_month = models.PositiveIntegerField(default=3_000_000)
    requests_per_minute = models.PositiveIntegerField(default=20)
    concurrent_generations = models.PositiveIntegerField(default=2)
    max_tokens_cap = models.PositiveIntegerField(
        default=16_384, help_text="The most tokens one reply may be given."
    )
    allowed_models = models.ManyToManyField(
        "ChatModel", blank=True, help_text="None selected: every enabled model."
    )
    storage_mb = models.PositiveIntegerField(
        "storage (MB)",
        null=True,
        blank=True,
        default=100,
        help_text="Text a person may keep, in MB (conversations, forks, imports); empty: no limit.",
    )
    is_default = models.BooleanField(default=False, help_text="Given to new accounts.")

    class Meta:
        ordering = ["name"]
        constraints = [
            # Signup gives new accounts the one default plan.
            models.UniqueConstraint(
                fields=["is_default"], condition=models.Q(is_default=True), name="one_default_plan"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.is_default:
            Plan.objects.filter(is_default=True).exclude(pk=self.pk).update(is_default=False)
        super().save(*args, **kwargs)

    def allows(self, chat_model: "ChatModel") -> bool:
        allowed = set(self.allowed_models.values_list("pk", flat=True))
        return not allowed or chat_model.pk in allowed


class UserManager(BaseUserManager):
    def get_by_natural_key(self, username: str | None) -> "User":
        """Login by name, whatever its case ("Carol" logs into carol): the database holds
        one account a name whatever its case. An exact match wins, and two names whose
        capitals alone are alike (a long s and an s) are not guessed between."""
        try:
            return self.get(username=username)
        except self.model.DoesNotExist:
            matches = list(self.filter(username__iexact=username)[:2])
            if len(matches) != 1:  # none, or two older accounts: no guessing which
                raise
            return matches[0]


class User(AbstractUser):
    """A person who chats (an administrator is one with is_staff and is_superuser)."""

    plan = models.ForeignKey(
        Plan,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="users",
        help_text="No plan: the person can read their conversations but not send.",
    )
    bonus_tokens = models.PositiveIntegerField(
        default=0, help_text="Tokens granted on top of the plan's monthly allowance."
    )
    # The person's own defaults: a new conversation starts from them (its own settings,
    # once it has some, win).
    default_model = models.CharField(max_length=64, blank=True)
    custom_instructions = models.TextField(
        blank=True, help_text="The system prompt of the person's new conversations."
    )
    default_temperature = models.FloatField(null=True, blank=True)
    default_max_tokens = models.PositiveIntegerField(null=True, blank=True)
    # The interface's language (one of LANGUAGES); empty: the browser's.
    language = models.CharField(max_length=16, blank=True)

    objects = UserManager()

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]
        # One account a name whatever its case, as the login finds it: held by the
        # database too, for two signups ("Carol", "carol") that pass the form at once.
        constraints = [
            models.UniqueConstraint(
                Lower("username"),
                name="username_unique_any_case",
                violation_error_message=gettext_lazy("A user with that username already exists."),
            )
        ]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding and self.plan_id is None:
            self.plan = Plan.objects.filter(is_default=True).first()
        super().save(*args, **kwargs)


class SiteSettings(models.Model):
    """Settings the administrator flips at run time (one row)."""

    signup_open = models.BooleanField(default=True, help_text="Anyone may create an account.")

    class Meta:
        verbose_name = verbose_name_plural = "site settings"

    def __str__(self) -> str:
        return "Site settings"

    @classmethod
    def current(cls) -> "SiteSettings":
        row, _ = cls.objects.get_or_create(pk=1, defaults={"signup_open": settings.SIGNUP_OPEN})
        return row


def first_account() -> bool:
    """No account exists yet (so no administrator either). In a transaction: the site
    settings' row, which always exists, is locked first, so two first accounts made at once
    (by the signup form, or through a provider) make one administrator."""
    SiteSettings.current()
    SiteSettings.objects.select_for_update().filter(pk=1).first()
    return not User.objects.exists()


def found_the_site(user: User) -> None:
    """On a fresh site whoever makes the first account owns it, however it is made, unless
    the operator turned that off (FIRST_SIGNUP_IS_ADMIN=0) to use createsuperuser instead.
    In the transaction that saves `user`."""
    if settings.FIRST_SIGNUP_IS_ADMIN and first_account():
        user.is_staff = user.is_superuser = True


class ChatModelQuerySet(models.QuerySet["ChatModel"]):
    def enabled(self) -> "ChatModelQuerySet":
        return self.filter(enabled=True)

    def names(self, slugs: Iterable[str]) -> dict[str, str]:
        """The catalog's name of each model id the ledger names (one taken out of the
        catalog is missing: it keeps its id)."""
        return dict(self.filter(slug__in=set(slugs)).values_list("slug", "display_name"))

    def observe_prompt(self, model: "ChatModel", estimated: int, reported: int) -> float:
        """Correct the model's prompt estimate by what the upstream counted: quickly when it
        counted more (the estimate should not fall short of the context window), slowly
        when less, never below the plain estimate. One request moves it by a quarter at
        most and it stays under PROMPT_RATIO_MAX, since it is every person's: one person's
        dense text cannot take most of everyone's window. Written when it moves by 2%."""
        if estimated <= 0 or reported <= 0:
            return model.prompt_ratio
        observed = model.prompt_ratio * reported / estimated
        if reported > estimated:
            log.warning(
                "prompt estimate for %s fell short: %d estimated, %d counted upstream",
                model.slug,
                estimated,
                reported,
            )
            ratio = min(observed * 1.05, model.prompt_ratio * 1.25)
        else:
            ratio = 0.9 * model.prompt_ratio + 0.1 * observed
        ratio = min(max(ratio, 1.0), PROMPT_RATIO_MAX)
        if abs(ratio - model.prompt_ratio) > 0.02 * model.prompt_ratio:
            self.filter(pk=model.pk).update(prompt_ratio=ratio)
            model.prompt_ratio = ratio
        return model.prompt_ratio


class ChatModel(models.Model):
    """One entry of the model catalog: what users pick and what is sent upstream."""

    slug = models.SlugField(
        max_length=64, unique=True, help_text="Shown to users and sent by the client."
    )
    upstream_id = models.CharField(max_length=128, help_text="The `model` sent to the Grok API.")
    display_name = models.CharField(max_length=128)
    enabled = models.BooleanField(default=True)
    position = models.PositiveIntegerField(default=0, help_text="Order in the model picker.")
    context_window = models.PositiveIntegerField(default=131_072)
    default_params = models.JSONField(default=dict, blank=True)
    max_output_tokens = models.PositiveIntegerField(default=8192)
    price_input = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal(0),
        help_text="USD per million input tokens.",
    )
    price_output = models.DecimalField(
        max_digits=10,
        decimal_places=4,
        default=Decimal(0),
        help_text="USD per million output tokens.",
    )
    supports_reasoning = models.BooleanField(default=False)
    streams_reasoning = models.BooleanField(
        default=False, help_text="Sends its reasoning text (reasoning_content) while it thinks."
    )
    supports_vision = models.BooleanField(default=False)
    # The upstream's prompt tokens per estimated one (webchat.quotas.estimate_tokens), as
    # observed: the context window is filled by the corrected estimate.
    prompt_ratio = models.FloatField(
        default=1.0,
        help_text="Upstream prompt tokens per estimated token, learned from the replies.",
    )

    objects = ChatModelQuerySet.as_manager()

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def default_params_json(self) -> str:
        return json.dumps(self.default_params or {})

    def clean(self) -> None:
        problems = self._check(self.default_params)
        if problems:
            raise ValidationError({"default_params": problems})

    def defaults(self) -> dict[str, Any]:
        """The default parameters the upstream takes for this model. The admin refuses any
        other, but a row may have been written another way: a bad one is left out."""
        if not isinstance(self.default_params, dict):
            return {}
        return {k: v for k, v in self.default_params.items() if not self._check({k: v})}

    def _check(self, params: Any) -> list[str]:
        effort = self.supports_reasoning and self.streams_reasoning
        return grok.check_params(params, reasoning=self.supports_reasoning, effort=effort)

    def cost(self, prompt_tokens: int, completion_tokens: int) -> Decimal:
        """What a call costs at this model's current prices."""
        return quotas.price(prompt_tokens, completion_tokens, self.price_input, self.price_output)


# --- The ledger -------------------------------------------------------------------------------
# Running calls count at their reservation, settled ones at their real usage.
_TOKENS = Case(
    When(status="running", then=F("reserved_tokens")),
    default=F("prompt_tokens") + F("completion_tokens"),
)
# UsageRecordQuerySet.totals(), counting tokens as _TOKENS does: a person's running calls at
# their reservation, the others at their usage. Each part reads only its own rows, through
# an index: the running few, the last minute's, today's, and this month's before today.
# (One scan of a person's rows with CASE per row cost about 1.4 µs a row: with 2,000 calls
# this month, 3 ms a send, and every row they ever had once the OR of running rows let the
# scan reach back.)
_TOTALS_SQL = """
    SELECT running.calls, recent.calls, running.today + settled_today.tokens,
        running.month + settled_today.tokens + settled_before.tokens
    FROM (
        SELECT COUNT(*) AS calls,
            COALESCE(SUM(CASE WHEN created >= %(day)s THEN reserved_tokens END), 0) AS today,
            COALESCE(SUM(CASE WHEN created >= %(month)s THEN reserved_tokens END), 0) AS month
        FROM webchat_usagerecord WHERE user_id = %(user)s AND status = 'running'
    ) AS running, (
        SELECT COUNT(*) AS calls
        FROM webchat_usagerecord WHERE user_id = %(user)s AND created >= %(minute)s
    ) AS recent, (
        SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens
        FROM webchat_usagerecord
        WHERE user_id = %(user)s AND created >= %(day)s AND status <> 'running'
    ) AS settled_today, (
        SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) AS tokens
        FROM webchat_usagerecord
        WHERE user_id = %(user)s AND created >= %(month)s AND created < %(day)s
            AND status <> 'running'
    ) AS settled_before
"""


# take(): the person, their plan and whether it allows the model, read under the lock in one
# statement. (Through the ORM it took three, each costing more to build than to run.)
_PLAN_FIELDS = (
    "id",
    "name",
    "tokens_per_day",
    "tokens_per_month",
    "requests_per_minute",
    "concurrent_generations",
    "max_tokens_cap",
    "storage_mb",
)
_PERSON_SQL = """
    SELECT u.is_active, u.bonus_tokens, p.id, p.name, p.tokens_per_day, p.tokens_per_month,
        p.requests_per_minute, p.concurrent_generations, p.max_tokens_cap, p.storage_mb,
        NOT EXISTS (SELECT 1 FROM webchat_plan_allowed_models a WHERE a.plan_id = p.id)
        OR EXISTS (
            SELECT 1 FROM webchat_plan_allowed_models a
            WHERE a.plan_id = p.id AND a.chatmodel_id = %s
        )
    FROM webchat_user u LEFT JOIN webchat_plan p ON p.id = u.plan_id
    WHERE u.id = %s
"""


def _instance(model: type[models.Model], db: str, values: dict[str, Any]) -> Any:
    """An instance as read from the database, with only these fields (the rest deferred)."""
    fields = model._meta.concrete_fields
    row = [values.get(f.attname, DEFERRED) for f in fields]
    return model.from_db(db, [f.attname for f in fields if f.attname in values], row)


class UsageRecordQuerySet(models.QuerySet["UsageRecord"]):
    """The ledger's rules: reserve before an upstream call, settle after it, sum for limits.

    What a person has used is a sum over their rows, counting a running call at its
    reservation and a settled one at its real usage. A reservation is taken inside a
    transaction that locks the person's row, so concurrent sends queue, and none can pass
    the limit by more than what was reserved.
    """

    def tokens(self) -> int:
        return int(self.aggregate(total=Sum(_TOKENS))["total"] or 0)

    def totals(self, user: User, now: datetime) -> dict[str, int]:
        """Every figure the limits need, in one query: calls running, calls in the last
        minute, tokens today and this month.

        Written out in SQL: it runs inside every send's transaction, and building the same
        five filtered aggregates through the ORM cost twenty times the query itself."""
        connection = connections[self.db]
        adapt = connection.ops.adapt_datetimefield_value
        moments = {
            "minute": now - timedelta(minutes=1),
            "day": quotas.day_start(now),
            "month": quotas.month_start(now),
        }
        params = {"user": user.pk, **{k: adapt(t) for k, t in moments.items()}}
        with connection.cursor() as cursor:
            cursor.execute(_TOTALS_SQL, params)
            running, recent, today, this_month = cursor.fetchone()
        return {
            "running": running,
            "recent": recent,
            "today": int(today or 0),
            "month": int(this_month or 0),
        }

    def remaining(self, user: User, now: datetime | None = None) -> dict[str, Any] | None:
        """What a person has used and has left today and this month, and when each renews
        (None: no plan)."""
        plan = user.plan
        if plan is None:
            return None
        now = now or timezone.now()
        totals = self.totals(user, now)
        month_limit = plan.tokens_per_month + user.bonus_tokens
        left_today = plan.tokens_per_day - totals["today"]
        left_month = month_limit - totals["month"]
        return {
            "plan": plan.name,
            "used_today": totals["today"],
            "used_month": totals["month"],
            "limit_today": plan.tokens_per_day,
            "limit_month": month_limit,
            "left_today": max(0, left_today),
            "left_month": max(0, left_month),
            "left": max(0, min(left_today, left_month)),
            "resets_today": quotas.next_day(now),
            "resets_month": quotas.next_month(now),
            "time_zone": settings.TIME_ZONE,
            # Which limit binds first: the one a refusal names.
            "binding": "day" if left_today <= left_month else "month",
            "running": totals["running"],
            "recent": totals["recent"],
        }

    def oldest_recent(self, user: User, now: datetime) -> datetime:
        """When the oldest call of the last minute started (for a rate limit's wait)."""
        recent = self.filter(user=user, created__gte=now - timedelta(minutes=1))
        return recent.aggregate(oldest=Min("created"))["oldest"] or now

    @transaction.atomic
    def reserve(self, **terms: Any) -> "UsageRecord":
        """take() in a transaction of its own."""
        return self.take(**terms)

    def take(
        self,
        *,
        user: User,
        chat_model: ChatModel,
        prompt_tokens: int,
        max_tokens: int,
        n: int,
        conversation: Any = None,
        generation: str = "",
        api_key: Any = None,
        check: Callable[[User], None] | None = None,
    ) -> "UsageRecord":
        """Take room for one call, or raise QuotaError, in the caller's transaction (no
        savepoint: a refusal is the end of it). The record's max_tokens may be less than
        asked when little room is left: the reply is then cut short, not refused.
        `check(person)`, given the person and their plan as read under the lock, may refuse
        first (a send checks the storage it needs).

        A call of the API names its key (api.models.ApiKey): the key's own models and
        monthly cap apply on top of the plan, and a key revoked or expired meanwhile is
        refused here, under the lock, so that no call starts after its revocation."""
        if not connections[self.db].in_atomic_block:
            raise transaction.TransactionManagementError("A reservation is taken in a transaction.")
        # Locks the person's row: their concurrent reservations run one after another.
        user, allowed = self._person(user.pk, chat_model)
        if check is not None:
            check(user)
        plan = user.plan
        if plan is None or not user.is_active:
            raise QuotaError(
                gettext("Your account has no plan. An administrator can give you one."),
                code="quota_exceeded",
            )
        if not allowed:
            raise QuotaError(
                gettext("Your plan does not include %(model)s.") % {"model": chat_model},
                code="model_unavailable",
            )
        now = timezone.now()
        left = self.remaining(user, now)
        assert left is not None
        if left["running"] >= plan.concurrent_generations and self.settle_abandoned(now, user):
            left = self.remaining(user, now)
            assert left is not None
        if left["running"] >= plan.concurrent_generations:
            raise QuotaError(
                gettext(
                    "You have %(running)s replies being written; your plan allows %(most)s at "
                    "once. Wait for one to finish."
                )
                % {"running": left["running"], "most": plan.concurrent_generations},
                code="busy",
                retry_after=5,
            )
        if left["recent"] >= plan.requests_per_minute:
            wait = max(1, math.ceil(60 - (now - self.oldest_recent(user, now)).total_seconds()))
            raise QuotaError(
                gettext("Your plan allows %(count)s messages a minute. Try again in %(wait)s s.")
                % {"count": plan.requests_per_minute, "wait": wait},
                code="rate_limited",
                retry_after=wait,
            )
        room = left["left"]
        if api_key is not None:
            room = min(room, self._key_room(api_key, chat_model, now))
        asked = min(max_tokens, plan.max_tokens_cap)
        per_candidate = quotas.reply_tokens(room, prompt_tokens, n, asked)
        if not per_candidate:
            if room < left["left"]:
                raise QuotaError(
                    f"This key's cap of {api_key.tokens_per_month:,} tokens a month leaves "
                    f"too little for this call ({max(0, room):,} left); it renews next month.",
                    code="quota_exceeded",
                    retry_after=math.ceil((quotas.next_month(now) - now).total_seconds()),
                )
            raise quotas.quota_exceeded(left, now)
        record = UsageRecord(
            user=user,
            model=chat_model.slug,
            conversation=conversation,
            generation=generation,
            prompt_estimate=prompt_tokens,
            max_tokens=per_candidate,
            reserved_tokens=prompt_tokens + per_candidate * n,
            price_input=chat_model.price_input,
            price_output=chat_model.price_output,
            api_key=api_key,
        )
        record.shortened = per_candidate < asked
        sql.insert([record], using=self.db)  # written out: the ORM's cost more than the query
        return record

    def _person(self, user_id: int, chat_model: "ChatModel") -> tuple[User, bool]:
        """The person (with their plan) and whether the plan allows `chat_model`, their row
        locked (PostgreSQL; SQLite's IMMEDIATE transaction holds the one write lock)."""
        connection = connections[self.db]
        if connection.vendor == "sqlite":
            lock = ""  # the IMMEDIATE transaction holds the one write lock already
        elif connection.features.has_select_for_update_of:
            lock = " FOR UPDATE OF u"
        else:
            raise NotSupportedError("A reservation needs SELECT … FOR UPDATE OF.")
        with connection.cursor() as cursor:
            cursor.execute(_PERSON_SQL + lock, [chat_model.pk, user_id])
            row = cursor.fetchone()
        if row is None:
            raise User.DoesNotExist(f"No person {user_id}.")
        active, bonus, *plan, allowed = row
        person = {
            "id": user_id,
            "is_active": bool(active),
            "bonus_tokens": bonus,
            "plan_id": plan[0],
        }
        user = _instance(User, self.db, person)
        user.plan = (
            None
            if plan[0] is None
            else _instance(Plan, self.db, dict(zip(_PLAN_FIELDS, plan, strict=True)))
        )
        return user, bool(allowed)

    def settle_abandoned(self, now: datetime, user: User | None = None) -> int:
        """Settle, as interrupted, the calls still running past any call's time: their
        process died before it could (a crash, a kill), and each holds a place and its
        reservation in its person's plan. Looked for when a person's calls at once are all
        taken, and, for everyone, by every process's sweep (webchat.lifecycle)."""
        stale = now - timedelta(seconds=settings.GROK_TOTAL_TIMEOUT + 60)
        abandoned = self.filter(status="running", created__lt=stale)
        if user is not None:
            abandoned = abandoned.filter(user=user)
        return sum(
            self.settle(pk, status="interrupted", prompt_tokens=None, completion_tokens=0)
            for pk in abandoned.values_list("pk", flat=True)
        )

    def _key_room(self, api_key: Any, chat_model: ChatModel, now: datetime) -> int:
        """What the key's own limits leave (api.models.ApiKey.room; it may be less than
        the plan's room)."""
        room = api_key.room(chat_model, quotas.month_start(now), now)
        return 2**62 if room is None else room

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
        was: str = "running",
    ) -> bool:
        """Record what the call really used. Idempotent: only a row still `was` (running) is
        settled. Written out (the end of every reply, in the database's thread): the ORM's
        read and UPDATE cost several times the statements."""
        found = sql.select(self.model, _UNSETTLED_RECORD_SQL, [record_id, was], using=self.db)
        record = found[0] if found else None
        if record is None:
            return False
        prompt = record.prompt_estimate if prompt_tokens is None else prompt_tokens
        # At the prices of the moment it was reserved.
        cost = quotas.price(prompt, completion_tokens, record.price_input, record.price_output)
        record.status = status
        record.prompt_tokens = prompt
        record.completion_tokens = completion_tokens
        record.cost = cost.quantize(Decimal("0.000001"))
        record.upstream_id = upstream_id[:100]
        record.error_code = error_code
        record.ttft_ms = ttft_ms
        record.duration_ms = duration_ms
        record.settled = timezone.now()
        return bool(sql.update(record, _SETTLED_FIELDS, using=self.db, where={"status": was}))

    def api_channels(self, **where: Any) -> set[str]:
        """The channels the API's calls in flight listen on (api.views), among `where`."""
        rows = self.filter(status="running", api_key__isnull=False, **where)
        return set(rows.exclude(generation="").values_list("generation", flat=True))

    def per_key(self, since: datetime, **where: Any) -> list[dict[str, Any]]:
        """Usage since a moment split by door: the chat (no key) and each API key. `api`
        tells an API call whose key went with its person's account (no conversation) from
        the chat's."""
        api = ExpressionWrapper(Q(conversation__isnull=True), output_field=BooleanField())
        return list(
            self.filter(created__gte=since, **where)
            .values("api_key", "api_key__name", "api_key__prefix", "user__username", api=api)
            .annotate(
                requests=Count("id"),
                prompt=Sum("prompt_tokens"),
                completion=Sum("completion_tokens"),
                cost=Sum("cost"),
            )
            .order_by("api_key__name", "api_key")
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


_UNSETTLED_RECORD_SQL = (
    "SELECT id, prompt_estimate, price_input, price_output FROM webchat_usagerecord "
    "WHERE id = %s AND status = %s"
)
_SETTLED_FIELDS = (
    "status",
    "prompt_tokens",
    "completion_tokens",
    "cost",
    "upstream_id",
    "error_code",
    "ttft_ms",
    "duration_ms",
    "settled",
)


class UsageRecord(models.Model):
    """One upstream call: reserved before it, settled after it. Quotas are sums over these."""

    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETE = "complete"
        STOPPED = "stopped"
        ERROR = "error"
        INTERRUPTED = "interrupted"

    # Indexed first in usage_user_created and usage_user_status.
    user = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="usage_records", db_index=False
    )
    model = models.CharField(max_length=64)
    conversation = models.UUIDField(null=True, blank=True)
    # A call of the API: the key it was made with (None: the chat).
    api_key = models.ForeignKey(
        "api.ApiKey",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="usage_records",
        verbose_name="API key",
    )
    generation = models.CharField(max_length=200, blank=True, help_text="The generation's channel.")
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.RUNNING)
    prompt_estimate = models.PositiveIntegerField(default=0)
    max_tokens = models.PositiveIntegerField(default=0)
    reserved_tokens = models.PositiveIntegerField(default=0)
    prompt_tokens = models.PositiveIntegerField(default=0)
    completion_tokens = models.PositiveIntegerField(default=0)
    price_input = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal(0))
    price_output = models.DecimalField(max_digits=10, decimal_places=4, default=Decimal(0))
    cost = models.DecimalField(max_digits=12, decimal_places=6, default=Decimal(0))
    ttft_ms = models.PositiveIntegerField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(null=True, blank=True)
    upstream_id = models.CharField(max_length=100, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True, db_index=True)
    settled = models.DateTimeField(null=True, blank=True)
    # Not stored: take() gave each reply fewer tokens than asked, for lack of room left.
    shortened = False

    objects = UsageRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        indexes = [
            # Quota sums and rate limits: a person's rows since a moment.
            models.Index(fields=["user", "created"], name="usage_user_created"),
            # Concurrency limit and settling: a person's running calls, a generation's row.
            models.Index(fields=["user", "status"], name="usage_user_status"),
            models.Index(fields=["generation"], name="usage_generation"),
            # The sweep for calls whose process died: the running few among all.
            models.Index(
                fields=["created"],
                condition=models.Q(status="running"),
                name="usage_running_created",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.model} · {self.status} · {self.created:%Y-%m-%d %H:%M}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
