import csv
import json
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.db import models
from django.db.models import Count, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect, StreamingHttpResponse
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.translation import gettext, gettext_lazy

from webchat import query
from webchat.dashboard import bar_chart
from webchat.models import ChatModel, Plan, SiteSettings, UsageRecord, User
from webchat.quotas import day_start
from webchat.text import problem


class AsciiJSONField(forms.JSONField):
    """Shows JSON with escapes: a value refused for a lone surrogate goes back to the form
    as "\\ud800", which a page can hold."""

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, forms.fields.InvalidJSONInput):
            return value
        return json.dumps(value, cls=self.encoder)


class Fitted:
    """Its list's columns fit a laptop's width, its number fields their numbers
    (static/css/admin.css)."""

    class Media:
        css = {"all": ("css/admin.css",)}


class StorableText(Fitted):
    """Admin forms refuse text that can't be stored (NUL, a lone surrogate, say in a JSON
    field) with the field's error, before the save would."""

    formfield_overrides = {models.JSONField: {"form_class": AsciiJSONField}}

    def get_form(self, request: HttpRequest, obj: Any = None, **kwargs: Any) -> Any:
        form = super().get_form(request, obj, **kwargs)

        class Checked(form):
            def clean(self) -> dict[str, Any]:
                cleaned = super().clean()
                for name, value in list(cleaned.items()):
                    found = problem(value)
                    if found:
                        self.add_error(name, found)
                return cleaned

        return Checked


@admin.register(User)
class UserAdmin(StorableText, BaseUserAdmin):
    list_display = (
        "username",
        "email",
        "plan",
        "bonus_tokens",
        "is_active",
        "is_staff",
        "date_joined",
    )
    list_filter = ("plan", "is_active", "is_staff", "is_superuser")
    list_select_related = ("plan",)
    fieldsets = (
        *BaseUserAdmin.fieldsets,
        ("Plan and quota", {"fields": ("plan", "bonus_tokens")}),
    )


@admin.register(ChatModel)
class ChatModelAdmin(StorableText, admin.ModelAdmin):
    # The upstream's id is on each model's page (and searched): the list fits a laptop.
    list_display = (
        "slug",
        "display_name",
        "enabled",
        "position",
        "context_window",
        "max_output_tokens",
        "prices",
    )
    list_editable = ("enabled", "position")
    list_filter = ("enabled", "supports_reasoning", "supports_vision")
    search_fields = ("slug", "display_name", "upstream_id")
    # Learned from the upstream's counts (conversations/context.py), not set by hand.
    readonly_fields = ("prompt_ratio",)

    @admin.display(description=gettext_lazy("USD per million tokens, in / out"))
    def prices(self, model: ChatModel) -> str:
        return f"{model.price_input.normalize():f} / {model.price_output.normalize():f}"


@admin.register(Plan)
class PlanAdmin(StorableText, admin.ModelAdmin):
    list_display = (
        "name",
        "is_default",
        "tokens_per_day",
        "tokens_per_month",
        "requests_per_minute",
        "concurrent_generations",
        "max_tokens_cap",
        "storage_mb",
        "user_count",
    )
    filter_horizontal = ("allowed_models",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Plan]:
        return super().get_queryset(request).annotate(_users=Count("users"))

    @admin.display(description=gettext_lazy("users"), ordering="_users")
    def user_count(self, plan: Plan) -> int:
        return plan._users


@admin.register(SiteSettings)
class SiteSettingsAdmin(admin.ModelAdmin):
    """One row: the list leads straight to it."""

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        row = SiteSettings.current()
        return HttpResponseRedirect(reverse("admin:webchat_sitesettings_change", args=[row.pk]))

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_object(self, request: HttpRequest, object_id: str, from_field: Any = None) -> Any:
        return SiteSettings.current() if str(object_id) == "1" else None


CSV_FIELDS = (
    "created", "user", "model", "status", "prompt_tokens", "completion_tokens", "reserved_tokens",
    "cost", "ttft_ms", "duration_ms", "error_code", "upstream_id", "conversation", "api_key",
)  # fmt: skip


class _Echo:
    def write(self, value: str) -> str:
        return value


class DashboardQuery(query.QueryForm):
    days = forms.IntegerField(required=False, min_value=1, max_value=366)


