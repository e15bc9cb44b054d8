from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models

from webchat.quotas import UsageRecordQuerySet


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
        allowed = self.allowed_models.all()
        return not allowed.exists() or allowed.filter(pk=chat_model.pk).exists()


class User(AbstractUser):
    """A person who chats. The first account ever created administers the site."""

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

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self._state.adding:
            # So a newcomer reaches /admin/ without a shell: whoever signs up first owns the site.
            if not User.objects.exists():
                self.is_staff = True
                self.is_superuser = True
            if self.plan_id is None:
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
        from django.conf import settings

        row, _ = cls.objects.get_or_create(pk=1, defaults={"signup_open": settings.SIGNUP_OPEN})
        return row


class ChatModelQuerySet(models.QuerySet["ChatModel"]):
    def enabled(self) -> "ChatModelQuerySet":
        return self.filter(enabled=True)


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

    objects = ChatModelQuerySet.as_manager()

    class Meta:
        ordering = ["position", "slug"]

    def __str__(self) -> str:
        return self.display_name

    @property
    def default_params_json(self) -> str:
        import json

        return json.dumps(self.default_params or {})


class UsageRecord(models.Model):
    """One upstream call: reserved before it, settled after it. Quotas are sums over these."""

    class Status(models.TextChoices):
        RUNNING = "running"
        COMPLETE = "complete"
        STOPPED = "stopped"
        ERROR = "error"
        INTERRUPTED = "interrupted"

    user = models.ForeignKey(
        User, null=True, on_delete=models.SET_NULL, related_name="usage_records"
    )
    model = models.CharField(max_length=64)
    conversation = models.UUIDField(null=True, blank=True)
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

    objects = UsageRecordQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        indexes = [
            # Quota sums and rate limits: a person's rows since a moment.
            models.Index(fields=["user", "created"], name="usage_user_created"),
            # Concurrency limit and settling: a person's running calls, a generation's row.
            models.Index(fields=["user", "status"], name="usage_user_status"),
            models.Index(fields=["generation"], name="usage_generation"),
        ]

    def __str__(self) -> str:
        return f"{self.model} · {self.status} · {self.created:%Y-%m-%d %H:%M}"

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens
