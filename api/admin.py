"""Keys in the admin: every person's, listed and revoked (a key is made by its person or
from the shell: its secret is shown only to whoever makes it)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy, ngettext

from api.keys import revoke
from api.models import ApiKey
from webchat.admin import Fitted


@admin.register(ApiKey)
class ApiKeyAdmin(Fitted, admin.ModelAdmin):
    list_display = ("name", "owner", "shown", "created", "last_used", "expires", "state")
    list_filter = ("revoked", "expires")
    search_fields = ("name", "owner__username", "prefix")
    list_select_related = ("owner",)
    readonly_fields = ("owner", "prefix", "created", "last_used", "revoked")
    fields = (
        "owner",
        "name",
        "prefix",
        "created",
        "last_used",
        "expires",
        "revoked",
        "allowed_models",
        "tokens_per_month",
    )
    filter_horizontal = ("allowed_models",)
    actions = ("revoke_selected",)

    @admin.display(description=gettext_lazy("key"))
    def shown(self, key: ApiKey) -> str:
        return key.shown

    @admin.display(description=gettext_lazy("state"))
    def state(self, key: ApiKey) -> str:
        return key.state()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoked instead: its calls in flight stop, and the ledger keeps naming it.
        return False

    @admin.action(description=gettext_lazy("Revoke selected keys (their calls in flight stop)"))
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[ApiKey]) -> None:
        keys = list(queryset.filter(revoked__isnull=True))
        for key in keys:
            revoke(key)
        done = ngettext("Revoked %(count)s key.", "Revoked %(count)s keys.", len(keys))
        self.message_user(request, done % {"count": len(keys)}, messages.SUCCESS)
