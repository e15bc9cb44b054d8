from decimal import Decimal
from typing import Any

from django.contrib.auth.models import AbstractUser
from django.db import models


class User(AbstractUser):
    """A person who chats. The first account ever created administers the site."""

    class Meta(AbstractUser.Meta):
        swappable = "AUTH_USER_MODEL"
        ordering = ["username"]

    def save(self, *args: Any, **kwargs: Any) -> None:
        # So a newcomer reaches /admin/ without a shell: whoever signs up first owns the site.
        if self._state.adding and not User.objects.exists():
            self.is_staff = True
            self.is_superuser = True
        super().save(*args, **kwargs)


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
