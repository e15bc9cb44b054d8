"""Keys a person's programs call the API with (/v1/), under the person's plan.

A key is shown once, when it is made, and kept only as its SHA-256: it is 256 random bits,
so a plain hash is as strong as a slow one and costs microseconds per call. Its first 12
hex digits, stored apart, find its row.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone

from webchat.models import ChatModel, User

# "wc-", 12 hex digits to look the key up by, "-", 43 characters of secret.
KEY = re.compile(r"wc-([0-9a-f]{12})-[A-Za-z0-9_-]{43}")


def _digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


class ApiKeyQuerySet(models.QuerySet["ApiKey"]):
    def issue(self, owner: User, name: str, **fields: Any) -> tuple[ApiKey, str]:
        """A new key for `owner`: its row, and the key itself (to show once)."""
        prefix = secrets.token_hex(6)
        key = f"wc-{prefix}-{secrets.token_urlsafe(32)}"
        row = self.create(owner=owner, name=name, prefix=prefix, digest=_digest(key), **fields)
        return row, key

    def find(self, key: str) -> ApiKey | None:
        """The key's row, whatever its state, when the whole key matches; else None."""
        match = KEY.fullmatch(key)
        if match is None:
            return None
        row = self.select_related("owner__plan").filter(prefix=match.group(1)).first()
        if row is None or not hmac.compare_digest(row.digest, _digest(key)):
            return None
        return row


class ApiKey(models.Model):
    owner = models.ForeignKey(User, on_delete=models.CASCADE, related_name="api_keys")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, unique=True, editable=False)
    digest = models.CharField(max_length=64, editable=False, help_text="SHA-256 of the key.")
    created = models.DateTimeField(auto_now_add=True)
    expires = models.DateTimeField(null=True, blank=True, help_text="Empty: never.")
    last_used = models.DateTimeField(null=True, blank=True, editable=False)
    revoked = models.DateTimeField(null=True, blank=True, editable=False)
    allowed_models = models.ManyToManyField(
        ChatModel, blank=True, help_text="None selected: every model of the person's plan."
    )
    tokens_per_month = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="The key's own monthly cap, within the plan's; empty: the plan's alone.",
    )

    objects = ApiKeyQuerySet.as_manager()

    class Meta:
        ordering = ["-created"]
        verbose_name = "API key"

    def __str__(self) -> str:
        return f"{self.name} ({self.shown})"

    @property
    def shown(self) -> str:
        """The part of the key that may be shown again: enough to tell keys apart."""
        return f"wc-{self.prefix}-…"

    def state(self, now: datetime | None = None) -> str:
        if self.revoked is not None:
            return "revoked"
        if self.expires is not None and self.expires <= (now or timezone.now()):
            return "expired"
        return "active"

    def allows(self, chat_model: ChatModel) -> bool:
        allowed = self.allowed_models.all()
        return not allowed.exists() or allowed.filter(pk=chat_model.pk).exists()
