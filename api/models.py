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
from datetime import UTC, datetime
from typing import Any

from django.db import connections, models
from django.utils import timezone

from webchat import sql
from webchat.errors import QuotaError, Unauthorized
from webchat.models import ChatModel, User

# "wc-", 12 hex digits to look the key up by, "-", 43 characters of secret.
KEY = re.compile(r"wc-([0-9a-f]{12})-[A-Za-z0-9_-]{43}")


_FIND_SQL = """
    SELECT k.*, u.is_active AS owner_active, u.plan_id AS owner_plan_id
    FROM api_apikey k JOIN webchat_user u ON u.id = k.owner_id
    WHERE k.prefix = %s
"""


# The key's state, what it used since a moment (as the ledger counts: a running call at its
# reservation), and whether it may use a model: for ApiKey.room(), in one query.
_ROOM_SQL = """
    SELECT k.revoked, k.expires, k.tokens_per_month,
        (SELECT SUM(CASE WHEN r.status = 'running' THEN r.reserved_tokens
                    ELSE r.prompt_tokens + r.completion_tokens END)
         FROM webchat_usagerecord r WHERE r.api_key_id = k.id AND r.created >= %s),
        (SELECT COUNT(*) FROM api_apikey_allowed_models m WHERE m.apikey_id = k.id),
        (SELECT COUNT(*) FROM api_apikey_allowed_models m
         WHERE m.apikey_id = k.id AND m.chatmodel_id = %s)
    FROM api_apikey k WHERE k.id = %s
"""


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
        """The key's row, whatever its state, when the whole key matches; else None. With
        it, its person's `owner_active` and `owner_plan_id`.

        Written out in SQL: it runs before every call, and the ORM's join of three models
        cost seven times the query."""
        match = KEY.fullmatch(key)
        if match is None:
            return None
        rows = sql.select(self.model, _FIND_SQL, [match.group(1)], using=self.db)
        row = rows[0] if rows else None
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

    def room(self, chat_model: ChatModel, since: datetime, now: datetime) -> int | None:
        """What the key's own cap leaves since `since` (None: no cap of its own), or
        Unauthorized (revoked or expired meanwhile) or a QuotaError (a model it may not
        use). Read afresh, inside the ledger's reservation (UsageRecord.objects.reserve)."""
        connection = connections[self._state.db or "default"]
        adapt = connection.ops.adapt_datetimefield_value
        with connection.cursor() as cursor:
            cursor.execute(_ROOM_SQL, [adapt(since), chat_model.pk, self.pk])
            revoked, expires, cap, used, listed, allowed = cursor.fetchone()
        if revoked is not None:
            raise Unauthorized("This API key is revoked.")
        if expires is not None and _datetime(connection, expires) <= now:
            raise Unauthorized("This API key is expired.")
        if listed and not allowed:
            raise QuotaError(f"This key may not use {chat_model}.", code="model_unavailable")
        return None if cap is None else cap - int(used or 0)

    def allows(self, chat_model: ChatModel) -> bool:
        allowed = set(self.allowed_models.values_list("pk", flat=True))
        return not allowed or chat_model.pk in allowed


def _datetime(connection: Any, value: Any) -> datetime:
    """A timestamp column read by raw SQL, as Django reads it (SQLite gives text)."""
    if isinstance(value, datetime):
        return value if timezone.is_aware(value) else timezone.make_aware(value, UTC)
    return timezone.make_aware(datetime.fromisoformat(value), UTC)