@admin.register(UsageRecord)
class UsageRecordAdmin(Fitted, admin.ModelAdmin):
    """The ledger: read-only, filterable, exportable, with a dashboard."""

    # Pairs share a column (each is on the row's page and in the CSV): the list fits a laptop.
    list_display = (
        "created",
        "who",
        "model",
        "status",
        "tokens",
        "cost",
        "timing",
        "error_code",
    )
    list_filter = (
        "status",
        "model",
        ("api_key", admin.EmptyFieldListFilter),
        ("created", admin.DateFieldListFilter),
        "user__plan",
        "error_code",
    )
    search_fields = ("user__username", "model", "upstream_id", "error_code")
    date_hierarchy = "created"
    list_select_related = ("user", "api_key")
    actions = ("export_selected",)
    change_list_template = "admin/webchat/usagerecord/change_list.html"

    @admin.display(description=gettext_lazy("user (API key)"), ordering="user__username")
    def who(self, record: UsageRecord) -> str:
        name = record.user.username if record.user else gettext("(deleted)")
        return f"{name} ({record.api_key.name})" if record.api_key else name

    @admin.display(description=gettext_lazy("tokens, prompt + completion"))
    def tokens(self, record: UsageRecord) -> str:
        return f"{record.prompt_tokens:,} + {record.completion_tokens:,}"

    @admin.display(description=gettext_lazy("ms, first word / all"))
    def timing(self, record: UsageRecord) -> str:
        return " / ".join(
            "-" if ms is None else f"{ms:,}" for ms in (record.ttft_ms, record.duration_ms)
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def get_urls(self) -> list[Any]:
        return [
            path(
                "dashboard/",
                self.admin_site.admin_view(self.dashboard),
                name="webchat_usage_dashboard",
            ),
            path(
                "export.csv", self.admin_site.admin_view(self.export), name="webchat_usage_export"
            ),
            *super().get_urls(),
        ]

    @admin.action(description=gettext_lazy("Export selected rows as CSV"))
    def export_selected(
        self, request: HttpRequest, queryset: QuerySet[UsageRecord]
    ) -> HttpResponse:
        return _csv(queryset)

    def export(self, request: HttpRequest) -> HttpResponse:
        """The ledger as CSV, with the filters of the list applied."""
        if not self.has_view_permission(request):
            return HttpResponse(status=403)
        changelist = self.get_changelist_instance(request)
        return _csv(changelist.get_queryset(request))

    def dashboard(self, request: HttpRequest) -> HttpResponse:
        days = query.parse(DashboardQuery, request)["days"] or 30
        since = day_start(timezone.now()) - timedelta(days=days - 1)
        rows = UsageRecord.objects.filter(created__gte=since)
        per_day = list(
            rows.annotate(day=TruncDate("created", tzinfo=timezone.get_default_timezone()))
            .values("day", "model")
            .annotate(
                prompt=Sum("prompt_tokens"), completion=Sum("completion_tokens"), cost=Sum("cost")
            )
            .order_by("day", "model")
        )
        dates = [(since + timedelta(days=i)).date() for i in range(days)]
        tokens = {
            (r["day"], r["model"]): (r["prompt"] or 0) + (r["completion"] or 0) for r in per_day
        }
        costs = {(r["day"], r["model"]): float(r["cost"] or 0) for r in per_day}
        names = ChatModel.objects.names(r["model"] for r in per_day)
        totals = rows.aggregate(
            requests=Count("id"),
            prompt=Sum("prompt_tokens"),
            completion=Sum("completion_tokens"),
            cost=Sum("cost"),
            errors=Count("id", filter=~Q(error_code="")),
        )
        totals["tokens"] = (totals["prompt"] or 0) + (totals["completion"] or 0)
        top_users = (
            rows.values("user__username")
            .annotate(
                requests=Count("id"),
                tokens=Sum("prompt_tokens") + Sum("completion_tokens"),
                cost=Sum("cost"),
            )
            .order_by("-tokens")[:10]
        )
        per_key = sorted(
            UsageRecord.objects.per_key(since),
            key=lambda r: -((r["prompt"] or 0) + (r["completion"] or 0)),
        )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Usage dashboard"),
            "per_key": per_key[:20],
            "opts": self.model._meta,
            "days": days,
            "since": since,
            "totals": totals,
            "top_users": top_users,
            "token_chart": bar_chart(dates, tokens, "tokens", names),
            "cost_chart": bar_chart(dates, costs, "USD", names),
        }
        return TemplateResponse(request, "admin/webchat/usage_dashboard.html", context)


# A cell a spreadsheet would take for a formula (a key's name, say, chosen by its owner).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A value as a spreadsheet shows it: text that starts like a formula is quoted."""
    if value is None or isinstance(value, (int, float, Decimal)):
        return value
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_START) else text


def _csv(queryset: QuerySet[UsageRecord]) -> StreamingHttpResponse:
    writer = csv.writer(_Echo())
    rows = queryset.select_related("user", "api_key").order_by("created").iterator()

    def lines() -> Any:
        yield writer.writerow(CSV_FIELDS)
        for record in rows:
            values = [getattr(record, field) for field in CSV_FIELDS]
            values[1] = record.user.username if record.user else ""
            yield writer.writerow([_cell(value) for value in values])

    response = StreamingHttpResponse(lines(), content_type="text/csv")
    response["Content-Disposition"] = 'attachment; filename="usage.csv"'
    return response


# The admin names the site it manages, not the framework it is made with.
admin.site.site_header = admin.site.site_title = gettext_lazy("webchat administration")
admin.site.index_title = gettext_lazy("Models, plans and people")
