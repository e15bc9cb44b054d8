"""The Keys page (`/keys/`): a person makes keys for their programs, sees what each has
used, and revokes them. A new key is shown once, on the page the form leads back to.
"""

from __future__ import annotations

from datetime import datetime, time
from typing import Any

from asgiref.sync import async_to_sync
from django import forms
from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.db.models import Count, Q, Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_POST

from api.models import ApiKey
from conversations import frames
from webchat.models import ChatModel, UsageRecord, User
from webchat.quotas import month_start

NEW_KEY = "new_api_key"
REVOKED = "revoked_api_key"
# The smallest cap of a key's own: less leaves too little room for a reply (a reply needs
# webchat.quotas.MIN_REPLY_TOKENS beside its prompt).
MIN_KEY_TOKENS = 1_000
STATES = {
    "active": gettext_lazy("Active"),
    "revoked": gettext_lazy("Revoked"),
    "expired": gettext_lazy("Expired"),
}


class KeyForm(forms.Form):
    name = forms.CharField(
        label=gettext_lazy("Name"),
        max_length=100,
        help_text=gettext_lazy("What the key is for: “laptop”, “CI”."),
    )
    expires = forms.DateField(
        label=gettext_lazy("Expires"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=gettext_lazy("It stops working at the end of this day. Empty: never."),
    )
    allowed_models = forms.MultipleChoiceField(
        label=gettext_lazy("Models"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=gettext_lazy("None ticked: every model of your plan."),
    )
    tokens_per_month = forms.IntegerField(
        label=gettext_lazy("Monthly token cap"),
        required=False,
        min_value=MIN_KEY_TOKENS,
        max_value=2**31 - 1,
        # Said as the help text says it ("1,000"), not as Django's validator ("1000").
        error_messages={"min_value": gettext_lazy("At least 1,000 tokens, or empty: no cap.")},
        help_text=gettext_lazy(
            "The most this key may use in a month, within your plan: at least 1,000 tokens. "
            "Empty: no cap."
        ),
    )

    def __init__(self, *args: Any, user: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        plan = user.plan
        models = [m for m in ChatModel.objects.enabled() if plan is None or plan.allows(m)]
        self.fields["allowed_models"].choices = [
            (m.slug, f"{m.display_name} ({m.slug})") for m in models
        ]
        self.user = user

    def clean_name(self) -> str:
        return " ".join(self.cleaned_data["name"].split())

    def clean_expires(self) -> datetime | None:
        day = self.cleaned_data["expires"]
        if day is None:
            return None
        if day.year >= 2100:  # a moment every time zone can show
            raise forms.ValidationError(_("Choose a day before 2100, or none: never."))
        # The end of that day where its reader is (webchat.middleware.TimeZoneMiddleware).
        end = timezone.make_aware(datetime.combine(day, time.max))
        if end <= timezone.now():
            raise forms.ValidationError(_("Choose a day from today on."))
        return end

    def clean(self) -> dict[str, Any]:
        now = timezone.now()
        working = [k for k in self.user.api_keys.all() if k.state(now) == "active"]
        if len(working) >= settings.API_MAX_KEYS:
            raise forms.ValidationError(
                _(
                    "You have %(count)s working keys, the most one person may have. "
                    "Revoke one you no longer use."
                )
                % {"count": settings.API_MAX_KEYS}
            )
        return self.cleaned_data


def make_key(user: User, data: dict[str, Any]) -> tuple[ApiKey, str]:
    """A key from the form's `data` (also the shell's command)."""
    models = data.pop("allowed_models", ())
    key, secret = ApiKey.objects.issue(user, **data)
    if models:
        key.allowed_models.set(ChatModel.objects.filter(slug__in=models))
    return key, secret


def revoke(key: ApiKey) -> None:
    """No call starts with the key from now on, and its calls in flight stop.

    Under the lock on its person that every reservation takes first: a reservation in
    progress commits before, and its call is found and stopped with the others."""
    with transaction.atomic():
        User.objects.select_for_update().filter(pk=key.owner_id).first()
        ApiKey.objects.filter(pk=key.pk, revoked__isnull=True).update(revoked=timezone.now())
    async_to_sync(frames.stop)(UsageRecord.objects.api_channels(api_key=key))


def _page(request: HttpRequest, form: KeyForm, secret: str = "", status: int = 200) -> HttpResponse:
    user = request.user
    since = month_start(timezone.now())
    keys = list(user.api_keys.prefetch_related("allowed_models"))
    this_month = Q(usage_records__created__gte=since)
    used = {
        row["pk"]: row
        for row in user.api_keys.values("pk").annotate(
            requests=Count("usage_records", filter=this_month),
            prompt=Sum("usage_records__prompt_tokens", filter=this_month),
            completion=Sum("usage_records__completion_tokens", filter=this_month),
        )
    }
    now = timezone.now()
    rows = [
        {
            "key": key,
            "state": key.state(now),
            "state_label": STATES.get(key.state(now), key.state(now)),
            "models": [m.display_name for m in key.allowed_models.all()],
            "requests": used[key.pk]["requests"],
            "tokens": (used[key.pk]["prompt"] or 0) + (used[key.pk]["completion"] or 0),
        }
        for key in keys
    ]
    # The example uses a model the new key may use: its first, or the plan's.
    newest = rows[0]["key"] if rows else None
    listed = list(newest.allowed_models.all()) if newest is not None else []
    plan_first = next(iter(form.fields["allowed_models"].choices), ("grok-3", ""))[0]
    context = {
        "form": form,
        "create_url": reverse("keys") + "#create",
        "rows": rows,
        "secret": secret,
        "revoked": request.session.pop(REVOKED, ""),
        "base_url": request.build_absolute_uri("/v1"),
        "example_model": listed[0].slug if listed else plan_first,
        "time_zone": settings.TIME_ZONE,
    }
    return render(request, "account/keys.html", context, status=status)


@never_cache
@login_required
def keys(request: HttpRequest) -> HttpResponse:
    """The person's keys (GET); a new key (POST), then shown once."""
    user = request.user
    if request.method != "POST":
        # A new key is kept in the session only until this page shows it, once.
        return _page(request, KeyForm(user=user), secret=request.session.pop(NEW_KEY, ""))
    form = KeyForm(request.POST, user=user)
    if not form.is_valid():
        return _page(request, form, status=400)
    _, request.session[NEW_KEY] = make_key(user, dict(form.cleaned_data))
    # To the new key, not to the form (#create, whose fragment the redirect would keep).
    return redirect(reverse("keys") + "#new")


@require_POST
@login_required
def revoke_view(request: HttpRequest, id: int) -> HttpResponse:
    key = get_object_or_404(request.user.api_keys, pk=id)
    revoke(key)
    request.session[REVOKED] = key.name
    return redirect("keys")
